"""The per-key call budget of one process: calls spaced evenly, a safety margin, and a shared slowdown on 429.

The API allows 100 calls per rolling minute per key, across every endpoint, and a strict server
stamps calls on arrival and may count refused ones too. So the limiter never releases a window's
worth at once: calls are spaced ``60 / budget`` seconds apart, where ``budget`` keeps a margin
below the configured rate. The first 429 seen by any user of the key in this process sets the
key's pace to what the server let this process do over the last window (its share, when other
processes use the key too, never below a tenth of the ceiling) and pauses it (for ``Retry-After``,
or for 2 s doubling with each 429 in a row); slots reserved before a 429 are void, so their callers
reserve again at the new pace. Calls that succeed bring the pace back over about two minutes.
Several processes sharing a key therefore converge on a share of the budget instead of taking
turns at 429s.

Reservations never block inside the lock: a caller gets the delay it must wait and sleeps with its
own sleep (``time.sleep`` or ``asyncio.sleep``), which is what lets one limiter serve both transports.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
#: Share of the configured rate actually used: 93 of the API's 100 a minute. Evenly spaced, one process
#: then stays within 100 calls in any 60 s of arrivals with up to 3.9 s of latency jitter, and leaves 7
#: calls a minute to the key's other users (a worker's ``/trigger`` while a triggerer reads); more than
#: that meets a 429, and the processes settle on their shares (below). At 0.85 the reads of a large
#: backlog used only 84 % of what the poll leaves of the key's budget.
MARGIN = 0.93
#: After a 429 the pace halves at most once per this many seconds (429s of calls already in flight
#: say nothing new), never below :data:`FLOOR` of the ceiling, and each success adds
#: :data:`RECOVERY` of the ceiling back.
DECREASE_EVERY = 5.0
FLOOR = 0.1
#: Seconds of calls without a 429 to climb back from nothing to the ceiling (linear): slow enough
#: that processes sharing a key settle below the limit instead of overshooting it again at once.
RECOVERY_SECONDS = 120.0
#: Pause of the whole key after a 429 without ``Retry-After``: 2 s, doubling with each 429 in a row
#: up to a minute, so that a server which counts refused calls sees its window drain.
PAUSE = 2.0
MAX_PAUSE = 60.0


class RateLimiter:
    """At most ``per_minute`` x :data:`MARGIN` calls per ``window``, evenly spaced, slowed by 429s."""

    def __init__(
        self,
        per_minute: int,
        *,
        window: float = WINDOW_SECONDS,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.window = window
        self.margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._rate = self.ceiling  # calls per window currently allowed (lowered by 429s)
        self._next = float("-inf")  # the earliest time the next call may go
        self._paused_until = float("-inf")
        self._last_decrease = float("-inf")
        self._refusals = 0  # 429s in a row
        self._last_success = float("-inf")
        self._successes: deque[float] = deque()  # when calls went through, over the last window
        #: Bumped by every 429: a caller whose slot was reserved before must reserve again.
        self.generation = 0

    @property
    def ceiling(self) -> float:
        """Calls per window when no 429 has been seen: the configured rate less the margin."""
        return max(1.0, self.per_minute * self.margin)

    @property
    def rate(self) -> float:
        """Calls per window currently allowed."""
        return self._rate

    def reserve(self, not_after: float | None = None) -> float | None:
        """Reserve the next slot; seconds to wait before using it.

        With ``not_after`` (a time of ``clock``), returns None and reserves nothing when the slot
        would come later: a caller with a deadline never waits past it.
        """
        with self._lock:
            now = self._clock()
            at = max(now, self._next, self._paused_until)
            if not_after is not None and at > not_after:
                return None
            self._next = at + self.window / self._rate
            return at - now

    def free_in(self) -> float:
        """Seconds until the next slot (0: a call may go now); reserves nothing."""
        with self._lock:
            return max(0.0, max(self._next, self._paused_until) - self._clock())

    @property
    def spacing(self) -> float:
        """Seconds between two calls at the current pace."""
        return self.window / self._rate

    def penalize(self, retry_after: float | None = None) -> None:
        """A 429 for this key: halve the pace (at most once per few seconds) and pause new calls briefly.

        The pause is ``Retry-After`` when the server gave one.
        """
        with self._lock:
            now = self._clock()
            if self._refusals == 0 and now - self._last_decrease >= DECREASE_EVERY:
                # The first 429 after calls went through: what the server let this process do in
                # the last window is its share of the key (other processes took the rest). More
                # 429s in a row only lengthen the pause: the server's window is still draining.
                self._forget_before(now - self.window)
                share = len(self._successes) * self.margin
                self._rate = max(self.ceiling * FLOOR, 1.0, min(self._rate / 2, share))
                self._last_decrease = now
            self._refusals += 1
            # the exponent is capped: past ~1,000 refusals in a row 2**n no longer fits a float
            pause = retry_after or min(MAX_PAUSE, PAUSE * 2 ** min(self._refusals - 1, 32))
            self._paused_until = max(self._paused_until, now + pause)
            # Slots handed out before this 429 are void (their callers reserve again): none goes
            # out at the old pace into a window the server has just said is full.
            self._next = self._paused_until
            self.generation += 1

    def succeeded(self) -> None:
        """A call went through: recover the pace linearly with time, up to the ceiling."""
        with self._lock:
            now = self._clock()
            self._refusals = 0
            self._successes.append(now)
            self._forget_before(now - self.window)
            # only the time between successes counts, and only while calls keep succeeding
            since = min(now - self._last_success, DECREASE_EVERY * 2) if self._last_success > float("-inf") else 0.0
            self._last_success = now
            if self._rate < self.ceiling and since > 0:
                self._rate = min(self.ceiling, self._rate + self.ceiling * since / RECOVERY_SECONDS)

    def _forget_before(self, moment: float) -> None:
        while self._successes and self._successes[0] < moment:
            self._successes.popleft()

    def lower_limit(self, per_minute: int) -> None:
        """Adopt a lower limit (the lowest any user of this key asked for wins)."""
        with self._lock:
            self.per_minute = max(1, min(self.per_minute, per_minute))
            self._rate = min(self._rate, self.ceiling)


_registry: dict[tuple[str, int], RateLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (used as the registry key and in logs)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def limiter_for_key(api_key: str, per_minute: int, clock: Callable[[], float] = time.monotonic) -> RateLimiter:
    """The process-wide limiter of ``api_key`` (one per clock: tests that inject time get their own)."""
    fingerprint = (key_fingerprint(api_key), id(clock))
    with _registry_lock:
        limiter = _registry.get(fingerprint)
        if limiter is None:
            limiter = _registry[fingerprint] = RateLimiter(per_minute, clock=clock)
        else:
            limiter.lower_limit(per_minute)
        return limiter
