"""The public endpoints' rate limit: fixed windows per client address."""

from __future__ import annotations

from dataclasses import dataclass

from boxoffice.reservations.ratelimit import RateLimiter


@dataclass
class FakeMonotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_address_has_its_own_window_which_starts_over() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter(limit=3, window_seconds=10, monotonic=clock)

    allowed = [limiter.hit("10.0.0.1") for _ in range(3)]
    refused = limiter.hit("10.0.0.1")
    other = limiter.hit("10.0.0.2")
    clock.now += 4.2
    still_refused = limiter.hit("10.0.0.1")
    clock.now += 6
    new_window = limiter.hit("10.0.0.1")

    assert allowed == [None, None, None]
    assert refused == 10
    assert other is None
    assert still_refused == 6  # seconds until the window ends, rounded up
    assert new_window is None
