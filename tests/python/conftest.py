from docgate_harness import *  # noqa: F401,F403  (the shared fixtures)
