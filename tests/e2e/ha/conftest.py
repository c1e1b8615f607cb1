import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))

from docgate_harness import *  # noqa: E402,F401,F403  (the shared fixtures)
