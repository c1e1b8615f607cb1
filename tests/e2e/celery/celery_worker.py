"""An unmodified prefork Celery worker for the e2e tests, run from this folder."""
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from docgate_harness import wait_for

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def celery_worker(app, name, concurrency, env, folder=HERE):
    """`celery -A app worker` (prefork, `concurrency` processes, node `name`), with `env`
    set in this process too (the producer's side of the app reads the same variables)
    for the block. Yields (worker, output) once it is ready, output() being its log so
    far; at the end the worker is stopped (a warm shutdown, killed after 30 s), its log
    removed and the environment restored. `app` is a module in `folder`."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    log = tempfile.NamedTemporaryFile(prefix=f"celery-{name}-", suffix=".log", delete=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--pool=prefork", f"--concurrency={concurrency}",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
        cwd=folder, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)

    def output():
        return Path(log.name).read_text(errors="replace")

    try:
        wait_for(lambda: " ready." in output() or worker.poll() is not None, 60, interval=0.1,
                 what="the Celery worker ready")
        assert worker.poll() is None, output()
        yield worker, output
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
            os.unlink(log.name)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
