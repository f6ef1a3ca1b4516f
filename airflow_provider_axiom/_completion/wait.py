"""The one wait loop (the trigger and the worker-side wait), and the single look (a sensor's poke, a retry's check).

Both go through the shared poller's rules: the same matching, the same output guard, the same
``/run-data`` reads. The single look is one or more ticks of a private poller, run with
``asyncio.run`` from sync code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom import _metrics
from airflow_provider_axiom._completion.events import event, run_summary
from airflow_provider_axiom._completion.notices import Notice, wait_saying
from airflow_provider_axiom._completion.poller import KeyPoller
from airflow_provider_axiom._completion.registry import poller_for
from airflow_provider_axiom._completion.waiter import Waiter
from airflow_provider_axiom._matching import DataUnavailable, RunObservation
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.exceptions import AxiomError

if TYPE_CHECKING:
    from airflow_provider_axiom._transport import Clock
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)

#: Ticks a single look may take: widening the report window, reading rows, confirming them.
LOOK_TICKS = 8


async def wait_for_run(
    hook: AxiomHook,
    ref: RunRef,
    *,
    deadline: DateTime,
    poll_interval: float = 5.0,
    max_consecutive_errors: int = 5,
    fetch_output: bool = True,
    logger: Any = None,
) -> dict[str, Any]:
    """Wait for ``ref``'s run to end, or for ``deadline``; return the event (see the package docstring).

    What the shared poller has to say about this run (no rows and why, a read failing) is logged here,
    in this coroutine, with ``logger`` (the trigger's or the operator's): in this task's log, once.
    """
    poller = await poller_for(hook)
    waiter = Waiter(
        ref,
        deadline,
        poll_interval=poll_interval,
        max_consecutive_errors=max(1, max_consecutive_errors),
        fetch_output=fetch_output,
    )
    poller.join(waiter)
    say = _sayer(logger)
    try:
        if not await _wait_until(hook.clock, waiter, deadline, say) or waiter.timed_out:
            summary = run_summary(waiter.ref, RunObservation(RunState.WAITING), data=None)
            message = f"the run of {ref.automation_name!r} did not finish by {deadline.isoformat()}"
            return event(waiter.ref, "timeout", message, summary=summary)
    finally:
        poller.leave(waiter)
    if waiter.crash is not None:
        raise waiter.crash
    _time_the_run(poller.hook, waiter)  # the poller's hook has learnt the server's clock
    return outcome_event(waiter.ref, waiter.obs, rows=waiter.rows, unavailable=waiter.unavailable, error=waiter.error)


def _time_the_run(hook: AxiomHook, waiter: Waiter) -> None:
    """Metrics of a run that is certainly the task's: how late its end was seen, its duration, its queue time."""
    report = waiter.obs.report if waiter.obs is not None else None
    if report is None:
        return
    conn_id = hook.axiom_conn_id
    _metrics.event_delay(conn_id, report.updated_at, hook.server_now())
    _metrics.run_duration(conn_id, report.created_at, report.updated_at)
    _metrics.queue_time(conn_id, waiter.ref.triggered_at, report.created_at)


def outcome_event(
    ref: RunRef,
    obs: RunObservation | None,
    *,
    rows: dict[str, Any] | None = None,
    unavailable: DataUnavailable | None = None,
    error: AxiomError | None = None,
) -> dict[str, Any]:
    """The event for a wait that ended: an error, or a run (or every candidate run) that ended."""
    if (err := error) is not None:
        return event(
            ref,
            "error",
            str(err),
            error_class=type(err).__name__,
            status_code=err.status_code,
            api_message=err.api_message,
            retryable=err.retryable,
        )
    assert obs is not None
    summary = run_summary(ref, obs, data=rows, unavailable=unavailable)
    if obs.state is RunState.UNKNOWN:
        message = f"the run of {ref.automation_name!r} reports an unknown status {obs.raw_status!r}"
        return event(ref, "error", message, error_class="AxiomApiError", summary=summary)
    if obs.state is RunState.CONFLICT:
        message = (
            f"this task's run of {ref.automation_name!r} is one of {len(obs.candidates)} runs started within the "
            "same seconds, which ended differently, so whether it succeeded cannot be told"
        )
        return event(ref, "error", message, error_class="AxiomRunAmbiguousError", summary=summary)
    return event(
        ref, obs.state.value, f"the run of {ref.automation_name!r} ended: {summary['status']}", summary=summary
    )


def _sayer(logger: Any) -> Callable[[Notice], None]:
    def say(notice: Notice) -> None:
        notice.say(logger if logger is not None else log)

    return say


async def _wait_until(clock: Clock, waiter: Waiter, deadline: DateTime, say: Callable[[Notice], None]) -> bool:
    """Wait for the waiter until ``deadline``, saying its notices meanwhile; False on timeout.

    Never sleeps past the deadline."""
    if clock.asleep is asyncio.sleep:  # real time: the event loop keeps the deadline
        seconds = max(0.0, (deadline - clock.now()).total_seconds())
        return await wait_saying(waiter.done, say, seconds)
    # injected time (tests) moves only when the poller sleeps; it keeps the deadlines
    return await wait_saying(waiter.done, say)


@dataclass(frozen=True)
class Look:
    """What a single look saw: the ref (pinned once certain), the observation, and the rows if read."""

    ref: RunRef
    obs: RunObservation
    rows: dict[str, Any] | None = None
    unavailable: DataUnavailable | None = None


async def alook(hook: AxiomHook, ref: RunRef, *, fetch_output: bool = True, logger: Any = None) -> Look:
    """One look at a run, as the poller would take it, from scratch: widening the window as needed,
    and for a successful run, its rows, read and confirmed. A failed call raises its error.

    What the look has to say about the run is logged with ``logger`` (the task's)."""
    poller = KeyPoller(hook)
    waiter = Waiter(ref, hook.clock.now().add(years=1), max_consecutive_errors=1, fetch_output=fetch_output)
    poller.join(waiter, start=False)
    say = _sayer(logger)
    for _ in range(LOOK_TICKS):
        window = poller.window
        await poller.turn()
        for notice in waiter.notices.take():
            say(notice)
        if waiter.error is not None:
            raise waiter.error
        if waiter.phase != "confirming" and poller.window == window:
            break
    obs = waiter.obs or RunObservation(RunState.WAITING)
    if waiter.phase == "confirming":  # could not confirm within the look: say nothing yet
        obs = RunObservation(RunState.RUNNING, raw_status=obs.raw_status)
    return Look(waiter.ref, obs, waiter.rows, waiter.unavailable)


def look_once(hook: AxiomHook, ref: RunRef, *, fetch_output: bool = True, logger: Any = None) -> Look:
    """Sync :func:`alook` (a sensor's poke, a retry's check)."""

    async def look() -> Look:
        try:
            return await alook(hook, ref, fetch_output=fetch_output, logger=logger)
        finally:
            await hook.aclose()

    return asyncio.run(look())
