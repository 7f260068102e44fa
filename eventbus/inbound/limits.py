"""Per-connection limits: a token bucket for client events and joins."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows ``rate`` actions per second on average and bursts of up to ``burst``.

    Example:
        >>> bucket = TokenBucket(rate=100, burst=2)
        >>> [bucket.take() for _ in range(3)]
        [True, True, False]
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
