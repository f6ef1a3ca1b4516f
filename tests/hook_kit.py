"""What the hook tests share: the key of the mocked connection, fake time, the request body.

The fixtures built on them (``fake_time``, ``mock_hook``) are in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from airflow_provider_axiom._transport import Clock

#: The key of the ``mock_hook`` connection (``axiom_mock``).
API_KEY = "sk-test-9f8e7d6c5b4a"

#: What ``mock_hook`` sends the hook's requests to (``httpx.MockTransport``).
Handler = Callable[[httpx.Request], httpx.Response]


class FakeTime:
    """A clock and sleeps that never wait: every sleep moves the clock forward."""

    def __init__(self) -> None:
        import pendulum

        self.now = pendulum.datetime(2026, 11, 25, 12, 0, 0, tz="UTC")
        self.sleeps: list[float] = []

    def clock(self) -> Any:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now = self.now.add(microseconds=int(seconds * 1_000_000))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def monotonic(self) -> float:
        return float(self.now.timestamp())

    def as_clock(self) -> Clock:
        """This fake time as the provider's one time seam (the same object each time, so hooks share a limiter)."""
        if not hasattr(self, "_clock"):
            self._clock = Clock(now=self.clock, monotonic=self.monotonic, sleep=self.sleep, asleep=self.async_sleep)
        return self._clock


def body_of(request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a request the hook sent."""
    return json.loads(request.content)
