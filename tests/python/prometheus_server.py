"""A real Prometheus server (Debian's `prometheus`) for tests: scrapes its targets and
evaluates its rules every second; read through its HTTP API as Grafana would."""
import json
import os
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request

from docgate_harness import free_port, wait_for


class PrometheusServer:
    def __init__(self, targets, rules_file=None):
        self.folder = tempfile.mkdtemp(prefix="docgate-prom-")
        self.port = free_port()
        config = os.path.join(self.folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
            if rules_file:
                f.write(f"rule_files: ['{rules_file}']\n")
            f.write("scrape_configs:\n  - job_name: docgate\n"
                    f"    static_configs:\n      - targets: {json.dumps(list(targets))}\n")
        self.log = os.path.join(self.folder, "prometheus.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={self.folder}/data", f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 30, interval=0.1, what="Prometheus ready")

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def series(self, promql):
        """Every series an instant query returns (a list of {metric, value})."""
        return self.api("query", query=promql)["result"]

    def value(self, promql):
        """The value of an instant query with at most one series; None when it has none."""
        result = self.series(promql)
        assert len(result) <= 1, f"{promql} matched several series: {result}"
        return float(result[0]["value"][1]) if result else None

    def alerts(self, state="firing"):
        """The names of the alerts in `state` now."""
        return {a["labels"]["alertname"] for a in self.api("alerts")["alerts"] if a["state"] == state}

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)
