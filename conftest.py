"""Project-wide pytest configuration.

The suite dogfoods the plugin: ``leakcheck = true`` in pyproject.toml turns
leak checking on for every test here. ``pytester`` runs every plugin test as a
real inner pytest session (in a subprocess, so an inner test's deliberate
leak never lands on the outer test that provoked it).
"""

import os
import sys

pytest_plugins = ["pytester"]

# Inner pytest runs and grader workers are new processes by the hundred: let
# them read and write bytecode caches, as they do on a user's machine, even
# where the environment turns caching off (PYTHONDONTWRITEBYTECODE). Without
# the caches every inner run re-compiles and re-rewrites its plugins: about
# twice the start-up time of each.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
