"""The shared poller: one ``/run-reports`` call per tick for every run waited for with one key in one event loop.

Each tick reads the latest reports once and hands them to :func:`~airflow_provider_axiom._matching.match`,
which assigns runs to every waiter together, and to every listener (asset watchers, held triggers).
What then needs ``/run-data`` (a successful run's rows, the status of a run with a run id, a run
beyond the widest window) goes to the read queue (``reads``), a waiting task's read and an asset
watcher's alike, at the pace the key's limiter allows. A run's rows are read and confirmed by one
state machine (``rows``): a later tick's read confirms them. Once rows have been read the next tick
comes at once, not at the interval, when the key's budget has room for it: the read that confirms
them also looks for every other run's end, and the tick after it comes an interval later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom import _metrics, _run_ids
from airflow_provider_axiom._completion.notices import Notice, key_scope, own_context
from airflow_provider_axiom._completion.reader import Reader
from airflow_provider_axiom._completion.reads import READS_IN_FLIGHT
from airflow_provider_axiom._completion.rows import RowsRead
from airflow_provider_axiom._completion.waiter import Member, ReportListener, Waiter, say_no_rows
from airflow_provider_axiom._matching import (
    DataUnavailable,
    Rules,
    RunObservation,
    match,
    needs_deep_look,
    rows_unavailable,
)
from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._report_window import MAX_REPORT_WINDOW, REPORT_WINDOW, narrower, reaches, wider
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

__all__ = ["MAX_REPORT_WINDOW", "READS_IN_FLIGHT", "REPORT_WINDOW", "KeyPoller", "ReportListener", "Waiter"]

#: While reads queue behind the key's budget and no run is watched for its end (every open waiter is
#: reading or confirming its rows, and nothing listens), a tick comes this many poll intervals apart:
#: it only confirms rows then, a few more at a time, and each call the poll saves is a read sooner.
QUEUED_TICK = 2.0


class KeyPoller:
    """One ``/run-reports`` call per tick for every run waited for with one key in one event loop."""

    def __init__(
        self,
        hook: AxiomHook,
        key: tuple[int, str, str] | None = None,
        on_idle: Callable[[KeyPoller], None] | None = None,
    ) -> None:
        self.hook = hook
        self.key = key
        self.members: list[Member] = []
        self.window = REPORT_WINDOW
        self.ticks = 0
        self.claimed: dict[str, list[DateTime]] = {}  # runs already assigned to waiters that finished
        self.reader = Reader(self)  # the reads through /run-data, and the rows machines they drive
        self._on_idle = on_idle  # told when the poller stops with nobody left (the registry forgets it)
        self._task: asyncio.Task[None] | None = None
        self._reading: asyncio.Task[None] | None = None
        self._deep_turn = 0
        self.listed: set[str] = set()  # names with at least one report in the last read
        self.last_sent = float("-inf")  # monotonic send time of the last tick's read
        self._soon = asyncio.Event()  # rows wait to be confirmed: tick now if the budget has room

    # -- membership: waiters and listeners join and leave alike

    def join(self, member: Member, *, start: bool = True) -> None:
        """Serve ``member`` from the next tick on (``start=False``: a single look drives the ticks itself)."""
        self.members.append(member)
        if start:
            self._ensure_running()

    def leave(self, member: Member) -> None:
        if member in self.members:
            self.members.remove(member)
        if isinstance(member, Waiter):
            ref = member.ref
            if ref.created_at is not None and ref.kind != "first_since":
                self.claimed.setdefault(ref.automation_name, []).append(ref.created_at)
            self.reader.forget(member)
        self._stop_if_idle()

    @property
    def waiters(self) -> list[Waiter]:
        return [m for m in self.members if isinstance(m, Waiter)]

    @property
    def listeners(self) -> list[ReportListener]:
        return [m for m in self.members if not isinstance(m, Waiter)]

    def names_waited(self) -> set[str]:
        """The automations of the runs waited for now."""
        return {w.ref.automation_name for w in self.waiters if not w.done.is_set()}

    def triggers_waited(self) -> set[tuple[str, DateTime | None]]:
        """The automation and trigger time of every wait joined, those with their outcome too (the slot
        hold's grants: a grant is let go by the first wait of its automation triggered after it)."""
        return {(w.ref.automation_name, w.ref.triggered_at) for w in self.waiters}

    @property
    def fingerprint(self) -> str:
        """The key as logs name it (a fingerprint, never the key)."""
        if self.key is not None:
            return self.key[2]
        settings = self.hook.settings_if_resolved()
        return key_fingerprint(settings.api_key) if settings is not None else "(unresolved)"

    def _ensure_running(self) -> None:
        # In a context of its own: the poller's task serves every wait on the key, so what it logs
        # must not land in the log of the trigger that happened to start it (see ``notices``).
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()  # a task copies the context it is created in
            self._task = own_context(self.fingerprint).run(loop.create_task, self._run())

    def _stop_if_idle(self) -> None:
        if self.members or self._task is None or self._task is asyncio.current_task():
            return
        self._task.cancel()  # nobody waits or listens: no call is left running for nothing

    @property
    def running(self) -> bool:
        """Whether the poller ticks in a task of its own (a single look drives its ticks itself)."""
        return self._task is not None

    async def rows_of(
        self, name: str, created_at: DateTime, latest: list[RunReport], say: Callable[[Notice], None]
    ) -> tuple[dict[str, Any] | None, DataUnavailable | None]:
        """An asset watcher's run's rows when provably its own, else why not: the rule, the read queue and
        the in-flight limit of the waiting tasks' rows (see :meth:`Reader.rows_of`)."""
        return await self.reader.rows_of(name, created_at, latest, say)

    def rules(self) -> Rules:
        settings = self.hook.settings_if_resolved()
        return Rules.from_settings(settings) if settings is not None else Rules()

    # -- the loops

    async def _run(self) -> None:
        clock = self.hook.clock
        self._reading = asyncio.get_running_loop().create_task(self.reader.queue.serve())
        try:
            while self.members:
                began = clock.monotonic()
                await self.tick()
                if not self.members:
                    break
                # the next tick, or the earliest deadline if sooner: no waiter's deadline is slept past
                interval = min(m.poll_interval for m in self.members)
                if self.reader.queue.backlog and not self._watching():
                    interval *= QUEUED_TICK
                wait = interval - (clock.monotonic() - began)
                now = clock.now()
                soonest = min(((w.deadline - now).total_seconds() for w in self.waiters), default=wait)
                await self._pause(max(0.0, min(wait, soonest)))
        except asyncio.CancelledError:
            if self.members:  # cancelled from outside while runs are waited for: they learn of it
                self.crash(asyncio.CancelledError())
            raise
        except BaseException as exc:  # a bug, a kill: every waiter learns of it
            self.crash(exc)
            raise
        finally:
            self._task = None
            if self._reading is not None:
                self._reading.cancel()
            if not self.members and self._on_idle is not None:
                self._on_idle(self)
            await self.hook.aclose()

    def tick_soon(self) -> None:
        """Rows wait to be confirmed: tick now rather than at the interval, once the budget has room."""
        self._soon.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` until the next tick, or less: until rows read since the last tick wait to be
        confirmed and the key's budget has room for a read of the reports (:meth:`Reader.room`)."""
        clock = self.hook.clock
        if seconds <= 0:
            await clock.asleep(0)  # a deadline is due: let its waiter run before the next tick
            return
        until = clock.monotonic() + seconds
        while (left := until - clock.monotonic()) > 0:
            if self._soon.is_set():
                self._soon.clear()
                if self.reader.unconfirmed(self.last_sent) and await self.reader.room():
                    return
                continue  # no room yet: a read still due or in flight asks again when it is over
            sleep = asyncio.ensure_future(clock.asleep(left))
            soon = asyncio.ensure_future(self._soon.wait())
            try:
                await asyncio.wait({sleep, soon}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleep.cancel()
                soon.cancel()
            if sleep.done() and not sleep.cancelled():
                return

    def _watching(self) -> bool:
        """Whether a tick is needed to see runs end: a run still watched, or a listener."""
        return bool(self.listeners) or any(w.phase == "watching" and not w.done.is_set() for w in self.waiters)

    def crash(self, exc: BaseException) -> None:
        """The poller died (a bug, a kill): every waiter and listener learns of it, none hangs."""
        for waiter in self.waiters:
            waiter.crash = exc
            waiter.done.set()
        self.reader.crash()
        self._notify(None, exc)

    async def turn(self) -> None:
        """One tick and every read it makes due, run here one after the other (a single look)."""
        await self.tick()
        await self.reader.queue.drain()

    # -- one tick

    async def tick(self) -> None:
        """One look for every open waiter: one ``/run-reports`` call, and the reads it makes due."""
        clock = self.hook.clock
        now = clock.now()
        for waiter in self.waiters:
            if not waiter.done.is_set() and now >= waiter.deadline:
                waiter.timed_out = True
                waiter.done.set()
        open_waiters = [w for w in self.waiters if not w.done.is_set()]
        listeners = self.listeners
        _metrics.runs_waited(self.hook.axiom_conn_id, len(open_waiters))
        _metrics.watchers(self.hook.axiom_conn_id, len(listeners))
        if not open_waiters and not listeners:
            return
        self.ticks += 1
        self.reader.queue.tick = self.ticks
        self.last_sent = sent = clock.monotonic()
        try:
            reports = await self.hook.aget_run_reports(self.window)
        except AxiomError as err:
            log.warning("axiom.ai: reading the run reports failed (%s): %s", key_scope(self.fingerprint), err)
            self._notify(None, err)
            for waiter in open_waiters:
                if waiter.phase != "reading":
                    waiter.failed(err, "a look at run reports")
            self.reader.queue.wake()  # reads put off to this tick go now
            return
        self._notify(reports, sent=sent)
        full = len(reports) >= self.window
        oldest = min((r.created_at for r in reports), default=None)
        reach = self._reach()  # a listener or a run whose rows are read may need older reports too
        short = full and reach is not None and oldest is not None and oldest >= reach
        self.listed = {r.task_name for r in reports}
        if await self._proof_pending(open_waiters):
            return  # decide nothing while the key's run-id proof is in flight elsewhere: one tick, at most a call
        self.reader.feed(reports, sent, full=full)
        for waiter in open_waiters:
            if waiter.phase == "confirming":
                waiter.failures = 0  # this read served it: failed looks count only in a row
        watching = [w for w in open_waiters if w.phase == "watching"]
        observed = match(
            [w.ref for w in watching],
            reports,
            now=self.hook.server_now(),
            oldest=oldest,
            full=full,
            rules=self.rules(),
            claimed=[t for w in watching for t in self.claimed.get(w.ref.automation_name, [])],
        )
        self._forget_claims(open_waiters)
        deep: list[Waiter] = []
        for waiter, (ref, obs) in zip(watching, observed, strict=True):
            waiter.failures = 0
            waiter.ref, waiter.obs = ref, obs
            judged = self.judged(waiter, fresh=True)
            complete = reaches(oldest, full, ref.anchor)
            if needs_deep_look(judged, obs, complete=complete, window=self.window):
                deep.append(waiter)
            elif obs.report is None and not complete and self.window < MAX_REPORT_WINDOW:
                deep.append(waiter)  # its run may lie beyond the reports read: widen
            elif judged.run_id is not None:
                self._watch_by_id(waiter, reports)
            elif obs.state.ends_wait:
                self._ended(waiter, obs)
        if (deep or short) and self.window < MAX_REPORT_WINDOW:
            self.window = wider(self.window)
            log.info(
                "axiom.ai: reading the latest %d run reports to reach the oldest run waited for (%s)",
                self.window,
                key_scope(self.fingerprint),
            )
        elif deep:
            self._deep_turn = (self._deep_turn + 1) % len(deep)
            self.reader.start_read(deep[self._deep_turn], "deep")
        elif not short:
            anchors = [w.ref.anchor for w in self.waiters if not w.done.is_set()]
            if reach is not None:
                anchors.append(reach)
            self.window = narrower(self.window, reports, anchors)
        self.reader.queue.wake()

    def _notify(self, reports: list[RunReport] | None, error: BaseException | None = None, sent: float = 0.0) -> None:
        full = reports is not None and len(reports) >= self.window
        oldest = min((r.created_at for r in reports or ()), default=None)
        for listener in self.listeners:
            if reports is None:
                listener.on_error(error or RuntimeError("no reports"))
                continue
            reach = listener.reach()
            listener.on_reports(reports, not full or oldest is None or reach is None or oldest < reach, sent)

    def _reach(self) -> DateTime | None:
        """How far back a read must reach for the listeners and for every run whose rows are being read."""
        reaches = [r for r in (listener.reach() for listener in self.listeners) if r is not None]
        reaches += self.reader.reach()
        return min(reaches, default=None)

    # -- run ids: used only where the API has shown, for this key, that it reads them

    def judged(self, waiter: Waiter, *, fresh: bool = False) -> RunRef:
        """The ref the rules see: with its run id only when the API reads run ids (``fresh``: ask again).

        So an answer to a request that could carry an unproven id is judged exactly as one by name.
        """
        if fresh:
            has_id = waiter.ref.run_id is not None and not waiter.id_refused
            waiter.by_id = has_id and _run_ids.reads(self.hook, "run-data")
        return waiter.ref if waiter.by_id else replace(waiter.ref, run_id=None)

    async def _proof_pending(self, open_waiters: list[Waiter]) -> bool:
        """Send the key's one ``/run-data`` proof once a run with a run id is listed (its name has a run);
        True while another poller's proof is still awaited (runs are then matched on the next tick)."""
        named = [w.ref.automation_name for w in open_waiters if w.ref.run_id is not None]
        listed = [name for name in named if name in self.listed]
        if listed and _run_ids.due(self.hook, "run-data"):
            await _run_ids.aprove_run_data(self.hook, listed[0])
        return bool(named) and _run_ids.proving(self.hook, "run-data")

    def _forget_claims(self, open_waiters: list[Waiter]) -> None:
        """Claimed runs older than every open window of their automation can no longer be anyone's candidate."""
        for name in list(self.claimed):
            since = [w.ref.not_before for w in open_waiters if w.ref.automation_name == name]
            kept = [t for t in self.claimed[name] if since and t >= min(since)]
            if kept:
                self.claimed[name] = kept
            else:
                del self.claimed[name]

    def _watch_by_id(self, waiter: Waiter, reports: list[RunReport]) -> None:
        """A run with a run id: its status is read by id whenever a run of its name in its window ends."""
        ended = sum(
            1
            for r in reports
            if r.task_name == waiter.ref.automation_name
            and waiter.ref.contains(r.created_at)
            and run_state(r.status).over
        )
        if ended > waiter.ended_seen:
            waiter.ended_seen = ended
            self.reader.start_read(waiter, "by_id")

    def _ended(self, waiter: Waiter, obs: RunObservation) -> None:
        """A run (or every candidate run) ended: read its rows, or finish."""
        if not obs.state.succeeded:
            waiter.finish(obs, unavailable="run_failed" if obs.state is RunState.FAILURE else None)
            return
        why = rows_unavailable(self.judged(waiter), obs) if waiter.fetch_output else "not_requested"
        if why is not None:
            say_no_rows(waiter.tell, waiter.ref.automation_name, why)
            waiter.finish(obs, unavailable=why)
            return
        ref = waiter.ref
        rows = RowsRead(ref.automation_name, ref.created_at, obs.state, waiter.max_consecutive_errors)
        self.reader.queue.put(self.reader.start_rows(waiter, rows))
