"""The shared poller: one ``/run-reports`` call per tick for every run waited for with one key in one event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pendulum import DateTime

from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._runs import RunObservation, RunRef, observe
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunData, RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: Reports read per tick at first; widened (x5) while the oldest waiter lies further back.
REPORT_WINDOW = 20
MAX_REPORT_WINDOW = 2500
#: Output reads (``/run-data``) in flight at once per poller: one, so a status tick never waits
#: behind more than one of them in the key's queue (they are spaced by the limiter anyway).
OUTPUT_READS_IN_FLIGHT = 1


@dataclass(eq=False)
class Waiter:
    """One run being waited for, as the poller sees it."""

    ref: RunRef
    deadline: DateTime
    poll_interval: float
    max_consecutive_errors: int
    timed_out: bool = False
    obs: RunObservation | None = None
    error: AxiomError | None = None
    run_data: RunData | None = None  # output already read (a run found through /run-data)
    crash: BaseException | None = None  # the poller died: re-raised in the waiter, never a hang
    failures: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, obs: RunObservation | None = None, error: AxiomError | None = None) -> None:
        self.obs, self.error = obs, error
        self.done.set()


class ReportListener(Protocol):
    """Something that reads every tick's run reports without waiting for one run (an asset watcher).

    Registered with :meth:`KeyPoller.add_listener`; while registered it keeps the poller ticking.
    """

    poll_interval: float

    def reach(self) -> DateTime | None:
        """The oldest ``created_at`` the read must reach back to (None: the latest reports will do)."""

    def on_reports(self, reports: list[RunReport], complete: bool) -> None:
        """One tick's reports, newest first; ``complete``: the read reaches back past :meth:`reach`."""

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
        self.outputs = asyncio.Semaphore(OUTPUT_READS_IN_FLIGHT)
        self.calls = 0  # /run-reports calls made (for tests and benchmarks)
        self._task: asyncio.Task[None] | None = None
        self._deep_turn = 0

    def add(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)
        self._ensure_running()

    def remove(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        self._stop_if_idle()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _stop_if_idle(self) -> None:
        if self._busy or self._task is None or self._task is asyncio.current_task():
            return
        self._task.cancel()  # nobody waits or listens: no call is left running for nothing

    @property
    def _busy(self) -> bool:
        return bool(self.waiters or self.listeners)

    # ---- listeners (asset watchers): every tick's reports, same single call ----

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

    def _notify(self, reports: list[RunReport] | None, error: BaseException | None = None) -> None:
        full = reports is not None and len(reports) >= self.window
        oldest = min((r.created_at for r in reports or ()), default=None)
        for listener in list(self.listeners):
            if reports is None:
                listener.on_error(error or RuntimeError("no reports"))
                continue
            reach = listener.reach()
            listener.on_reports(reports, not full or oldest is None or reach is None or oldest < reach)

    async def _run(self) -> None:
        clock = self.hook.clock
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
            if self.waiters:  # cancelled from outside while runs are waited for: they learn of it
                for waiter in self.waiters:
                    waiter.crash = asyncio.CancelledError()
                    waiter.done.set()
            if self.listeners:
                self._notify(None, asyncio.CancelledError())
            raise
        except BaseException as exc:  # a bug, a kill: every waiter learns of it
            for waiter in self.waiters:
                waiter.crash = exc
                waiter.done.set()
            self._notify(None, exc)
            raise
        finally:
            self._task = None
            if not self._busy and _pollers.get(self.key) is self:  # type: ignore[arg-type]
                del _pollers[self.key]  # type: ignore[arg-type]
            await self.hook.aclose()

    async def tick(self) -> None:
        """One look for every open waiter: one ``/run-reports`` call, plus one ``/run-data`` for a deep run."""
        now = self.hook.clock.now()
        for waiter in self.waiters:
            if not waiter.done.is_set() and now >= waiter.deadline:
                waiter.timed_out = True
                waiter.done.set()
        open_waiters = [w for w in self.waiters if not w.done.is_set()]
        if not open_waiters and not self.listeners:
            return
        try:
            self.calls += 1
            reports = await self.hook.aget_run_reports(self.window)
        except AxiomError as err:
            self._notify(None, err)
            for waiter in open_waiters:
                waiter.failures += 1
                if not err.retryable or waiter.failures >= waiter.max_consecutive_errors:
                    waiter.finish(error=err)
                else:
                    log.warning(
                        "axiom.ai poll failed (%d/%d), polling again: %s",
                        waiter.failures,
                        waiter.max_consecutive_errors,
                        err,
                    )
            return
        self._notify(reports)
        full = len(reports) >= self.window
        oldest = min((r.created_at for r in reports), default=None)
        reach = self._listener_reach()  # a listener (asset watcher) may need older reports too
        listener_deep = full and reach is not None and oldest is not None and oldest >= reach
        by_name: dict[str, list[RunReport]] = {}
        for report in reports:
            by_name.setdefault(report.task_name, []).append(report)
        deep: list[Waiter] = []
        for waiter in open_waiters:
            waiter.failures = 0
            complete = not full or oldest is None or oldest < waiter.ref.anchor
            waiter.ref, obs = observe(waiter.ref, by_name.get(waiter.ref.automation_name, []), complete=complete)
            if obs.terminal or obs.state == "unknown":
                waiter.finish(obs)
            elif obs.report is None and not complete:
                deep.append(waiter)  # its run may lie beyond the reports read
        if (deep or listener_deep) and self.window < MAX_REPORT_WINDOW:
            self.window = min(MAX_REPORT_WINDOW, self.window * 5)
            log.info("axiom.ai: reading the latest %d run reports to reach the oldest run waited for", self.window)
        elif deep:
            await self._look_deep(deep, by_name)
        elif not listener_deep:
            self._narrow(reports)

    def _narrow(self, reports: list[RunReport]) -> None:
        """Read fewer reports again once the oldest runs waited for have ended."""
        still = [w.ref.anchor for w in self.waiters if not w.done.is_set()]
        if (reach := self._listener_reach()) is not None:
            still.append(reach)
        if self.window <= REPORT_WINDOW or not still:
            return
        needed = sum(1 for r in reports if r.created_at >= min(still))
        if needed * 2 < self.window // 5:
            self.window = max(REPORT_WINDOW, self.window // 5)

    async def _look_deep(self, deep: list[Waiter], by_name: dict[str, list[RunReport]]) -> None:
        """A run beyond the widest window: ``/run-data`` of its name tells the latest run of that name.

        Taken as ours only when no run of that name appears in the reports read (so none newer
        than the window started); one name per tick, in turn.
        """
        self._deep_turn = (self._deep_turn + 1) % len(deep)
        waiter = deep[self._deep_turn]
        name = waiter.ref.automation_name
        if name in by_name:
            return
        try:
            run = await self.hook.aget_run_data(name)
        except AxiomError as err:
            log.warning("axiom.ai: could not read /run-data of %r: %s", name, err)
            return
        state = run_state(run.status)
        if state in ("success", "failure"):
            waiter.run_data = run
            waiter.finish(RunObservation(state, None, is_newest=True, raw_status=run.status))


_pollers: dict[tuple[int, str, str], KeyPoller] = {}


async def poller_for(hook: AxiomHook) -> KeyPoller:
    """The poller of this event loop for the hook's base URL and key (created on first use).

    It polls through a hook of its own (same connection, transport and clock), which outlives
    any one waiter's hook.
    """
    settings = (await hook.atransport()).settings
    key = (id(asyncio.get_running_loop()), settings.base_url, key_fingerprint(settings.api_key))
    poller = _pollers.get(key)
    if poller is None:
        poller = _pollers[key] = KeyPoller(hook.sibling(), key)
    return poller
