"""Project-wide pytest configuration.

The suite dogfoods the plugin: ``leakcheck = true`` in pyproject.toml turns
leak checking on for every test here. ``pytester`` runs every plugin test as a
real inner pytest session (in a subprocess, so an inner test's deliberate
leak never lands on the outer test that provoked it).
"""

pytest_plugins = ["pytester"]
