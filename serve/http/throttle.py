"""Failed authentication throttled per client: after too many wrong keys in a window, 429 until it passes.

Counted per client address (``request.client``: behind a proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that it is the caller's, not the proxy's) and per worker process: with N workers a
client gets at most N times the limit before every worker refuses it. While a client is refused, no key it sends
is checked, a valid one included: a check would tell a guesser which of its keys is right.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from serve.errors import AuthThrottled

# Clients remembered at most; past it, those whose failures are all older than the window are forgotten.
_MAX_CLIENTS = 10_000


@dataclass
class FailedAuthThrottle:
    """Counts wrong keys per client over a sliding window; ``limit`` 0 turns the throttle off."""

    limit: int
    window_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        return failures

    def check(self, client: str) -> None:
        """Refuse ``client`` (AuthThrottled, with the seconds until it may try again) while over the limit."""
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < self.limit:
                return
            wait = max(1, math.ceil(failures[-self.limit] + self.window_seconds - now))
        raise AuthThrottled(
            f"{len(failures)} wrong API keys from this client in the last {self.window_seconds:.0f} s; "
            f"wait {wait} s (Retry-After), then send a valid key",
            retry_after=wait,
        )

    def failed(self, client: str) -> None:
        """Count one wrong key from ``client``."""
        if self.limit <= 0:
            return
        now = self.clock()
        with self._lock:
            if client not in self._failures and len(self._failures) >= _MAX_CLIENTS:
                for known in [c for c, f in self._failures.items() if not self._recent(c, now)]:
                    del self._failures[known]
            failures = self._recent(client, now)
            failures.append(now)
            self._failures[client] = failures
