"""Generates the gRPC stubs into docgate/_pb/ while the package is built.

The stubs are never committed: `protoc` and Debian's `grpc_python_plugin` make them
from ../../proto (or $DOCGATE_PROTO_DIR) into the build directory. The generated
modules import each other as top-level `docgate.v1` and `health_pb2`; they are
rewritten to import from `docgate._pb`, so that nothing clashes with this package's
own name or with grpcio.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTOS = [("docgate/v1/docgate.proto", "."), ("health.proto", "grpc/health/v1")]


def proto_dir():
    folder = Path(os.environ.get("DOCGATE_PROTO_DIR", HERE.parent.parent / "proto"))
    if not (folder / "docgate/v1/docgate.proto").is_file():
        raise SystemExit(f"docgate: no docgate/v1/docgate.proto under {folder}; set DOCGATE_PROTO_DIR")
    return folder


def tool(name, *fallbacks):
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit(f"docgate: {name} is needed to build the stubs (apt-get install protobuf-compiler-grpc)")


def generate(out):
    protoc = tool("protoc")
    plugin = tool("grpc_python_plugin", "/usr/bin/grpc_python_plugin")
    root = proto_dir()
    scratch = out / "_gen"
    scratch.mkdir(parents=True, exist_ok=True)
    for proto, include in PROTOS:
        subprocess.run([protoc, f"--proto_path={root / include}", f"--python_out={scratch}",
                        f"--grpc_python_out={scratch}", f"--plugin=protoc-gen-grpc_python={plugin}", proto],
                       check=True)
    for made in scratch.rglob("*_pb2*.py"):
        text = made.read_text()
        text = re.sub(r"^from docgate\.v1 import ", "from docgate._pb import ", text, flags=re.M)
        text = re.sub(r"^import (health_pb2) as ", r"from docgate._pb import \1 as ", text, flags=re.M)
        (out / made.name).write_text(text)
    shutil.rmtree(scratch)


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate(Path(self.build_lib) / "docgate" / "_pb")


setup(cmdclass={"build_py": BuildWithStubs})
