#!/usr/bin/python3
"""Fair admission: an interactive caller next to a flooding one.

The interactive caller ("api") runs 4 concurrent GetDocument; the flooding caller
("batch") runs 256 concurrent ListDocuments of --page-size rows, each holding a
database connection while it reads them. docgate has a pool of 4, and the
--config file of the README's "batch jobs must not starve the API" example:
api weight 4, batch weight 1 and at most --batch-max-running of the 4 slots.

  1. api alone: its p50/p99;
  2. api next to the flood, with fair admission (weighted fair queuing + the caps);
  3. the same with --admission fifo (first come, first served; caps ignored): the
     behaviour before fair admission;
  4. next to the flood with no --config file at all (#31: the defaults, where the
     share cap holds the flood to the slots the api does not keep back), and the
     same with --share-cap=false (weights alone). Both callers are unnamed then, so
     docgate's slot wait is not told apart (n/a).

Prints each run's throughput, p50/p99 and errors for both callers, the api's p99
as a ratio of its p99 alone, and the api's wait for a slot as docgate measured it
(docgate_caller_wait_seconds). Everything runs on loopback: its own PostgreSQL,
docgate and bench/loadgen processes.

    scripts/dev build && bench/fair_admission.py [--seconds 5] [--page-size 100]
                                                 [--batch-max-running 1] [--json]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import free_port, terminate, wait_for  # noqa: E402

POOL = 4
FLOOD_CONCURRENCY = 256
API_CONCURRENCY = 4
WARM_SET = 10000


def admission_config(batch_max_running):
    return {"admission": {"callers": {"api": {"weight": 4},
                                      "batch": {"weight": 1, "max_running": batch_max_running}}}}


class Docgate:
    def __init__(self, binary, database_url, config_path, mode, *extra):
        self.port, self.metrics_port = free_port(), free_port()
        config = [f"--config={config_path}"] if config_path else []
        self.proc = subprocess.Popen(
            [binary, f"--listen=127.0.0.1:{self.port}", f"--metrics-listen=127.0.0.1:{self.metrics_port}",
             f"--pool-max={POOL}", f"--admission={mode}", *config, *extra, "--log-level=error"],
            env={"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "")}, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.metric("docgate_db_up") == 1, 30, "docgate to reach its database")

    def metrics_text(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return ""

    def metric(self, name, labels=""):
        m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", self.metrics_text(), re.M)
        return float(m.group(1)) if m else None

    def wait_quantile_ms(self, caller, q):
        """The q-quantile of the caller's wait for a slot, from docgate's histogram (bucket bound)."""
        buckets = [(float(le), float(v)) for le, v in re.findall(
            rf'^docgate_caller_wait_seconds_bucket\{{caller="{caller}",le="([^"]+)"\}} (\S+)$', self.metrics_text(),
            re.M)]
        if not buckets or buckets[-1][1] == 0:
            return float("nan")
        total = buckets[-1][1]
        return next(le for le, count in buckets if count >= q * total) * 1000

    def stop(self):
        terminate(self.proc)


def loadgen(binary, port, *args):
    return subprocess.Popen([binary, "--target", "docgate", "--addr", f"127.0.0.1:{port}", *args],
                            stdout=subprocess.PIPE, text=True)


def result(proc):
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"loadgen failed ({proc.returncode})")
    return json.loads(out)


def run(args, mode, database_url, config_path, with_flood, *extra):
    dg = Docgate(args.binary, database_url, config_path, mode, *extra)
    try:
        flood = None
        if with_flood:
            # Longer than the api's run (its own warm-up and connect included).
            flood = loadgen(args.loadgen, dg.port, "--scenario", "list", "--page-size", str(args.page_size),
                            "--caller", "batch", "--concurrency", str(FLOOD_CONCURRENCY), "--warmup", "1",
                            "--duration", str(args.seconds + 4))
            batch = "batch" if config_path else "other"
            wait_for(lambda: (dg.metric("docgate_caller_queued", f'{{caller="{batch}"}}') or 0) > 0, 30,
                     "the flood to fill the queue")
        api = result(loadgen(args.loadgen, dg.port, "--scenario", "get", "--caller", "api", "--concurrency",
                             str(API_CONCURRENCY), "--warmup", "1", "--duration", str(args.seconds)))
        api_wait_p99 = dg.wait_quantile_ms("api", 0.99)
        return {"api": api, "batch": result(flood) if flood else None, "api_wait_p99_ms": api_wait_p99}
    finally:
        dg.stop()


def show(name, r, alone_p99):
    api = r["api"]
    wait = "n/a" if r["api_wait_p99_ms"] != r["api_wait_p99_ms"] else f"{r['api_wait_p99_ms']:.2f} ms"  # nan: unnamed
    line = (f"{name:<20} api {api['throughput']:>6.0f}/s p50 {api['p50_us'] / 1000:>7.2f} ms "
            f"p99 {api['p99_us'] / 1000:>7.2f} ms ({api['p99_us'] / alone_p99:>6.1f}x alone) "
            f"errors {api['errors'] or 0}; slot wait p99 <= {wait}")
    if r["batch"]:
        b = r["batch"]
        line += f" | batch {b['throughput']:>5.0f}/s p50 {b['p50_us'] / 1000:>7.1f} ms errors {b['errors'] or 0}"
    print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--batch-max-running", type=int, default=1, help="0: no cap of its own")
    parser.add_argument("--binary", default=str(ROOT / "build" / "server" / "docgate"))
    parser.add_argument("--loadgen", default=str(ROOT / "build" / "bench" / "loadgen"))
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop what we started

    folder = tempfile.mkdtemp(prefix="docgate-bench-")
    os.chmod(folder, 0o755)
    cluster = ROOT / "scripts" / "pg-cluster"
    env_lines = subprocess.run([str(cluster), "start", folder], check=True, capture_output=True, text=True).stdout
    urls = dict(line.split("=", 1) for line in env_lines.splitlines())
    try:
        database_url = urls["DOCGATE_TEST_DATABASE_URL"]
        subprocess.run([args.binary, "migrate", "--log-level=error"], check=True,
                       env={"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "")})
        subprocess.run([args.loadgen, "--seed", str(WARM_SET), "--dsn", database_url], check=True,
                       stdout=subprocess.DEVNULL)
        config_path = Path(folder) / "docgate.json"
        config_path.write_text(json.dumps(admission_config(args.batch_max_running)))
        results = {"alone": run(args, "fair", database_url, config_path, with_flood=False),
                   "fair": run(args, "fair", database_url, config_path, with_flood=True),
                   "fifo": run(args, "fifo", database_url, config_path, with_flood=True),
                   "no_config": run(args, "fair", database_url, None, with_flood=True),
                   "no_config_no_cap": run(args, "fair", database_url, None, True, "--share-cap=false")}
    finally:
        subprocess.run([str(cluster), "stop", folder], check=False, capture_output=True)
    if args.json:
        print(json.dumps(results))
        return
    alone_p99 = results["alone"]["api"]["p99_us"]
    print(f"pool {POOL}; api: {API_CONCURRENCY} concurrent GetDocument; batch: {FLOOD_CONCURRENCY} concurrent "
          f"ListDocuments of {args.page_size} rows, max_running {args.batch_max_running or 'none'}; "
          f"{args.seconds:.0f} s each")
    show("api alone", results["alone"], alone_p99)
    show("with flood, fair", results["fair"], alone_p99)
    show("with flood, fifo", results["fifo"], alone_p99)
    show("no config file", results["no_config"], alone_p99)
    show("  --share-cap=false", results["no_config_no_cap"], alone_p99)


if __name__ == "__main__":
    main()
