"""Emulated clock: real start time + real elapsed time x speed + manual offset."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from email.utils import formatdate


class EmulatedClock:
    """A monotonic emulated wall clock.

    ``now() = start + (real elapsed since the last re-anchor) * speed + offset``. Changing the speed
    re-anchors so that emulated time never jumps; ``advance()`` only ever moves forward.
    """

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._check_speed(speed)
        self._anchor_emulated = time.time() if start is None else float(start)
        self._anchor_real = time.monotonic()
        self._speed = float(speed)

    @staticmethod
    def _check_speed(speed: float) -> None:
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0:
            raise ValueError(f"speed must be a number >= 0, got {speed!r}")

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """Emulated time as a POSIX timestamp (float seconds)."""
        with self._lock:
            return self._anchor_emulated + (time.monotonic() - self._anchor_real) * self._speed

    def advance(self, seconds: float) -> float:
        """Move emulated time forward by ``seconds`` (>= 0); return the new emulated time."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"advance() needs a number of seconds >= 0, got {seconds!r}")
        with self._lock:
            self._anchor_emulated += float(seconds)
            return self._anchor_emulated + (time.monotonic() - self._anchor_real) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (re-anchoring, so emulated time stays continuous)."""
        self._check_speed(speed)
        with self._lock:
            real = time.monotonic()
            self._anchor_emulated += (real - self._anchor_real) * self._speed
            self._anchor_real = real
            self._speed = float(speed)


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def iso_report(ts: float) -> str:
    """The documented report format, truncated to whole seconds: ``2025-04-10T15:14:51.000000Z``."""
    return to_datetime(float(int(ts // 1))).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def iso_full(ts: float | None) -> str | None:
    """ISO 8601 UTC with microseconds (inspection routes only)."""
    if ts is None:
        return None
    return to_datetime(ts).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def http_date(ts: float) -> str:
    """RFC 7231 IMF-fixdate, e.g. ``Thu, 10 Apr 2025 15:14:51 GMT``."""
    return formatdate(ts, usegmt=True)


def parse_iso(value: str) -> float:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC) into a POSIX timestamp."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
