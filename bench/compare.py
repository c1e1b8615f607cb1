#!/usr/bin/python3
"""docgate against what workers do without it, in one run on one machine.

For each scenario (GetDocument on a warm set, CreateDocument with a 1 KiB body, an
80/20 mix) and each concurrency, the same load generator (bench/loadgen) drives:

  docgate     the async gRPC stub against docgate (pool of --pool-max connections)
  direct      libpq, one connection per client, prepared statements
  pgbouncer   the same libpq client through PgBouncer in transaction mode with a pool
              of --pool-max (unnamed statements: PgBouncer 1.18 cannot keep named
              ones in transaction mode)
  pgbench     pgbench -M prepared with the same statements (bench/sql/)
  floor       bench/grpc_floor: GetDocument and CreateDocument answered at once, with
              responses the size of docgate's, no database: what gRPC alone costs
              here, the most any gRPC service could do on this machine (started
              only for its own cells)

While each runs, pg_stat_activity is sampled every second (client connections by
application_name and state); CPU time of postgres (postmaster and every backend),
docgate, PgBouncer, grpc_floor and the load generator is read at both ends of the measurement
window and reported per operation. Prints one table per scenario, with ratios.

    scripts/dev build && bench/compare.py                 # the full matrix (~10 min)
    bench/compare.py --scenarios get --concurrency 64     # one cell
    bench/compare.py --smoke                              # every program, briefly (CI)

Everything runs on loopback: its own durable PostgreSQL cluster (fsync on), docgate
and PgBouncer, all started and stopped here.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import free_port, terminate, wait_for  # noqa: E402

TARGETS = ("docgate", "direct", "pgbouncer", "pgbench", "floor")


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def as_postgres(argv):
    """PostgreSQL and PgBouncer refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class Cluster:
    def __init__(self, folder):
        self.folder = folder
        self.script = str(ROOT / "scripts" / "pg-cluster")
        out = subprocess.run([self.script, "start", folder], check=True, capture_output=True, text=True,
                             env={**os.environ, "PG_CLUSTER_DURABLE": "1"}).stdout
        self.vars = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.port = int(self.vars["PGPORT"])
        self.url = self.vars["DOCGATE_TEST_DATABASE_URL"]
        self.socket = os.path.join(folder, "socket")
        with open(os.path.join(folder, "data", "postmaster.pid")) as f:
            self.postmaster = int(f.readline())

    def psql(self, sql):
        psql = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1])
        return subprocess.run(as_postgres([str(psql), "-h", self.socket, "-p", str(self.port), "-U", "postgres",
                                           "-d", "docgate", "-AtF", "\t", "-c", sql]),
                              check=True, capture_output=True, text=True, cwd="/").stdout

    def stop(self):
        subprocess.run([self.script, "stop", self.folder, "--immediate"], check=False)


class Process:
    """A server we start, wait for on its port, and stop by PID."""

    def __init__(self, argv, port, env=None, what="server"):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd="/",
                                     preexec_fn=raise_fd_limit)
        self.pid = self.proc.pid
        wait_for(lambda: port_open(port) or self.proc.poll() is not None, 30, what)
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise SystemExit(f"compare: {what} exited: {self.log.read().decode(errors='replace')[-2000:]}")

    def stop(self):
        terminate(self.proc)


def raise_fd_limit():
    """1,024 clients need more descriptors than the usual soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))


def start_pgbouncer(cluster, pool_max, folder):
    port = free_port()
    os.makedirs(folder, exist_ok=True)
    conf = Path(folder) / "pgbouncer.ini"
    users = Path(folder) / "userlist.txt"
    password = cluster.url.split(":")[2].split("@")[0]
    users.write_text(f'"docgate" "{password}"\n')
    conf.write_text(f"""[databases]
