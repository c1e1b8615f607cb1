#!/usr/bin/python3
"""Reads with one streaming replica against the primary alone, and how often reads
that could use the replica fell back to the primary.

One durable primary and one replica (pg_basebackup -R, optionally delayed with
--apply-delay), two docgate processes: P knows only the primary, R also the
replica. For each concurrency, the same loadgen runs:

  primary alone        GetDocument of the warm set through P (STRONG)
  replica, any         through R with MINIMIZE_LATENCY (any replica, maybe stale)
  replica, token       through R with a token of a write the replica has replayed
  read-your-writes     through R: a create, then a get with its token (ryw),
                       where the replica lags by --apply-delay

and R's /metrics say who served the reads (docgate_reads_total) and why any fell
back (docgate_replica_fallbacks_total). On one machine the replica shares the CPU
with the primary: this shows what routing costs and that nothing is missed, not
what a second machine would add.

    scripts/dev build && bench/replica_reads.py [--concurrency 16,64] [--apply-delay 0] [--replica-wait-max 2s]

Everything runs on loopback.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import free_port, terminate, wait_for  # noqa: E402

import grpc  # noqa: E402
from docgate._pb import docgate_pb2, docgate_pb2_grpc  # noqa: E402  (the client package's stubs)

SCRIPT = str(ROOT / "scripts" / "pg-cluster")


def cluster_vars(out):
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


class Docgate:
    def __init__(self, binary, primary_url, *args):
        self.port, self.metrics_port = free_port(), free_port()
        self.log = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCGATE_")}
        env["DATABASE_URL"] = primary_url
        self.proc = subprocess.Popen([binary, f"--listen=127.0.0.1:{self.port}",
                                      f"--metrics-listen=127.0.0.1:{self.metrics_port}", "--log-level=warn",
                                      "--pool-max=16", "--pool-min-idle=16", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.stub = docgate_pb2_grpc.DocumentServiceStub(grpc.insecure_channel(f"127.0.0.1:{self.port}"))
        wait_for(self.serving, 30, "docgate serving")

    def serving(self):
        try:
            self.stub.GetDocument(docgate_pb2.GetDocumentRequest(id="00000000-0000-7000-8000-000000000000"), timeout=1)
        except grpc.RpcError as e:
            return e.code() == grpc.StatusCode.NOT_FOUND
        return True

    def samples(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
            text = r.read().decode()
        return {m.group(1) or "": float(m.group(2)) for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M)}

    def stop(self):
        terminate(self.proc)


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build = ROOT / "build"
    parser.add_argument("--docgate", default=str(build / "server" / "docgate"))
    parser.add_argument("--loadgen", default=str(build / "bench" / "loadgen"))
    parser.add_argument("--concurrency", default="16,64")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warm-set", type=int, default=10000)
    parser.add_argument("--apply-delay", default="0", help="the replica's recovery_min_apply_delay, e.g. 500ms")
    parser.add_argument("--replica-wait-max", default="2s", help="docgate's --replica-wait-max for R")
    parser.add_argument("--smoke", action="store_true", help="each cell briefly (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.concurrency, args.warm_set = 1.0, "16", 1000

    folder = tempfile.mkdtemp(prefix="docgate-replica-bench-")
    os.chmod(folder, 0o755)
    primary_dir, replica_dir = os.path.join(folder, "primary"), os.path.join(folder, "replica")
    servers = []

    def cleanup(*_):
        for d in servers:
            d.stop()
        for c in (replica_dir, primary_dir):
            subprocess.run([SCRIPT, "stop", c, "--immediate"], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        primary = cluster_vars(subprocess.run([SCRIPT, "start", primary_dir], check=True, capture_output=True,
                                              text=True, env={**os.environ, "PG_CLUSTER_DURABLE": "1"}).stdout)
        url = primary["DOCGATE_TEST_DATABASE_URL"]
        subprocess.run([args.docgate, "migrate"], check=True, capture_output=True, env={**os.environ, "DATABASE_URL": url})
        subprocess.run([args.loadgen, "--seed", str(args.warm_set), "--dsn", url], check=True, capture_output=True)
        replica = cluster_vars(subprocess.run([SCRIPT, "replica", primary_dir, replica_dir, args.apply_delay],
                                              check=True, capture_output=True, text=True).stdout)
        alone = Docgate(args.docgate, url)
        servers.append(alone)
        routed = Docgate(args.docgate, url, f"--replica-url={replica['DOCGATE_TEST_DATABASE_URL']}",
                         f"--replica-wait-max={args.replica_wait_max}")
        servers.append(routed)
        wait_for(lambda: 1 in routed.samples("docgate_replica_in_rotation").values(), 30, "the replica in rotation")
        made = routed.stub.CreateDocument(docgate_pb2.CreateDocumentRequest(
            document=docgate_pb2.Document(name="token source")), timeout=10)
        token = made.consistency_token
        # The token's write replayed: the token cell measures routing, not waiting.
        routed.stub.GetDocument(docgate_pb2.GetDocumentRequest(id=made.document.id, consistency_token=token), timeout=10)

        cells = [("primary alone", alone, ["--scenario", "get"]),
                 ("replica, any", routed, ["--scenario", "get", "--consistency", "any"]),
                 ("replica, token", routed, ["--scenario", "get", "--consistency", "fresh", "--token", token]),
                 ("read-your-writes", routed, ["--scenario", "ryw"])]
        print(f"\n## Reads with one replica (apply delay {args.apply_delay}, --replica-wait-max"
              f" {args.replica_wait_max}), {args.duration:g} s per cell\n")
        print("| clients | cell | reads/s | p50 µs | p99 µs | errors | served by | fallbacks |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        failed = False
        for c in [int(x) for x in args.concurrency.split(",")]:
            for name, server, extra in cells:
                reads0 = server.samples("docgate_reads_total")
                falls0 = server.samples("docgate_replica_fallbacks_total")
                out = subprocess.run([args.loadgen, "--target", "docgate", "--addr", f"127.0.0.1:{server.port}",
                                      "--concurrency", str(c), "--duration", str(args.duration), "--warmup", "0.5",
                                      "--warm-set", str(args.warm_set), *extra], capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"| {c} | {name} | failed: {out.stderr.strip()[-200:]} |")
                    failed = True
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                reads = delta(server.samples("docgate_reads_total"), reads0)
                falls = delta(server.samples("docgate_replica_fallbacks_total"), falls0)
                served = ", ".join(f"{k[9:-2]} {v:.0f}" for k, v in sorted(reads.items())) or "-"
                fell = ", ".join(f"{k[9:-2]} {v:.0f}" for k, v in sorted(falls.items())) or "0"
                errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "0"
                failed |= bool(r["errors"])
                print(f"| {c} | {name} | {r['throughput']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} | {errors}"
                      f" | {served} | {fell} |")
        return 1 if failed else 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
