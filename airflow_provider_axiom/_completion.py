"""Waiting for a run to end: the shared poller, the one wait loop, the event contract, and the stop path.

**Cost per key, not per run.** Every run waited for in one event loop with the same base URL and
API key registers with one :class:`KeyPoller`. Each tick (``poll_interval``, 5 s by default) it
makes **one** ``/run-reports`` call, with ``count`` wide enough to reach the oldest waiter, and
hands each waiter what it saw. A run further back than the widest window is looked up through
``/run-data`` of its name, one name per tick. ``/run-data`` is read once per successful run, for
its output, a few at a time, at the pace the key's rate limiter allows. So a triggerer holding a
thousand deferred runs spends about 12 calls a minute on status, whatever their number.

**One loop.** :func:`wait_for_run` serves the trigger (in the triggerer) and the operator's
worker-side wait (through ``asyncio.run``). Its deadline is absolute and kept exactly: the waiter
waits on an event with a timeout, so no tick, backoff or limiter queue sleeps past it.

**The event contract.** The trigger yields one event ``{"status": "success" | "failure" |
"timeout" | "error", "message", "automation_name", "viewer_url", "triggered_at", "summary"?,
"error_class"?, ...}``; :func:`complete_from_event` turns it into the task's result or error and
fails closed on anything else.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom._protocol import iso, run_state
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._runs import RunObservation, RunRef, observe, reaches
from airflow_provider_axiom.exceptions import (
    AxiomApiError,
    AxiomError,
    AxiomRunFailedError,
    AxiomRunTimeoutError,
)
from airflow_provider_axiom.results import RunData, RunReport

if TYPE_CHECKING:
    from airflow_provider_axiom._transport import Clock
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: The event statuses the trigger yields; ``execute_complete`` fails closed on anything else.
EVENT_STATUSES = ("success", "failure", "timeout", "error")
#: Reports read per tick at first; widened (x5) while the oldest waiter lies further back.
REPORT_WINDOW = 20
MAX_REPORT_WINDOW = 2500
#: Output reads (``/run-data``) in flight at once per poller: one, so a status tick never waits
#: behind more than one of them in the key's queue (they are spaced by the limiter anyway).
OUTPUT_READS_IN_FLIGHT = 1
#: How long a deferral may outlive the trigger's own deadline before Airflow gives up on it.
DEFER_BACKSTOP = timedelta(minutes=10)


# --------------------------------------------------------------------------- the event contract


def run_summary(ref: RunRef, obs: RunObservation, *, data: dict[str, Any] | None, triggered_at: Any) -> dict[str, Any]:
    """The JSON-serialisable result the operator and sensor return (their XCom ``return_value``)."""
    report = obs.report
    return {
        "automation_name": ref.automation_name,
        "status": report.status if report else obs.raw_status,
        "viewer_url": ref.viewer_url,
        "run_id": ref.run_id,
        "triggered_at": iso(triggered_at),
        "started_at": iso(report.created_at if report else ref.created_at),
        "finished_at": iso(report.updated_at if report else None),
        "description": report.description if report else None,
        "data": data,
    }


def failure_error(summary: dict[str, Any]) -> AxiomRunFailedError:
    """The error for a run that ended in ``Failure``, with the report's description and viewer link."""
    return AxiomRunFailedError(
        f"axiom.ai run of {summary['automation_name']!r} failed",
        description=summary.get("description"),
        viewer_url=summary.get("viewer_url"),
        automation_name=summary.get("automation_name"),
    )


def timeout_error(what: str, stopped: bool) -> AxiomRunTimeoutError:
    """The error for a run that outlived the task's timeout, saying whether it was stopped."""
    return AxiomRunTimeoutError(
        f"{what}; " + ("the run was asked to stop" if stopped else "the run could not be stopped")
    )


def defer_timeout(remaining: timedelta) -> timedelta:
    """``defer(timeout=...)``: a plain timedelta (workers msgpack-encode it; pendulum's Duration is refused)."""
    return timedelta(seconds=(remaining + DEFER_BACKSTOP).total_seconds())


def _event(ref: RunRef, triggered_at: Any, status: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "message": message,
        "automation_name": ref.automation_name,
        "viewer_url": ref.viewer_url,
        "triggered_at": iso(triggered_at),
        **extra,
    }


def stale_event(context: Any, event: Any) -> bool:
    """Whether ``event`` belongs to an earlier try of the task.

    Airflow 3.0 does not clear a deferred task's resume point when the task goes up for retry, so
    the retry starts at ``execute_complete`` with the previous try's event. Such an event must not
    decide the new try: it starts over with ``execute``.
    """
    ti = context.get("ti") if isinstance(context, dict) else None
    attempt = event.get("attempt") if isinstance(event, dict) else None
    try_number = getattr(ti, "try_number", None)
    return isinstance(attempt, int) and isinstance(try_number, int) and attempt != try_number


