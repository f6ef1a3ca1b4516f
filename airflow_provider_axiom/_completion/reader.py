"""The poller's reads through ``/run-data``, and the rows machines they drive.

A :class:`Reader` serves the key's read queue (``reads``): it sends each read when its turn comes,
hands the answer or the error to the read's :class:`~airflow_provider_axiom._completion.rows.RowsRead`
(a run's rows) or judges the status it reads (a run by its run id, a run beyond the widest window),
feeds every later read of the reports to the rows machines not yet settled, and settles them: a
waiting task's waiter is finished, an asset watcher's read is handed back. Once rows have been read it
asks the poller for its next tick now (:meth:`KeyPoller.tick_soon`), and the poller ticks at once when
the key's budget has room for it (:meth:`Reader.room`: no read due or in flight, the limiter's next
slot free), so rows are confirmed without waiting a whole tick, by a read that also looks for every
other run's end; without room, the tick at the interval confirms them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom import _metrics, _run_ids
from airflow_provider_axiom._completion.notices import Notice, wait_saying
from airflow_provider_axiom._completion.reads import Read, ReadKind, ReadQueue
from airflow_provider_axiom._completion.rows import Listing, RowsRead
from airflow_provider_axiom._completion.waiter import Waiter, say_no_rows, say_retry
from airflow_provider_axiom._matching import DataUnavailable, RunObservation, deep_observation
from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._transport import MIN_SLEEP
from airflow_provider_axiom.exceptions import AxiomError, AxiomOutputUnreadableError
from airflow_provider_axiom.results import RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom._completion.poller import KeyPoller

#: Read attempts a watcher's rows may take (``/run-data`` failing transiently, again on later ticks).
WATCH_READ_TRIES = 5


class Reader:
    """The reads of one poller: its queue and its rows machines."""

    def __init__(self, poller: KeyPoller) -> None:
        self.poller = poller
        self.hook = poller.hook
        self.queue = ReadQueue(self._read)
        self.pending: list[Read] = []  # the reads whose rows are not yet settled (queued, read or confirming)

    def forget(self, waiter: Waiter) -> None:
        """A waiter left: its reads are not made."""
        self.queue.drop(lambda r: r.waiter is not waiter)
        self.pending = [r for r in self.pending if r.waiter is not waiter]

    def crash(self) -> None:
        """The poller died: every watcher's read waited for is over (unsettled)."""
        for read in self.pending:
            read.over.set()

    def reach(self) -> list[DateTime]:
        """The start times of the runs whose rows are being read, tasks' and watchers' (the reads of the
        reports must reach them to confirm them)."""
        return [r.rows.created_at for r in self.pending if r.rows and not r.rows.done and r.rows.created_at]

    async def rows_of(
        self, name: str, created_at: DateTime, latest: list[RunReport], say: Callable[[Notice], None]
    ) -> tuple[dict[str, Any] | None, DataUnavailable | None]:
        """The rows of a successful run of ``name`` created at ``created_at`` when provably its own, else why not.

        ``latest``: the reports it was seen to end in; ``say`` says the read's notices (a failed
        read), in the caller's coroutine.
        """
        rows = RowsRead(name, created_at, max_failures=WATCH_READ_TRIES)
        rows.reports(latest, float("-inf"))  # not the newest already: no read
        if rows.done:
            return None, rows.unavailable
        read = Read("rows", rows=rows)
        self.pending.append(read)
        self.queue.put(read)
        await wait_saying(read.over, say)
        return (rows.rows, rows.unavailable) if rows.done else (None, "unreadable")

    def start_read(self, waiter: Waiter, kind: ReadKind) -> None:
        waiter.phase = "reading"
        self.queue.put(Read(kind, waiter=waiter))

    def start_rows(self, waiter: Waiter, rows: RowsRead) -> Read:
        waiter.phase, waiter.output = "reading", rows
        read = Read("rows", waiter=waiter, rows=rows)
        self.pending.append(read)
        return read

    # -- the rows machines: fed every read of the reports, settled once done

    def feed(self, reports: list[RunReport], sent: float, *, full: bool) -> None:
        """Hand a read of the reports to every rows machine not yet settled (indexed once for them all);
        ``full``: it came back as long as it was asked."""
        listing = Listing(reports, full=full)
        for read in list(self.pending):
            assert read.rows is not None
            read.rows.reports(listing, sent)
            self._settle(read)

    def _settle(self, read: Read) -> None:
        rows, waiter = read.rows, read.waiter
        if rows is None:
            return
        if waiter is not None and rows.state == "confirming":
            waiter.phase = "confirming"
        if not rows.done:
            return
        if read in self.pending:
            self.pending.remove(read)
        read.over.set()
        if waiter is None or waiter.done.is_set():
            return
        if rows.unavailable is None:
            waiter.finish(waiter.obs, rows=rows.rows)
        elif rows.unavailable == "unreadable":
            err = rows.error
            if err is None:
                err = AxiomOutputUnreadableError(
                    f"the run of {rows.name!r} succeeded but no later run report listed it, so its output "
                    "cannot be shown to be its own",
                    endpoint="/run-reports",
                )
            elif err.retryable:
                err = AxiomOutputUnreadableError.after(rows.name, err)
            waiter.finish(error=err)
        else:
            say_no_rows(waiter.tell, rows.name, rows.unavailable)
            waiter.finish(waiter.obs, unavailable=rows.unavailable)

    def unconfirmed(self, since: float) -> bool:
        """Whether rows read after ``since`` (a read of the reports' send time) wait to be confirmed."""
        return any(
            r.rows is not None and r.rows.state == "confirming" and r.rows.answered_at > since for r in self.pending
        )

    async def room(self) -> bool:
        """Whether the key's budget has room for a read of the reports now: no read due or in flight (reads
        go first), and the limiter's next slot at most one spacing away (give or take a wait too short to sleep)."""
        if self.queue.busy:
            return False
        limiter = (await self.hook.atransport()).limiter
        return limiter.free_in() <= limiter.spacing + MIN_SLEEP

    # -- reads through /run-data

    async def _read(self, read: Read) -> None:
        try:
            if read.kind == "rows":
                await self._read_rows(read)
            else:
                await self._read_status(read)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: every waiter learns of it, none hangs
            self.poller.crash(exc)
        finally:
            if self.unconfirmed(self.poller.last_sent):
                self.poller.tick_soon()  # it ticks at once if the budget has room (see ``room``)

    async def _read_rows(self, read: Read) -> None:
        rows, waiter = read.rows, read.waiter
        assert rows is not None
        if rows.done or (waiter is not None and waiter.done.is_set()):
            return
        run_id = self.poller.judged(waiter).run_id if waiter is not None else None
        rows.by_id = run_id is not None
        rows.sending()
        try:
            run = await self.hook.aget_run_data(rows.name, run_id=run_id)
        except AxiomError as err:
            if waiter is not None and run_id is not None and _run_ids.refused(self.hook, "run-data", err):
                waiter.by_id, waiter.id_refused, waiter.phase, waiter.ended_seen = False, True, "watching", 0
                self.pending.remove(read)
                return
            _metrics.output_read_failed(self.hook.axiom_conn_id)
            rows.failed(err, self.poller.ticks)
            if not rows.done:
                say_retry(read.tell, f"reading /run-data of {rows.name!r}", rows.failures, rows.max_failures, err)
                self.queue.put(read, after_tick=rows.after_tick, again=True)
            self._settle(read)
            return
        rows.answered(run, self.hook.clock.monotonic())
        if rows.unavailable == "superseded" and waiter is not None and waiter.obs is not None:
            waiter.tell(
                logging.WARNING,
                "axiom.ai: /run-data for %r says %r while this run is %r: another run is now the latest, "
                "so this run's output is not available",
                rows.name,
                run.status,
                waiter.obs.raw_status,
            )
        self._settle(read)

    async def _read_status(self, read: Read) -> None:
        """A run's status by ``/run-data``: by its run id, or beyond the widest report window.

        A by-id read refused with a 4xx never fails the waiter: it goes back to watching, by name and start time.
        """
        waiter = read.waiter
        assert waiter is not None
        if waiter.done.is_set():
            return
        ref = self.poller.judged(waiter, fresh=True)
        if read.kind == "by_id" and ref.run_id is None:  # the proof was forgotten since: watch by name
            waiter.phase = "watching"
            return
        try:
            run = await self.hook.aget_run_data(ref.automation_name, run_id=ref.run_id)
        except AxiomError as err:
            if ref.run_id is not None and _run_ids.refused(self.hook, "run-data", err):
                waiter.by_id, waiter.id_refused, waiter.phase, waiter.ended_seen = False, True, "watching", 0
                return
            if not waiter.failed(err, f"reading /run-data of {ref.automation_name!r}"):
                self.queue.put(read, after_tick=self.poller.ticks + 1, again=True)
            return
        waiter.failures = 0
        state = run_state(run.status)
        if read.kind == "by_id":
            if not state.over:
                waiter.phase = "watching"
                return
            seen = waiter.obs
            report = seen.report if seen is not None and seen.report is not None and seen.state == state else None
            obs = RunObservation(state, report, is_newest=True, raw_status=run.status, by_id=True)
            if not state.succeeded:
                waiter.finish(obs, unavailable="run_failed")
            elif waiter.fetch_output:
                waiter.finish(obs, rows=run.data)
            else:
                waiter.finish(obs, unavailable="not_requested")
            return
        deep = deep_observation(ref, run, listed=ref.automation_name in self.poller.listed)
        if deep is None:
            waiter.phase = "watching"
            return
        waiter.obs = deep
        if not deep.state.succeeded or not waiter.fetch_output:
            waiter.finish(deep, unavailable="not_requested" if deep.state.succeeded else "run_failed")
            return
        rows = RowsRead(ref.automation_name, ref.created_at, deep.state, beyond=ref.run_id is None)
        rows.by_id = ref.run_id is not None
        settled = self.start_rows(waiter, rows)
        rows.answered(run, self.hook.clock.monotonic())
        self._settle(settled)
