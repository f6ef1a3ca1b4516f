"""The one wait helper of the tests: poll for a condition, with a deadline, instead of a fixed sleep.

``wait_for`` in plain code, ``wait_for_async`` inside an event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.25,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` until it returns something truthy; at most ``timeout`` seconds and a bounded count."""
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 2):
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    details = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last value: {last!r}\n{details}")


async def wait_for_async(what: str, probe: Callable[[], T | None], *, timeout: float, interval: float = 0.25) -> T:
    """:func:`wait_for` inside an event loop: the loop runs on while it waits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 2):
        last = probe()
        if last:
            return last
        if loop.time() >= deadline:
            break
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last value: {last!r}")