docgate = host=127.0.0.1 port={cluster.port} dbname=docgate
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = {pool_max}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 4096
max_db_connections = {pool_max}
logfile = {folder}/pgbouncer.log
""")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        for f in (conf, users):
            shutil.chown(f, "postgres")
    # runuser's PAM session resets the descriptor limit to 1,024, and PgBouncer needs
    # one per client: raise it inside.
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    proc = Process(as_postgres(["sh", "-c", f'ulimit -n "$(ulimit -Hn)" && exec {binary} {conf}']), port,
                   what="pgbouncer")
    if os.geteuid() == 0:  # runuser forks: the PID to watch is PgBouncer's own
        wait_for(lambda: subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True).returncode == 0,
                 10, "pgbouncer's pid")
        proc.cpu_pid = int(subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                          text=True).stdout.split()[0])
    else:
        proc.cpu_pid = proc.pid
    proc.port = port
    return proc


def start_docgate(binary, cluster, pool_max):
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": cluster.url}
    proc = Process([binary, f"--listen=127.0.0.1:{port}", "--metrics-listen=", f"--pool-max={pool_max}",
                    f"--pool-min-idle={pool_max}", "--log-level=warn"], port, env=env, what="docgate")
    proc.cpu_pid = proc.pid
    proc.port = port
    return proc


class ActivitySampler:
    """pg_stat_activity every second: the most client connections seen at once, in
    all and by application_name (docgate's own are "docgate", the baselines' are
    "bench-<target>"), with their states at that application's peak."""

    def __init__(self, cluster):
        self.cluster, self.peak, self.by_app, self.states = cluster, 0, {}, {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        interval = 0.5  # the first look comes early: a short run still gets one
        while not self.stopping.wait(interval):
            interval = 1.0
            try:
                rows = self.cluster.psql("SELECT coalesce(application_name, ''), coalesce(state, ''), count(*)"
                                         " FROM pg_stat_activity WHERE backend_type = 'client backend'"
                                         " AND datname = 'docgate' GROUP BY 1, 2")
            except subprocess.CalledProcessError:
                continue  # too many clients: the baseline took every slot
            states = {}
            for app, state, n in (line.split("\t") for line in rows.splitlines()):
                states.setdefault(app, {})[state or "-"] = int(n)
            self.peak = max(self.peak, sum(sum(by_state.values()) for by_state in states.values()))
            for app, by_state in states.items():
                if sum(by_state.values()) >= self.by_app.get(app, 0):
                    self.by_app[app], self.states[app] = sum(by_state.values()), by_state

    def stop(self, app):
        """The peaks: all client connections, those of `app`, and their states then."""
        self.stopping.set()
        self.thread.join()
        return self.peak, self.by_app.get(app, 0), self.states.get(app, {})


def proc_cpu(pid, tree=False):
    """CPU seconds of a process (with `tree`: and its children, live or reaped)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick

    try:
        _, own, reaped = stat(pid)
    except OSError:
        return 0.0
    if not tree:
        return own
    total = own + reaped
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid, child, _ = stat(int(entry))
            except (OSError, IndexError):
                continue
            if ppid == pid:
                total += child
    return total


def wait_for_quiet(cluster):
    """The previous cell's connections gone, so that its backends neither hold slots
    nor exit (and move CPU time about) inside this cell's window. PgBouncer's server
    connections stay, by design: they are its pool."""
    wait_for(lambda: cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'bench-%'"
                                  " AND application_name <> 'bench-pgbouncer'").strip() == "0", 60, "idle database")


def zombie_children(pid):
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] == "Z":
                zombies.append(int(entry))
    return zombies


def start_floor(binary):
    port = free_port()
    proc = Process([binary, "--api", "callback", "--port", str(port)], port, what="grpc_floor")
    proc.cpu_pid = proc.pid
    proc.port = port
    return proc


def run_loadgen(args, cluster, target, scenario, concurrency, docgate, pgbouncer, floor=None):
    cmd = [args.loadgen, "--scenario", scenario, "--concurrency", str(concurrency), "--duration", str(args.duration),
           "--warmup", str(args.warmup), "--warm-set", str(args.warm_set),
           "--cpu", f"postgres:{cluster.postmaster}:tree"]
    if args.rate > 0:
        cmd += ["--rate", str(args.rate)]
    # A client that cannot connect in 10 s counts as an error, rather than hang the run.
    app = ("&" if "?" in cluster.url else "?") + f"application_name=bench-{target}&connect_timeout=10"
    if target == "docgate":
        cmd += ["--target", "docgate", "--addr", f"127.0.0.1:{docgate.port}", "--cpu", f"docgate:{docgate.cpu_pid}"]
    elif target == "floor":
        cmd += ["--target", "docgate", "--addr", f"127.0.0.1:{floor.port}", "--cpu", f"floor:{floor.cpu_pid}"]
    elif target == "direct":
        cmd += ["--target", "libpq", "--dsn", cluster.url + app]
    else:
        url = re.sub(r"@127\.0\.0\.1:\d+/", f"@127.0.0.1:{pgbouncer.port}/", cluster.url) + app
        cmd += ["--target", "libpq", "--unprepared", "--dsn", url, "--cpu", f"pgbouncer:{pgbouncer.cpu_pid}"]
    sampler = ActivitySampler(cluster)
    out = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=raise_fd_limit,
                         timeout=args.duration + args.warmup + 300)
    peak, own, states = sampler.stop("docgate" if target == "docgate" else f"bench-{target}")
    if out.returncode != 0:
        return {"failed": out.stderr.strip()[-300:] or f"exit {out.returncode}", "pg_connections": own}
    result = json.loads(out.stdout)
    result.update(pg_connections=own, pg_states=states, pg_connections_all=peak)
    return result


def run_pgbench(args, cluster, scenario, concurrency):
    pgbench = str(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))[-1])
    sql = ROOT / "bench" / "sql"
    scripts = {"get": ["-f", f"{sql}/get.sql"], "create": ["-f", f"{sql}/create.sql"],
               "mix": ["-f", f"{sql}/get.sql@80", "-f", f"{sql}/create.sql@20"]}[scenario]
    password = cluster.url.split(":")[2].split("@")[0]
    cmd = [pgbench, "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "docgate",
           "-c", str(concurrency), "-j", str(min(concurrency, 2)), "-T", str(max(1, round(args.duration))),
           *(["-R", str(args.rate)] if args.rate > 0 else []),
           "-D", f"warm={args.warm_set}", *scripts, "docgate"]
    env = {**os.environ, "PGPASSWORD": password, "PGAPPNAME": "bench-pgbench"}
    sampler = ActivitySampler(cluster)
    pg_before = proc_cpu(cluster.postmaster, tree=True)
    import resource
    self_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, preexec_fn=raise_fd_limit,
                         timeout=args.duration + 300)
    self_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # pgbench's backends exit after it does; their CPU time shows again once reaped.
    wait_for_quiet(cluster)
    wait_for(lambda: not zombie_children(cluster.postmaster), 10, "backends reaped")
    pg_used = proc_cpu(cluster.postmaster, tree=True) - pg_before
    peak, own, states = sampler.stop("bench-pgbench")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or tps is None:
        reason = [line for line in (out.stderr + out.stdout).splitlines() if "error" in line.lower() or "FATAL" in line]
        return {"failed": (reason[0] if reason else f"exit {out.returncode}")[:200], "pg_connections": own}
    done = max(1, int(processed.group(1)))
    client_cpu = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    return {"throughput": float(tps.group(1)), "p50_us": None, "mean_us": float(latency.group(1)) * 1000,
            "errors": {}, "pg_connections": own, "pg_states": states, "pg_connections_all": peak,
            "cpu_us_per_op": {"postgres": pg_used * 1e6 / done, "loadgen": client_cpu * 1e6 / done}}


def fmt_ratio(a, b):
    if not a or not b or "throughput" not in a or "throughput" not in b or not b["throughput"]:
        return "–"
    return f"{a['throughput'] / b['throughput']:.2f}"


def fmt_cell(r):
    if r is None:
        return "–"
    if "failed" in r:
        return f"failed: {r['failed'][:60]}"
    errors = sum(r.get("errors", {}).values())
    lat = f"p50 {r['p50_us']:.0f} µs" if r.get("p50_us") is not None else f"mean {r.get('mean_us', 0):.0f} µs"
    cpu = r.get("cpu_us_per_op", {})
    cpu_text = " + ".join(f"{k} {v:.0f}" for k, v in sorted(cpu.items()))
    err_text = f", {errors} errors" if errors else ""
    states = ", ".join(f"{n} {state}" for state, n in sorted(r.get("pg_states", {}).items()))
    conns = f"PG conns {r.get('pg_connections', '?')}" + (f" ({states})" if states else "")
    return f"{r['throughput']:.0f}/s, {lat}, {conns}{err_text}; CPU µs/op {cpu_text}"


def print_tables(results, scenarios, concurrencies, targets):
    for scenario in scenarios:
        print(f"\n### {scenario}\n")
        ceiling = "floor" in targets
        print("| clients | " + " | ".join(targets) + " | docgate/direct | docgate/pgbouncer |"
              + (" floor/direct |" if ceiling else ""))
        print("| --- " * (len(targets) + 3 + ceiling) + "|")
        for c in concurrencies:
            row = {t: results.get((scenario, c, t)) for t in targets}
            print(f"| {c} | " + " | ".join(fmt_cell(row[t]) for t in targets)
                  + f" | {fmt_ratio(row.get('docgate'), row.get('direct'))}"
                  + f" | {fmt_ratio(row.get('docgate'), row.get('pgbouncer'))} |"
                  + (f" {fmt_ratio(row.get('floor'), row.get('direct'))} |" if ceiling else ""))
    latency_rows = [(s, c) for s in scenarios for c in concurrencies
                    if results.get((s, c, "docgate")) and results.get((s, c, "direct"))]
    if latency_rows:
        print("\n### latency, docgate vs direct (µs)\n")
        print("| scenario | clients | docgate p50 / p90 / p99 / p99.9 / max | direct p50 / p90 / p99 / p99.9 / max |")
        print("| --- | --- | --- | --- |")
        for s, c in latency_rows:
            cells = []
            for t in ("docgate", "direct"):
                r = results[(s, c, t)]
                cells.append("–" if "failed" in r else " / ".join(
                    f"{r[k]:.0f}" for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us")))
            print(f"| {s} | {c} | {cells[0]} | {cells[1]} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build = ROOT / "build"
    parser.add_argument("--docgate", default=str(build / "server" / "docgate"))
    parser.add_argument("--loadgen", default=str(build / "bench" / "loadgen"))
    parser.add_argument("--grpc-floor", default=str(build / "bench" / "grpc_floor"))
    parser.add_argument("--scenarios", default="get,create,mix")
    parser.add_argument("--concurrency", default="1,16,64,256,1024")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per cell")
    parser.add_argument("--rate", type=float, default=0,
                        help="open loop: operations a second, latency counted from when each was due"
                             " (pgbench -R); the clients are then the connections that serve them")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--warm-set", type=int, default=10000)
    parser.add_argument("--pool-max", type=int, default=16)
    parser.add_argument("--json", help="also write every result to this file")
    parser.add_argument("--smoke", action="store_true", help="every scenario and target, briefly (CI)")
    args = parser.parse_args()
    # SIGTERM unwinds like an exception, so that the servers below are stopped and
    # the cluster's folder removed (Python's default just exits).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.smoke:
        args.duration, args.warmup, args.warm_set, args.concurrency = 0.5, 0.2, 200, "1,4"
    scenarios = args.scenarios.split(",")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    targets = [t for t in args.targets.split(",") if t]

    folder = tempfile.mkdtemp(prefix="docgate-bench-")
    os.chmod(folder, 0o755)
    cluster = docgate = pgbouncer = None
    results = {}
    try:
        cluster = Cluster(folder)
        docgate = start_docgate(args.docgate, cluster, args.pool_max)
        pgbouncer = start_pgbouncer(cluster, args.pool_max, os.path.join(folder, "pgbouncer"))
        subprocess.run([args.loadgen, "--seed", str(args.warm_set), "--dsn", cluster.url], check=True)
        print(f"# {os.cpu_count()} cores; pool {args.pool_max}; {args.duration:g} s per cell after "
              f"{args.warmup:g} s warm-up; warm set {args.warm_set}", flush=True)
        for scenario in scenarios:
            for c in concurrencies:
                for target in targets:
                    wait_for_quiet(cluster)
                    if target == "pgbench":
                        r = run_pgbench(args, cluster, scenario, c)
                    elif target == "floor":
                        floor = start_floor(args.grpc_floor)
                        try:
                            r = run_loadgen(args, cluster, target, scenario, c, docgate, pgbouncer, floor)
                        finally:
                            floor.stop()
                    else:
                        r = run_loadgen(args, cluster, target, scenario, c, docgate, pgbouncer)
                    results[(scenario, c, target)] = r
                    print(f"{scenario:6} {c:5} {target:9} {fmt_cell(r)}", flush=True)
        print_tables(results, scenarios, concurrencies, targets)
        if args.json:
            Path(args.json).write_text(json.dumps([{**r, "scenario": s, "clients": c, "target": t}
                                                   for (s, c, t), r in results.items()], indent=1))
    finally:
        for p in (pgbouncer, docgate):
            if p is not None:
                p.stop()
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    failed = [k for k, r in results.items() if "failed" in r and k[2] == "docgate"]
    grpc_errors = sum(sum(r.get("errors", {}).values()) for k, r in results.items() if k[2] in ("docgate", "floor"))
    if args.smoke and (failed or grpc_errors or len(results) != len(scenarios) * len(concurrencies) * len(targets)
                       or any("failed" in r for r in results.values())):
        print("compare: smoke failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
