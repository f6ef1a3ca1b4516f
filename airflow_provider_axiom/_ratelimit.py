"""A process-wide, thread-safe rolling-window rate limiter, one per API key.

The API allows 100 calls per rolling minute per key across every endpoint. Every hook in a
process (worker or triggerer) that uses the same key reserves its calls from the same limiter, so
a DAG that fans out waits briefly instead of earning 429s. Reservations never block inside the
lock: a caller gets the delay it must wait and sleeps with its own sleep (``time.sleep`` or
``asyncio.sleep``), which is what lets one limiter serve both transports.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimiter:
    """At most ``per_minute`` calls in any rolling ``window`` seconds."""

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._slots: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Reserve the next free slot and return how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            while self._slots and self._slots[0] <= now - self.window:
                self._slots.popleft()
            at = now
            if len(self._slots) >= self.per_minute:
                at = self._slots[-self.per_minute] + self.window
            if self._slots and self._slots[-1] > at:
                at = self._slots[-1]
            self._slots.append(at)
            return max(0.0, at - now)

    def lower_limit(self, per_minute: int) -> None:
        """Adopt a lower limit (the lowest any user of this key asked for wins)."""
        with self._lock:
            self.per_minute = max(1, min(self.per_minute, per_minute))


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (used as the registry key and in logs)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def limiter_for_key(api_key: str, per_minute: int) -> RateLimiter:
    """The process-wide limiter of ``api_key``."""
    fingerprint = key_fingerprint(api_key)
    with _registry_lock:
        limiter = _registry.get(fingerprint)
        if limiter is None:
            limiter = _registry[fingerprint] = RateLimiter(per_minute)
        else:
            limiter.lower_limit(per_minute)
        return limiter