def complete_from_event(event: Any, *, stop: Any = None) -> dict[str, Any]:
    """Turn a wait's event into the task's result, or raise. Unknown events fail closed.

    ``stop(viewer_url, name)`` is called for a ``timeout`` event and says whether the run was stopped.
    """
    from airflow_provider_axiom import exceptions

    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AxiomApiError(
            f"unexpected event from the axiom.ai trigger: {event!r}", hint="This is a bug; please report it"
        )
    status = event["status"]
    name = event.get("automation_name") or "?"
    summary = event.get("summary") or {}
    if status == "success":
        return dict(summary)
    if status == "failure":
        raise failure_error({"automation_name": name, "viewer_url": event.get("viewer_url"), **summary})
    if status == "timeout":
        stopped = bool(stop(event.get("viewer_url"), name)) if stop else False
        raise timeout_error(str(event.get("message")), stopped)
    cls = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(cls, type) and issubclass(cls, AxiomError)):
        cls = AxiomApiError
    raise cls(
        str(event.get("message") or "the axiom.ai trigger reported an error"),
        status_code=event.get("status_code"),
        hint="",
    )


# --------------------------------------------------------------------------- the shared poller


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


class KeyPoller:
    """One ``/run-reports`` call per tick for every run waited for with one key in one event loop."""

    def __init__(self, hook: AxiomHook, key: tuple[int, str, str] | None = None) -> None:
        self.hook = hook
        self.key = key
        self.waiters: list[Waiter] = []
        self.window = REPORT_WINDOW
        self.outputs = asyncio.Semaphore(OUTPUT_READS_IN_FLIGHT)
        self.calls = 0  # /run-reports calls made (for tests and benchmarks)
        self._task: asyncio.Task[None] | None = None
        self._deep_turn = 0

    def add(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, waiter: Waiter) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)
        if not self.waiters and self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()  # nobody waits: no call is left running for nothing

    async def _run(self) -> None:
        clock = self.hook.clock
        try:
            while self.waiters:
                began = clock.monotonic()
                await self.tick()
                if not self.waiters:
                    break
                # the next tick, or the earliest deadline if sooner: no waiter's deadline is slept past
                wait = min(w.poll_interval for w in self.waiters) - (clock.monotonic() - began)
                now = clock.now()
                soonest = min((w.deadline - now).total_seconds() for w in self.waiters)
                await clock.asleep(max(0.0, min(wait, soonest)))
        except asyncio.CancelledError:
            if self.waiters:  # cancelled from outside while runs are waited for: they learn of it
                for waiter in self.waiters:
                    waiter.crash = asyncio.CancelledError()
                    waiter.done.set()
            raise
        except BaseException as exc:  # a bug, a kill: every waiter learns of it
            for waiter in self.waiters:
                waiter.crash = exc
                waiter.done.set()
            raise
        finally:
            self._task = None
            if not self.waiters and _pollers.get(self.key) is self:  # type: ignore[arg-type]
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
        if not open_waiters:
            return
        try:
            self.calls += 1
            reports = await self.hook.aget_run_reports(self.window)
        except AxiomError as err:
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
        full = len(reports) >= self.window
        oldest = min((r.created_at for r in reports), default=None)
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
        if deep and self.window < MAX_REPORT_WINDOW:
            self.window = min(MAX_REPORT_WINDOW, self.window * 5)
            log.info("axiom.ai: reading the latest %d run reports to reach the oldest run waited for", self.window)
        elif deep:
            await self._look_deep(deep, by_name)
        else:
            self._narrow(reports)

    def _narrow(self, reports: list[RunReport]) -> None:
        """Read fewer reports again once the oldest runs waited for have ended."""
        still = [w.ref.anchor for w in self.waiters if not w.done.is_set()]
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


# --------------------------------------------------------------------------- the one wait loop


async def wait_for_run(
    hook: AxiomHook,
    ref: RunRef,
    *,
    deadline: DateTime,
    triggered_at: Any = None,
    poll_interval: float = 5.0,
    max_consecutive_errors: int = 5,
) -> dict[str, Any]:
    """Wait for ``ref``'s run to end, or for ``deadline``; return the event (see the module docstring)."""
    poller = await poller_for(hook)
    waiter = Waiter(ref, deadline, poll_interval=poll_interval, max_consecutive_errors=max(1, max_consecutive_errors))
    poller.add(waiter)
    try:
        if not await _wait_until(hook.clock, waiter.done, deadline) or waiter.timed_out:
            summary = run_summary(waiter.ref, RunObservation("waiting"), data=None, triggered_at=triggered_at)
            message = f"the run of {ref.automation_name!r} did not finish by {deadline.isoformat()}"
            return _event(waiter.ref, triggered_at, "timeout", message, summary=summary)
    finally:
        poller.remove(waiter)
    if waiter.crash is not None:
        raise waiter.crash
    if waiter.error is not None:
        err = waiter.error
        return _event(
            waiter.ref,
            triggered_at,
            "error",
            str(err),
            error_class=type(err).__name__,
            status_code=err.status_code,
            api_message=err.api_message,
            retryable=err.retryable,
        )
    obs = waiter.obs
    assert obs is not None
    if obs.state == "unknown":
        message = f"the run of {ref.automation_name!r} reports an unknown status {obs.raw_status!r}"
        return _event(waiter.ref, triggered_at, "error", message, error_class="AxiomApiError")
    data = None
    if obs.state == "success":
        async with poller.outputs:
            data = await read_output(hook, waiter.ref, obs, waiter.run_data)
    summary = run_summary(waiter.ref, obs, data=data, triggered_at=triggered_at)
    return _event(
        waiter.ref,
        triggered_at,
        obs.state,
        f"the run of {ref.automation_name!r} ended: {obs.raw_status}",
        summary=summary,
    )


