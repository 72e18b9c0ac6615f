"""Failed-login limiting: after ``attempts`` failures of one user name within ``window``
seconds, further logins of that name are refused (429) until the oldest failure ages out.

Refused attempts are not checked at all (no KDF run, no answer about the password), so a
guesser gets ``attempts`` tries per window and name. Counting is per process: N API processes
allow N times as many tries, still far too few for guessing. Names are counted whether or not
they exist, so the limit says nothing about which users exist.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from cowshed.errors import TooManyRequests

#: names tracked at most; the oldest entries go first (a flood of random names stays bounded).
MAX_TRACKED = 100_000


class LoginLimiter:
    def __init__(self, attempts: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def check(self, key: str) -> None:
        """TooManyRequests if ``key`` failed ``attempts`` times within the window."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            if len(times) >= self.attempts:
                wait = max(1, math.ceil(times[0] + self.window - now))
                raise TooManyRequests(
                    f"Too many failed logins for this user; retry in {wait} s.", wait)

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._recent(key, now)
            if key not in self._failures and len(self._failures) >= MAX_TRACKED:
                del self._failures[next(iter(self._failures))]
            self._failures.setdefault(key, deque(maxlen=self.attempts)).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
