"""The Dockerfile, checked as far as a machine without a Docker engine allows."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stages():
    """{stage name: [instruction lines]} of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    result, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if match:
            current = match.group(2) or match.group(1)
            result[current] = [line]
        else:
            result[current].append(line)
    return result


def apt_installed(instructions):
    packages = set()
    for line in instructions:
        for command in line.split("&&"):
            words = command.split()
            if "apt-get" in words and "install" in words:
                packages |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return packages


def shared_library_packages(binary):
    """The Debian packages that provide every shared library `binary` loads (ldd)."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libraries = {m.group(1) for m in re.finditer(r"=>\s+(/\S+)", out)}
    candidates = sorted(libraries | {os.path.realpath(lib) for lib in libraries})
    # One dpkg -S for all (it is slow to start); it fails for paths no package owns.
    owners = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True).stdout
    owner_of = {}
    for line in owners.splitlines():
        package, path = line.split(": ", 1)
        owner_of[path] = package.split(":", 1)[0]
    packages = set()
    for lib in libraries:
        found = owner_of.get(lib) or owner_of.get(os.path.realpath(lib))
        assert found, f"no Debian package provides {lib}"
        packages.add(found)
    return packages


def test_runtime_stage_installs_exactly_the_packages_of_docgates_shared_libraries(docgate_bin):
    docgatectl = Path(docgate_bin).parents[1] / "client" / "cpp" / "docgatectl"
    needed = shared_library_packages(docgate_bin) | shared_library_packages(str(docgatectl))
    # A sanitizer build (scripts/dev test --sanitize) also loads the sanitizer
    # runtimes; the image is built without sanitizers.
    needed = {p for p in needed if not re.fullmatch(r"lib(asan|ubsan|lsan|tsan)\d+", p)}
    runtime = stages()["runtime"]
    installed = apt_installed(runtime)
    assert installed == needed, (f"missing from the Dockerfile: {sorted(needed - installed)}; "
                                 f"not needed: {sorted(installed - needed)}")


def test_runtime_stage_is_slim_non_root_and_carries_no_secrets():
    all_stages = stages()
    runtime = all_stages["runtime"]
    assert runtime[0].split()[1] == "debian:bookworm-slim"
    user = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert user and re.fullmatch(r"[1-9]\d*:[1-9]\d*", user[-1]), "a numeric, non-root user and group"
    copied = [line for line in runtime if line.upper().startswith(("COPY", "ADD"))]
    assert all("--from=build" in line for line in copied), "the runtime stage takes only built binaries"
    for stage in all_stages.values():
        for line in stage:
            assert not re.search(r"(?i)(password|secret|token)\s*=", line), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", "build", "build-*"} <= set(ignored)


def test_build_stage_runs_the_build_command_of_readme_and_ci():
    build = stages()["build"]
    assert build[0].split()[1].startswith("debian:bookworm")
    runs = [line[len("RUN "):].strip() for line in build if line.upper().startswith("RUN ")]
    assert runs == ["scripts/dev build"], runs
    # CI runs the README's test command, and that command builds with the same function.
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "exec scripts/dev test"
    readme = (ROOT / "README.md").read_text()
    assert "scripts/dev test" in readme and "scripts/dev build" in readme
    dev = (ROOT / "scripts" / "dev").read_text()
    assert re.search(r"^\s*build\) shift; deps; build \"\$@\" ;;", dev, re.M), "scripts/dev build = deps + build"
    test_all = dev[dev.index("test_all() {"):]
    assert re.search(r"^\s*deps\n\s*build \"\$@\"", test_all, re.M), "scripts/dev test = deps + the same build"
