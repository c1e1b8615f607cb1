"""A highly available PostgreSQL for the tests: one etcd and Patroni nodes on loopback,
from Debian's packages (etcd-server, patroni), each node a PostgreSQL of its own.

    with PatroniCluster(nodes=2, synchronous=True) as ha:
        ha.url                      # libpq multi-host URL, target_session_attrs=read-write
        ha.leader()                 # the node Patroni calls the leader, or None
        ha.switchover(to=...)       # a planned switchover through the REST API
        ha.kill(node)               # SIGKILL the node's Patroni and PostgreSQL
        ha.start(node)              # start it again (it rejoins as a standby, rewound)

PostgreSQL refuses to run as root: when root, Patroni runs as `postgres` in folders it
owns. Nothing is persisted beyond the block; every port is a free loopback port."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from docgate_harness import free_port, wait_for

PGBIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
SUPERUSER_PASSWORD = "ha-superuser-secret"
REPLICATION_PASSWORD = "ha-replication-secret"
DOCGATE_PASSWORD = "docgate-dev-secret"
TTL_S = 10  # the leader key's lifetime: a dead leader is replaced within about this


def _as_postgres():
    """preexec_fn that drops root to `postgres` (PostgreSQL will not run as root)."""
    if os.getuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.initgroups("postgres", pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _chown_postgres(path):
    if os.getuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class Node:
    def __init__(self, root, name, etcd_port):
        self.name = name
        self.folder = Path(root) / name
        self.folder.mkdir()
        self.folder.chmod(0o700)
        _chown_postgres(self.folder)
        self.pg_port = free_port()
        self.api_port = free_port()
        self.config = self.folder / "patroni.yml"
        self.log = self.folder / "patroni.log"
        self.proc = None
        self._write_config(etcd_port)

    def _write_config(self, etcd_port):
        hba = ["local all all trust", "host replication replicator 127.0.0.1/32 scram-sha-256",
               "host all all 127.0.0.1/32 scram-sha-256"]
        config = {
            "scope": "docgate-ha", "name": self.name,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"127.0.0.1:{self.api_port}", "connect_address": f"127.0.0.1:{self.api_port}"},
            "etcd3": {"hosts": [f"127.0.0.1:{etcd_port}"]},
            "bootstrap": {
                "dcs": {"ttl": TTL_S, "loop_wait": 1, "retry_timeout": 4, "maximum_lag_on_failover": 1 << 30,
                        "synchronous_mode": False,
                        "postgresql": {"use_pg_rewind": True, "use_slots": True,
                                       "parameters": {"wal_log_hints": "on", "max_connections": 100,
                                                      "wal_keep_size": "128MB"}}},
                "initdb": [{"encoding": "UTF8"}, {"auth": "scram-sha-256"}],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}", "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.folder / "data"), "bin_dir": str(PGBIN),
                # A primary that was killed comes back behind the new timeline: rewound
                # (wal_log_hints), or cloned again if that cannot be done.
                "use_pg_rewind": True, "remove_data_directory_on_diverged_timelines": True,
                "pgpass": str(self.folder / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": SUPERUSER_PASSWORD},
                    "replication": {"username": "replicator", "password": REPLICATION_PASSWORD},
                    "rewind": {"username": "postgres", "password": SUPERUSER_PASSWORD},
                },
                "parameters": {"unix_socket_directories": str(self.folder), "fsync": "off"},
                "pg_hba": hba,
                # pg_basebackup would wait for a spread checkpoint (minutes): a clone now.
                "basebackup": [{"checkpoint": "fast"}],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
        # YAML is a superset of JSON: Patroni reads this as it is.
        self.config.write_text(json.dumps(config, indent=1))
        _chown_postgres(self.config)

    def start(self):
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["patroni", str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_as_postgres(), cwd=self.folder)

    def postmaster_pid(self):
        try:
            return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill(self):
        """SIGKILL Patroni, then the postmaster and its children: the node is gone at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        pid = self.postmaster_pid()
        if pid is not None:
            family = [pid] + _children(pid)  # backends too: they would hold its shared memory
            for p in family:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in family), 20,
                     what=f"{self.name}'s PostgreSQL processes gone")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        pid = self.postmaster_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)

    def api(self, path, method="GET", body=None, timeout=3):
        """(status, JSON or text) of the node's Patroni REST API; (None, error) when it does not answer."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                status, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        except OSError as e:
            return None, str(e)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def state(self):
        _, body = self.api("/patroni")
        return body if isinstance(body, dict) else {}

    def psql(self, sql, database="postgres"):
        out = subprocess.run([str(PGBIN / "psql"), "-h", str(self.folder), "-p", str(self.pg_port), "-U", "postgres",
                              "-d", database, "-Atqc", sql], capture_output=True, text=True,
                             preexec_fn=_as_postgres(), timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"psql on {self.name}: {out.stderr.strip()}")
        return out.stdout.strip()

    def log_tail(self, chars=3000):
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class PatroniCluster:
    def __init__(self, nodes=2, synchronous=True):
        self.root = Path(tempfile.mkdtemp(prefix="docgate-ha-"))
        self.root.chmod(0o755)
        self.synchronous = synchronous
        self.etcd_port, self.etcd_peer_port = free_port(), free_port()
        self.etcd = None
        self.nodes = [Node(self.root, f"node{i}", self.etcd_port) for i in range(nodes)]

    @property
    def url(self):
        hosts = ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)
        return f"postgresql://docgate:{DOCGATE_PASSWORD}@{hosts}/docgate?target_session_attrs=read-write"

    def __enter__(self):
        try:
            self._start_etcd()
            first = self.nodes[0]
            first.start()  # the first bootstraps the cluster; the others clone it
            leader = wait_for(self.leader, 90, interval=0.2, what=f"a leader\n{first.log_tail()}")
            leader.psql(f"CREATE ROLE docgate LOGIN PASSWORD '{DOCGATE_PASSWORD}'")
            leader.psql("CREATE DATABASE docgate OWNER docgate")
            for node in self.nodes[1:]:
                node.start()
            for node in self.nodes[1:]:
                try:
                    wait_for(lambda: node.state().get("state") == "running" and node.state().get("role") == "replica",
                             120, interval=0.2, what=f"{node.name} streaming")
                except AssertionError as e:  # the log as it is now, not as it was before the wait
                    raise AssertionError(f"{e}; its state {node.state()}\n{node.log_tail()}") from None
            self.set_synchronous(self.synchronous)
            return self
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        for node in self.nodes:
            node.stop()
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(timeout=30)
        if self.etcd is not None:
            self.etcd.terminate()
            self.etcd.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_etcd(self):
        data = self.root / "etcd"
        client, peer = f"http://127.0.0.1:{self.etcd_port}", f"http://127.0.0.1:{self.etcd_peer_port}"
        with open(self.root / "etcd.log", "ab") as out:
            self.etcd = subprocess.Popen(
                ["etcd", "--name", "etcd0", "--data-dir", str(data), "--listen-client-urls", client,
                 "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"etcd0={peer}", "--unsafe-no-fsync"], stdout=out, stderr=subprocess.STDOUT)

        def healthy():
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as r:
                    return json.loads(r.read()).get("health") == "true"
            except (OSError, ValueError):
                return False
        wait_for(healthy, 30, interval=0.1, what="etcd healthy")

    def leader(self):
        """The running node that is the primary, or None."""
        for node in self.nodes:
            state = node.state()
            if state.get("role") in ("master", "primary") and state.get("state") == "running":
                return node
        return None

    def set_synchronous(self, on):
        """Patroni's synchronous_mode (a commit waits for one standby), through the
        dynamic configuration; returns once a standby is synchronous (when on)."""
        leader = self.leader()
        status, body = leader.api("/config", method="PATCH", body={"synchronous_mode": bool(on)})
        assert status == 200, (status, body)
        if on:
            self.wait_synchronous()

    def wait_synchronous(self, timeout=60):
        """Waits until a leader runs and another node is its synchronous standby: only
        that one may be promoted (Patroni's synchronous mode), so a failover before it
        would leave the cluster without a primary, by design."""
        def ready():
            roles = {m.get("role") for m in self.members() if m.get("state") in ("running", "streaming")}
            return "leader" in roles and "sync_standby" in roles
        wait_for(ready, timeout, interval=0.2, what=f"a leader and a synchronous standby: {self.members()}")

    def members(self):
        for node in self.nodes:
            status, body = node.api("/cluster")
            if status == 200 and isinstance(body, dict):
                return body.get("members", [])
        return []

    def switchover(self, to):
        leader = self.leader()
        status, body = leader.api("/switchover", method="POST", body={"leader": leader.name, "candidate": to.name},
                                  timeout=60)
        assert status == 200, (status, body)
        wait_for(lambda: self.leader() is to, 60, interval=0.1, what=f"{to.name} the leader")
