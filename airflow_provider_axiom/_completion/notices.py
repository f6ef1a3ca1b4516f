"""What the key's shared poller has to say about one wait, said by that wait itself, in its own task's log.

The poller is one background task per key and event loop, started by whichever wait came first. A
log call made in it would land in that first wait's task log: Airflow's triggerer routes a log line
to a trigger's log by the context of the coroutine that logs, and a task inherits the context of the
coroutine that created it. So the poller runs in a context of its own (:func:`own_context`) and
never logs about a run: it posts a notice to the wait it is about (an :class:`Inbox`), and the wait
says it from its own coroutine (:func:`wait_saying`), with its trigger's or operator's logger, once.
What the poller logs itself concerns every wait on the key, and says so (:func:`key_scope`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from airflow_provider_axiom._calls import LOG_SCOPE

T = TypeVar("T")


def key_scope(fingerprint: str) -> str:
    """How the poller's own lines name what they concern: the key (its fingerprint), not any one task."""
    return f"key {fingerprint}, for every run waited for with it"


def own_context(fingerprint: str) -> contextvars.Context:
    """A fresh context for the poller's task: none of the wait's that started it (its trigger's log)."""
    context = contextvars.Context()
    context.run(LOG_SCOPE.set, key_scope(fingerprint))
    return context


@dataclass(frozen=True)
class Notice:
    """One log line about a run, to be said by its wait: a ``logging`` level, a message and its args."""

    level: int
    msg: str
    args: tuple[Any, ...] = ()

    def say(self, logger: Any) -> None:
        logger.log(self.level, self.msg, *self.args)


class Inbox(Generic[T]):
    """Items posted by the poller for one wait, taken by the wait's own coroutine."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self.arrived = asyncio.Event()  # set by a post, and by the wait's :class:`Done`

    def post(self, item: T) -> None:
        self._items.append(item)
        self.arrived.set()

    def take(self) -> list[T]:
        items, self._items = self._items, []
        self.arrived.clear()
        return items


class Done(asyncio.Event):
    """A wait's ``done``, which also wakes its inbox: the wait awaits one event for both, as promptly
    as it awaited ``done`` alone (with injected time, a wait that woke a step late let the poller sleep
    a tick more)."""

    def __init__(self, inbox: Inbox[Any]) -> None:
        super().__init__()
        self.inbox = inbox

    def set(self) -> None:
        super().set()
        self.inbox.arrived.set()


async def wait_saying(done: Done, handle: Callable[[Any], None], timeout: float | None = None) -> bool:
    """Wait for ``done`` (at most ``timeout`` seconds), handling what arrives in its inbox meanwhile, here.

    ``handle`` runs in the caller's coroutine, so what it logs goes to the caller's task log. Everything
    posted before ``done`` was set is handled before this returns. False when ``timeout`` passed first.
    """
    loop = asyncio.get_running_loop()
    until = None if timeout is None else loop.time() + max(0.0, timeout)
    arrived = done.inbox.arrived
    while True:
        for item in done.inbox.take():
            handle(item)
        if done.is_set():
            return True
        if until is None:
            await arrived.wait()
            continue
        try:
            await asyncio.wait_for(arrived.wait(), timeout=max(0.0, until - loop.time()))
        except asyncio.TimeoutError:
            for item in done.inbox.take():
                handle(item)
            return done.is_set()
