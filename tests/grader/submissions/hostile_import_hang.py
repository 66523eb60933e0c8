"""Hostile: hangs while being imported (a blocking call at module level)."""

from __future__ import annotations

import time

time.sleep(3600)


class DataFetcher:
    pass
