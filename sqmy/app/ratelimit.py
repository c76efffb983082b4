"""Per-caller rate limits: one token bucket per caller (an API key, or a client address when auth is off)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CALLERS = 10_000  # buckets kept; the least recently seen caller's is dropped first (it starts full again)


class RateLimiter:
    """``rate`` requests per second on average, ``burst`` at once. ``take`` answers how many seconds a caller must
    wait before its request would be allowed (0: allowed now, and counted)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller → (tokens, when)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, caller: str) -> float:
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens, when = self._buckets.pop(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - when) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[caller] = (tokens, now)
        if len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        """The ``Retry-After`` header's whole seconds for a wait (at least 1)."""
        return max(1, math.ceil(wait))