async def _wait_until(clock: Clock, event: asyncio.Event, deadline: DateTime) -> bool:
    """Wait for ``event`` until ``deadline``; False on timeout. Never sleeps past the deadline."""
    if clock.asleep is asyncio.sleep:  # real time: the event loop keeps the deadline
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, (deadline - clock.now()).total_seconds()))
        except asyncio.TimeoutError:
            return False
        return True
    await event.wait()  # injected time (tests) moves only when the poller sleeps; it keeps the deadlines
    return True


async def read_output(
    hook: AxiomHook, ref: RunRef, obs: RunObservation, already: RunData | None = None
) -> dict[str, Any] | None:
    """The run's output rows (writer token -> rows), or None when they can no longer be read as its own."""
    if not obs.is_newest and ref.run_id is None:
        log.warning(
            "axiom.ai: a newer run of %r started after this one, so its output is not available", ref.automation_name
        )
        return None
    try:
        run = already or await hook.aget_run_data(ref.automation_name, run_id=ref.run_id)
    except AxiomError as err:
        log.warning("axiom.ai: the run of %r succeeded but its output could not be read: %s", ref.automation_name, err)
        return None
    return output_of(ref, obs, run)


def output_of(ref: RunRef, obs: RunObservation, run: RunData) -> dict[str, Any] | None:
    """``run``'s rows if ``/run-data`` still describes this run (same outcome), else None."""
    if ref.run_id or (run.status.strip().lower() == "finished" and obs.terminal):
        return run.data  # an older surface answers "Finished" for both outcomes
    if run_state(run.status) != obs.state:
        log.warning(
            "axiom.ai: /run-data for %r says %r while this run is %r: another run is now the latest, "
            "so this run's output is not available",
            ref.automation_name,
            run.status,
            obs.raw_status,
        )
        return None
    return run.data


def look_once(hook: AxiomHook, ref: RunRef) -> tuple[RunRef, RunObservation]:
    """One sync look at a run (the sensor's poke, the retry's check): ``/run-reports``, widened if needed."""
    window = REPORT_WINDOW
    while True:
        reports = hook.get_run_reports(window)
        complete = reaches(reports, window, ref.anchor)
        ref, obs = observe(ref, reports, complete=complete)
        if obs.report is not None or complete or window >= MAX_REPORT_WINDOW:
            return ref, obs
        window = min(MAX_REPORT_WINDOW, window * 5)


def output_once(hook: AxiomHook, ref: RunRef, obs: RunObservation) -> dict[str, Any] | None:
    """Sync :func:`read_output`."""
    if not obs.is_newest and ref.run_id is None:
        return None
    return output_of(ref, obs, hook.get_run_data(ref.automation_name, run_id=ref.run_id))


# --------------------------------------------------------------------------- stopping a run


def _stopped(automation_name: str, why: str, err: AxiomError | None) -> bool:
    if err is not None:
        log.error("axiom.ai: could not stop the run of %r (%s): %s", automation_name, why, err)
        return False
    log.info("axiom.ai: asked the run of %r to stop (%s)", automation_name, why)
    return True


def _no_viewer(viewer_url: str | None, automation_name: str, why: str) -> bool:
    if not viewer_url:
        log.warning("axiom.ai: cannot stop the run of %r (%s): it has no viewer URL", automation_name, why)
    return not viewer_url


def stop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Best effort, bounded: ask the API to stop a run. Returns whether the request was accepted."""
    if _no_viewer(viewer_url, automation_name, why):
        return False
    try:
        hook.stop_run(str(viewer_url))
    except AxiomError as err:
        return _stopped(automation_name, why, err)
    return _stopped(automation_name, why, None)


async def astop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Async :func:`stop_remote_run`."""
    if _no_viewer(viewer_url, automation_name, why):
        return False
    try:
        await hook.astop_run(str(viewer_url))
    except AxiomError as err:
        return _stopped(automation_name, why, err)
    return _stopped(automation_name, why, None)
