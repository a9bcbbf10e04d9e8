"""The wall clock, behind the Clock port so tests can move time."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> int:
        return int(time.time())
