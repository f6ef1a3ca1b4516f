"""The poller's read queue: its ``/run-data`` reads, first come first served, a few in flight at once.

Every read of one key's poller goes through here, a waiting task's and an asset watcher's alike: the
rows of a successful run (:class:`~airflow_provider_axiom._completion.rows.RowsRead`), the status of a
run read by its run id, and a run looked up beyond the widest report window. Reads go in the order they
became due (the order their runs were seen to end), so when they queue behind the key's budget no run's
rows wait behind runs that ended after it; a failed read waits for a later tick (``after_tick``). More
than one is in flight, so that a read stuck in its retries (a long burst of 5xx, a 429 pause) does not
hold every other read back behind it; the key's rate limiter spaces them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_axiom._completion.notices import Done, Inbox, Notice

if TYPE_CHECKING:
    from airflow_provider_axiom._completion.rows import RowsRead
    from airflow_provider_axiom._completion.waiter import Waiter

#: ``/run-data`` reads in flight at once per poller.
READS_IN_FLIGHT = 4

ReadKind = Literal["rows", "by_id", "deep"]


@dataclass(eq=False)
class Read:
    """One queued read: what it reads, for whom (a waiting task's waiter, or a watcher's rows alone)."""

    kind: ReadKind
    waiter: Waiter | None = None
    rows: RowsRead | None = None
    order: int = 0
    after_tick: int = 0
    #: What the poller has to say about a watcher's read, said by the watcher (a waiter has its own)
    notices: Inbox[Notice] = field(default_factory=Inbox)
    #: Set once the read is over for good (a watcher awaits it); its rows machine says how it ended.
    over: Done = field(init=False)

    def __post_init__(self) -> None:
        self.over = Done(self.notices)

    def tell(self, level: int, msg: str, *args: Any) -> None:
        """Say ``msg`` in the log of the task the read is for (by its own wait or watcher)."""
        if self.waiter is not None:
            self.waiter.tell(level, msg, *args)
        else:
            self.notices.post(Notice(level, msg, args))


class ReadQueue:
    """Due reads, served first come first served with at most ``in_flight`` at once."""

    def __init__(self, run: Callable[[Read], Awaitable[None]], in_flight: int = READS_IN_FLIGHT) -> None:
        self._run = run
        self.in_flight = in_flight
        self._due: list[Read] = []
        self._running: dict[Read, asyncio.Task[None]] = {}
        self._order = itertools.count(1)
        self._wake = asyncio.Event()
        self.tick = 0  # the poller's tick count: a read put off to a later tick waits for it

    def put(self, read: Read, *, after_tick: int = 0, again: bool = False) -> None:
        """Queue ``read`` (``again``: a retry keeps its place in the order)."""
        if not again or not read.order:
            read.order = next(self._order)
        read.after_tick = after_tick
        self._due.append(read)
        self._wake.set()

    def drop(self, keep: Callable[[Read], bool]) -> None:
        """Forget the due reads ``keep`` rejects (their waiter finished, say)."""
        self._due = [r for r in self._due if keep(r)]

    def next(self) -> Read | None:
        """The read whose turn it is, taken off the queue (None: none is due yet)."""
        due = [r for r in self._due if r.after_tick <= self.tick]
        if not due:
            return None
        read = min(due, key=lambda r: r.order)
        self._due.remove(read)
        return read

    @property
    def waiting(self) -> int:
        """Reads due now that have no turn yet (behind the in-flight limit, or not yet started)."""
        return sum(1 for r in self._due if r.after_tick <= self.tick)

    @property
    def _in_flight(self) -> int:
        return sum(1 for task in self._running.values() if not task.done())

    @property
    def backlog(self) -> int:
        """Due reads beyond what may go in flight now: reads queued behind the key's budget."""
        return max(0, self.waiting - (self.in_flight - self._in_flight))

    @property
    def busy(self) -> bool:
        """Whether a read is due or in flight."""
        return self._in_flight > 0 or self.waiting > 0

    def pending(self) -> list[Read]:
        """Every read not yet over: queued, put off or in flight."""
        return [*self._due, *self._running]

    def wake(self) -> None:
        self._wake.set()

    async def serve(self) -> None:
        """Run the due reads in the background, up to ``in_flight`` at once, until cancelled."""
        try:
            while True:
                for finished in [r for r, task in self._running.items() if task.done()]:
                    del self._running[finished]
                if len(self._running) >= self.in_flight or (read := self.next()) is None:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                self._running[read] = asyncio.get_running_loop().create_task(self._run_then_wake(read))
        finally:
            for task in self._running.values():
                task.cancel()
            self._running.clear()

    async def _run_then_wake(self, read: Read) -> None:
        try:
            await self._run(read)
        finally:
            self._wake.set()

    async def drain(self) -> None:
        """Run every due read here, one after the other (a single look, which has no background task)."""
        while (read := self.next()) is not None:
            await self._run(read)
