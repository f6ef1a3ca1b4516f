"""The shared poller: one ``/run-reports`` call per tick for every run waited for with one key in one event loop.

Each tick reads the latest reports once and hands them to :func:`~airflow_provider_axiom._matching.match`,
which assigns runs to every waiter together. What then needs ``/run-data`` (a successful run's rows,
the status of a run with a run id, a run beyond the widest window) goes to one reader, one call at a
time, at the pace the key's limiter allows, so a tick never queues behind more than one such read.
A read that fails is tried again on a later tick, up to ``max_consecutive_errors``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pendulum import DateTime

from airflow_provider_axiom import _metrics, _run_ids
from airflow_provider_axiom._completion.notices import Done, Inbox, Notice, key_scope, own_context
from airflow_provider_axiom._matching import (
    DataUnavailable,
    Rules,
    RunObservation,
    deep_observation,
    match,
    needs_deep_look,
    rows_unavailable,
)
from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._report_window import MAX_REPORT_WINDOW, REPORT_WINDOW, narrower, reaches, wider
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom._runs import output_of, still_newest
from airflow_provider_axiom.exceptions import AxiomError, AxiomOutputUnreadableError
from airflow_provider_axiom.results import RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

__all__ = ["MAX_REPORT_WINDOW", "REPORT_WINDOW", "KeyPoller", "ReportListener", "Waiter", "poller_for"]

Phase = Literal["watching", "reading", "confirming", "done"]

#: ``/run-data`` reads in flight at once per poller.
READS_IN_FLIGHT = 4


@dataclass(eq=False)
class Waiter:
    """One run being waited for, as the poller sees it."""

    ref: RunRef
    deadline: DateTime
    poll_interval: float = 5.0
    max_consecutive_errors: int = 5
    fetch_output: bool = True
    phase: Phase = "watching"
    obs: RunObservation | None = None
    rows: dict[str, Any] | None = None
    unavailable: DataUnavailable | None = None
    error: AxiomError | None = None
    timed_out: bool = False
    crash: BaseException | None = None  # the poller died: re-raised in the waiter, never a hang
    failures: int = 0  # failed looks or reads in a row
    read: Literal["rows", "by_id", "deep"] = "rows"
    read_after_tick: int = 0  # a failed read is tried again on a later tick, not at once
    read_queued: int = 0  # when its read became due (the poller's count): reads go first come, first served
    read_done_at: float = 0.0  # monotonic: the rows are confirmed by a reports read sent after this
    ended_seen: int = 0  # run id: ended runs in its window at the last read by id
    by_id: bool = False  # its run id is read by the API (proven for the key): the rules see the id
    id_refused: bool = False  # a read by its run id was refused (expired?): by name from then on
    #: What the poller has to say about this run: said by the wait itself, in its own task's log
    notices: Inbox[Notice] = field(default_factory=Inbox)
    done: Done = field(init=False)

    def __post_init__(self) -> None:
        self.done = Done(self.notices)  # wakes the wait for its notices too

    def tell(self, level: int, msg: str, *args: Any) -> None:
        """Say ``msg`` in this run's task log (posted here; its wait logs it, never the poller's task)."""
        self.notices.post(Notice(level, msg, args))

    def finish(
        self,
        obs: RunObservation | None = None,
        *,
        error: AxiomError | None = None,
        rows: dict[str, Any] | None = None,
        unavailable: DataUnavailable | None = None,
    ) -> None:
        self.obs = obs if obs is not None else self.obs
        self.error, self.rows, self.unavailable = error, rows, unavailable
        self.phase = "done"
        self.done.set()

    def failed(self, err: AxiomError, what: str) -> bool:
        """Count a failed look or read; True when the waiter has had enough (it is then finished)."""
        self.failures += 1
        if err.retryable and self.failures < self.max_consecutive_errors:
            self.tell(
                logging.WARNING,
                "axiom.ai: %s failed (%d/%d), trying again: %s",
                what,
                self.failures,
                self.max_consecutive_errors,
                err,
            )
            return False
        if err.retryable and self.phase == "reading" and self.read == "rows":
            err = AxiomOutputUnreadableError.after(self.ref.automation_name, err)
        self.finish(error=err)
        return True


class ReportListener(Protocol):
    """Something that reads every tick's run reports without waiting for one run (an asset watcher).

    Registered with :meth:`KeyPoller.add_listener`; while registered it keeps the poller ticking.
    """

    poll_interval: float

    def reach(self) -> DateTime | None:
        """The oldest ``created_at`` the read must reach back to (None: the latest reports will do)."""

    def on_reports(self, reports: list[RunReport], complete: bool, sent: float) -> None:
        """One tick's reports, newest first; ``complete``: the read reaches back past :meth:`reach`;
        ``sent``: when the read was sent (the clock's ``monotonic``)."""

    def on_error(self, error: BaseException) -> None:
        """The tick's read failed (an ``AxiomError``), or the poller died (anything else)."""


class KeyPoller:
    """One ``/run-reports`` call per tick for every run waited for with one key in one event loop."""

    def __init__(self, hook: AxiomHook, key: tuple[int, str, str] | None = None) -> None:
        self.hook = hook
        self.key = key
        self.waiters: list[Waiter] = []
        self.listeners: list[ReportListener] = []
        self.window = REPORT_WINDOW
        self.calls = 0  # /run-reports calls made (for tests and benchmarks)
        self.ticks = 0
        self.claimed: dict[str, list[DateTime]] = {}  # runs already assigned to waiters that finished
        self._task: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._wake_reader = asyncio.Event()
        self._deep_turn = 0
        self._listed: set[str] = set()  # names with at least one report in the last read
        self._reads_queued = itertools.count(1)

    # -- membership

    def add(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)
        self._ensure_running()

    def remove(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        if waiter.ref.created_at is not None and waiter.ref.kind != "first_since":
            self.claimed.setdefault(waiter.ref.automation_name, []).append(waiter.ref.created_at)
        self._stop_if_idle()

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
        if self._busy or self._task is None or self._task is asyncio.current_task():
            return
        self._task.cancel()  # nobody waits or listens: no call is left running for nothing

    @property
    def _busy(self) -> bool:
        return bool(self.waiters or self.listeners)

    # -- listeners (asset watchers): every tick's reports, from the same single call

    def add_listener(self, listener: ReportListener) -> None:
        """Hand ``listener`` every tick's reports; the poller keeps ticking while it is registered."""
        self.listeners.append(listener)
        self._ensure_running()

    def remove_listener(self, listener: ReportListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        self._stop_if_idle()

    def _listener_reach(self) -> DateTime | None:
        reaches = [r for r in (listener.reach() for listener in self.listeners) if r is not None]
        return min(reaches, default=None)

    def _notify(self, reports: list[RunReport] | None, error: BaseException | None = None, sent: float = 0.0) -> None:
        full = reports is not None and len(reports) >= self.window
        oldest = min((r.created_at for r in reports or ()), default=None)
        for listener in list(self.listeners):
            if reports is None:
                listener.on_error(error or RuntimeError("no reports"))
                continue
            reach = listener.reach()
            listener.on_reports(reports, not full or oldest is None or reach is None or oldest < reach, sent)

    def rules(self) -> Rules:
        settings = self.hook.settings_if_resolved()
        return Rules.from_settings(settings) if settings is not None else Rules()

    # -- the loops

    async def _run(self) -> None:
        clock = self.hook.clock
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        try:
            while self._busy:
                began = clock.monotonic()
                await self.tick()
                if not self._busy:
                    break
                # the next tick, or the earliest deadline if sooner: no waiter's deadline is slept past
                ticks = [w.poll_interval for w in self.waiters] + [lis.poll_interval for lis in self.listeners]
                wait = min(ticks) - (clock.monotonic() - began)
                now = clock.now()
                soonest = min(((w.deadline - now).total_seconds() for w in self.waiters), default=wait)
                await clock.asleep(max(0.0, min(wait, soonest)))
        except asyncio.CancelledError:
            if self._busy:  # cancelled from outside while runs are waited for: they learn of it
                self._crash(asyncio.CancelledError())
            raise
        except BaseException as exc:  # a bug, a kill: every waiter learns of it
            self._crash(exc)
            raise
        finally:
            self._task = None
            if self._reader is not None:
                self._reader.cancel()
            if not self._busy and _pollers.get(self.key) is self:  # type: ignore[arg-type]
                del _pollers[self.key]  # type: ignore[arg-type]
            await self.hook.aclose()

    def _crash(self, exc: BaseException) -> None:
        for waiter in self.waiters:
            waiter.crash = exc
            waiter.done.set()
        self._notify(None, exc)

    async def _read_loop(self) -> None:
        """Run the due ``/run-data`` reads, up to ``READS_IN_FLIGHT`` at once (the key's limiter spaces them).

        More than one in flight, so that a read stuck in its retries (a long burst of 5xx, a 429
        pause) does not hold every other successful run's rows back behind it.
        """
        running: dict[Waiter, asyncio.Task[None]] = {}
        try:
            while True:
                for finished in [w for w, task in running.items() if task.done()]:
                    del running[finished]
                due = self.next_read(busy=running)
                if due is None or len(running) >= READS_IN_FLIGHT:
                    self._wake_reader.clear()
                    await self._wake_reader.wait()
                    continue
                running[due] = asyncio.get_running_loop().create_task(self._read_then_wake(due))
        finally:
            for task in running.values():
                task.cancel()

    async def _read_then_wake(self, waiter: Waiter) -> None:
        try:
            await self.read(waiter)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: every waiter learns of it, none hangs
            self._crash(exc)
        finally:
            self._wake_reader.set()

    def next_read(self, busy: Collection[Waiter] = ()) -> Waiter | None:
        """The waiter whose ``/run-data`` read is due, first come first served (not one being read).

        Reads go in the order their runs were seen to end, not the order the waiters came: when
        reads queue behind the key's budget, no run's rows wait behind runs that ended after it.
        """
        return min(
            (
                w
                for w in self.waiters
                if w.phase == "reading" and not w.done.is_set() and w.read_after_tick <= self.ticks and w not in busy
            ),
            key=lambda w: w.read_queued,
            default=None,
        )

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
        _metrics.runs_waited(self.hook.axiom_conn_id, len(open_waiters))
        _metrics.watchers(self.hook.axiom_conn_id, len(self.listeners))
        if not open_waiters and not self.listeners:
            return
        self.ticks += 1
        sent = clock.monotonic()
        try:
            self.calls += 1
            reports = await self.hook.aget_run_reports(self.window)
        except AxiomError as err:
            log.warning("axiom.ai: reading the run reports failed (%s): %s", key_scope(self.fingerprint), err)
            self._notify(None, err)
            for waiter in open_waiters:
                if waiter.phase != "reading":
                    waiter.failed(err, "a look at run reports")
            return
        self._notify(reports, sent=sent)
        full = len(reports) >= self.window
        oldest = min((r.created_at for r in reports), default=None)
        reach = self._listener_reach()  # a listener (asset watcher) may need older reports too
        listener_deep = full and reach is not None and oldest is not None and oldest >= reach
        self._listed = {r.task_name for r in reports}
        if await self._proof_pending(open_waiters):
            return  # decide nothing while the key's run-id proof is in flight elsewhere: one tick, at most a call
        for waiter in open_waiters:
            if waiter.phase == "confirming" and sent >= waiter.read_done_at:
                self._confirm(waiter, reports)
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
            judged = self._judged(waiter, fresh=True)
            complete = reaches(oldest, full, ref.anchor)
            if needs_deep_look(judged, obs, complete=complete, window=self.window):
                deep.append(waiter)
            elif obs.report is None and not complete and self.window < MAX_REPORT_WINDOW:
                deep.append(waiter)  # its run may lie beyond the reports read: widen
            elif judged.run_id is not None:
                self._watch_by_id(waiter, reports)
            elif obs.state.ends_wait:
                self._ended(waiter, obs)
        if (deep or listener_deep) and self.window < MAX_REPORT_WINDOW:
            self.window = wider(self.window)
            log.info(
                "axiom.ai: reading the latest %d run reports to reach the oldest run waited for (%s)",
                self.window,
                key_scope(self.fingerprint),
            )
        elif deep:
            self._deep_turn = (self._deep_turn + 1) % len(deep)
            self._start_read(deep[self._deep_turn], "deep")
        elif not listener_deep:
            anchors = [w.ref.anchor for w in self.waiters if not w.done.is_set()]
            if reach is not None:
                anchors.append(reach)
            self.window = narrower(self.window, reports, anchors)
        self._wake_reader.set()

    # -- run ids: used only where the API has shown, for this key, that it reads them

    def _judged(self, waiter: Waiter, *, fresh: bool = False) -> RunRef:
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
        listed = [name for name in named if name in self._listed]
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
            self._start_read(waiter, "by_id")

    def _ended(self, waiter: Waiter, obs: RunObservation) -> None:
        """A run (or every candidate run) ended: read its rows, or finish."""
        if not obs.state.succeeded:
            waiter.finish(obs, unavailable="run_failed" if obs.state is RunState.FAILURE else None)
            return
        why = rows_unavailable(self._judged(waiter), obs) if waiter.fetch_output else "not_requested"
        if why is not None:
            _say_no_rows(waiter, why)
            waiter.finish(obs, unavailable=why)
            return
        self._start_read(waiter, "rows")

    def _start_read(self, waiter: Waiter, what: Literal["rows", "by_id", "deep"]) -> None:
        waiter.phase, waiter.read, waiter.read_queued = "reading", what, next(self._reads_queued)

    def _confirm(self, waiter: Waiter, reports: list[RunReport]) -> None:
        if still_newest(self._judged(waiter), reports):
            waiter.finish(waiter.obs, rows=waiter.rows)
        else:
            _say_no_rows(waiter, "superseded")
            waiter.finish(waiter.obs, unavailable="superseded")

    # -- reads through /run-data

    async def read(self, waiter: Waiter) -> None:
        """One ``/run-data`` read for ``waiter``; a retryable failure is tried again on a later tick.

        By name, as documented; with the run id beside it only when the API reads run ids. A by-id read
        refused with a 4xx never fails the waiter: it goes back to watching, by name and start time.
        """
        ref = self._judged(waiter, fresh=waiter.read != "rows")
        if waiter.read == "by_id" and ref.run_id is None:  # the proof was forgotten since: watch by name
            waiter.phase = "watching"
            return
        try:
            run = await self.hook.aget_run_data(ref.automation_name, run_id=ref.run_id)
        except AxiomError as err:
            if ref.run_id is not None and _run_ids.refused(self.hook, "run-data", err):
                waiter.by_id, waiter.id_refused, waiter.phase, waiter.ended_seen = False, True, "watching", 0
                return
            if waiter.read == "rows":
                _metrics.output_read_failed(self.hook.axiom_conn_id)
            if not waiter.failed(err, f"reading /run-data of {ref.automation_name!r}"):
                waiter.read_after_tick = self.ticks + 1
            return
        waiter.failures, waiter.read_after_tick = 0, 0
        if waiter.read == "by_id":
            self._read_by_id(waiter, run)
            return
        if waiter.read == "deep":
            obs = deep_observation(ref, run, listed=ref.automation_name in self._listed)
            if obs is None:
                waiter.phase = "watching"
                return
            waiter.obs = obs
            if not obs.state.succeeded or not waiter.fetch_output:
                waiter.finish(obs, unavailable="not_requested" if obs.state.succeeded else "run_failed")
                return
        assert waiter.obs is not None
        rows = output_of(ref, waiter.obs, run)
        if rows is None:
            waiter.tell(
                logging.WARNING,
                "axiom.ai: /run-data for %r says %r while this run is %r: another run is now the latest, "
                "so this run's output is not available",
                ref.automation_name,
                run.status,
                waiter.obs.raw_status,
            )
            _say_no_rows(waiter, "superseded")
            waiter.finish(waiter.obs, unavailable="superseded")
            return
        waiter.rows, waiter.phase = rows, "confirming"
        waiter.read_done_at = self.hook.clock.monotonic()

    def _read_by_id(self, waiter: Waiter, run: Any) -> None:
        state = run_state(run.status)
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


def _say_no_rows(waiter: Waiter, why: DataUnavailable) -> None:
    """Tell the run's own task why it has no rows (in its log, said by its wait)."""
    ref = waiter.ref
    if why == "superseded":
        waiter.tell(
            logging.WARNING,
            "axiom.ai: the run of %r succeeded, but a newer run of it started since, and the API shows only "
            "the newest run's output: data is None (data_unavailable='superseded')",
            ref.automation_name,
        )
    elif why == "ambiguous_run":
        waiter.tell(
            logging.WARNING,
            "axiom.ai: this task's run of %r cannot be told apart from other runs started within the same "
            "seconds; they all succeeded, so the task succeeds without rows (data_unavailable='ambiguous_run')",
            ref.automation_name,
        )


_pollers: dict[tuple[int, str, str], KeyPoller] = {}


async def poller_for(hook: AxiomHook) -> KeyPoller:
    """The poller of this event loop for the hook's base URL and key (created on first use).

    It polls through a hook of its own (same connection, transport, clock and retry policy), which
    outlives any one waiter's hook.
    """
    settings = (await hook.atransport()).settings
    key = (id(asyncio.get_running_loop()), settings.base_url, key_fingerprint(settings.api_key))
    poller = _pollers.get(key)
    if poller is None:
        poller = _pollers[key] = KeyPoller(hook.sibling(), key)
    await poller.hook.atransport()
    return poller
