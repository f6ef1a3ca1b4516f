"""The one wait loop, for the trigger and the worker-side wait alike, and the sync single look."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pendulum import DateTime

from airflow_provider_axiom._completion.events import event, run_summary
from airflow_provider_axiom._completion.poller import MAX_REPORT_WINDOW, REPORT_WINDOW, Waiter, poller_for
from airflow_provider_axiom._protocol import run_state
from airflow_provider_axiom._runs import RunObservation, RunRef, observe, reaches
from airflow_provider_axiom.exceptions import AxiomError
from airflow_provider_axiom.results import RunData

if TYPE_CHECKING:
    from airflow_provider_axiom._transport import Clock
    from airflow_provider_axiom.hooks.axiom import AxiomHook

log = logging.getLogger(__name__)


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
            return event(waiter.ref, triggered_at, "timeout", message, summary=summary)
    finally:
        poller.remove(waiter)
    if waiter.crash is not None:
        raise waiter.crash
    if waiter.error is not None:
        err = waiter.error
        return event(
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
        return event(waiter.ref, triggered_at, "error", message, error_class="AxiomApiError")
    data = None
    if obs.state == "success":
        async with poller.outputs:
            data = await read_output(hook, waiter.ref, obs, waiter.run_data)
    summary = run_summary(waiter.ref, obs, data=data, triggered_at=triggered_at)
    return event(
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
