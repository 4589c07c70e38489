"""A fixed-window request counter per client address, kept in memory.

It guards the public (share token) endpoints against guessing and scraping. Counts are
per replica: with N replicas behind a load balancer a client may make up to N times the
limit. That is enough against a single noisy address; a shared limit belongs in the
ingress or a shared store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Window:
    started: float
    count: int


@dataclass
class RateLimiter:
    """Allows ``limit`` requests per address in each window of ``window_seconds``.

    Args:
        limit: requests allowed per window.
        window_seconds: the length of a window.
        monotonic: the clock (tests pass their own).
    """

    limit: int
    window_seconds: float
    monotonic: Callable[[], float] = time.monotonic
    _windows: dict[str, _Window] = field(default_factory=dict)

    def hit(self, address: str) -> int | None:
        """Count one request of ``address``; the seconds to wait when it is over the limit."""
        now = self.monotonic()
        window = self._windows.get(address)
        if window is None or now - window.started >= self.window_seconds:
            if len(self._windows) > 10_000:
                self._forget_before(now)
            window = self._windows[address] = _Window(now, 0)
        window.count += 1
        if window.count <= self.limit:
            return None
        return max(1, math.ceil(window.started + self.window_seconds - now))

    def _forget_before(self, now: float) -> None:
        """Drop finished windows so the table stays as small as the active clients."""
        self._windows = {
            address: window
            for address, window in self._windows.items()
            if now - window.started < self.window_seconds
        }
