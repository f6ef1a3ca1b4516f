"""What the operator and the sensor share: waiting in the worker, deferring, and reading trigger events."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pendulum
from pendulum import DateTime

from airflow_provider_axiom._runs import (
    RunObservation,
    RunWatcher,
    failure_error,
    next_interval,
    run_summary,
    unknown_status_error,
)
from airflow_provider_axiom.exceptions import (
    AxiomApiError,
    AxiomAuthError,
    AxiomBadRequestError,
    AxiomBadResponseError,
    AxiomConnectionError,
    AxiomError,
    AxiomNotFoundError,
    AxiomQuotaError,
    AxiomRateLimitError,
    AxiomRunTimeoutError,
    AxiomServerError,
)
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.triggers.axiom import EVENT_STATUSES

log = logging.getLogger(__name__)

_ERROR_CLASSES: dict[str, type[AxiomError]] = {
    cls.__name__: cls
    for cls in (
        AxiomApiError,
        AxiomAuthError,
        AxiomBadRequestError,
        AxiomBadResponseError,
        AxiomConnectionError,
        AxiomNotFoundError,
        AxiomQuotaError,
        AxiomRateLimitError,
        AxiomServerError,
    )
}


def as_timedelta(value: timedelta | float | int, field_name: str) -> timedelta:
    """``timeout``-style arguments: seconds or a timedelta, positive."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{field_name} must be seconds or a timedelta, got {type(value).__name__}")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta.total_seconds() <= 0:
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return delta


def utcnow() -> DateTime:
    return pendulum.now("UTC")


def stop_remote_run(hook: AxiomHook, viewer_url: str | None, automation_name: str, why: str) -> bool:
    """Best effort, bounded: ask the API to stop a run. Returns whether the request was accepted."""
    if not viewer_url:
        log.warning("axiom.ai: cannot stop the run of %r (%s): no viewer URL (it was queued)", automation_name, why)
        return False
    try:
        hook.stop_run(viewer_url)
    except AxiomError as err:
        log.error("axiom.ai: could not stop the run of %r (%s): %s", automation_name, why, err)
        return False
    log.info("axiom.ai: asked the run of %r to stop (%s)", automation_name, why)
    return True


def settle(watcher: RunWatcher, obs: RunObservation, triggered_at: Any) -> dict[str, Any]:
    """A terminal observation -> the summary to return, or the error to raise."""
    if obs.state == "unknown":
        raise unknown_status_error(watcher.ref, obs)
    data = watcher.output(obs) if obs.state == "success" else None
    summary = run_summary(watcher.ref, obs, data=data, triggered_at=triggered_at)
    if obs.state == "failure":
        raise failure_error(summary)
    return summary


def wait_in_worker(
    watcher: RunWatcher,
    *,
    deadline: DateTime,
    poll_interval: float,
    max_poll_interval: float,
    max_consecutive_errors: int,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], DateTime] = utcnow,
) -> RunObservation | None:
    """Poll until the run is terminal (returns the observation) or ``deadline`` passes (returns None)."""
    interval = poll_interval
    failures = 0
    while True:
        if clock() >= deadline:
            return None
        try:
            obs = watcher.poll()
            failures = 0
        except AxiomError as err:
            failures += 1
            if not err.retryable or failures >= max_consecutive_errors:
                raise
            log.warning("axiom.ai poll %d/%d failed, polling again: %s", failures, max_consecutive_errors, err)
        else:
            if obs.terminal or obs.state == "unknown":
                return obs
        sleep(max(0.0, min(interval, (deadline - clock()).total_seconds())))
        interval = next_interval(interval, max_poll_interval)


def complete_from_event(hook_factory: Callable[[], AxiomHook], event: Any) -> dict[str, Any]:
    """Turn an :class:`AxiomRunTrigger` event into the task's result, or raise. Unknown events fail closed."""
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AxiomApiError(
            f"unexpected event from the axiom.ai trigger: {event!r}", hint="This is a bug; please report it"
        )
    status = event["status"]
    name = event.get("automation_name") or "?"
    summary = event.get("summary") or {}
    if status == "success":
        log.info("axiom.ai run of %r succeeded", name)
        return dict(summary)
    if status == "failure":
        raise failure_error({"automation_name": name, "viewer_url": event.get("viewer_url"), **summary})
    if status == "timeout":
        hook = hook_factory()
        try:
            stopped = stop_remote_run(hook, event.get("viewer_url"), name, "timeout")
        finally:
            hook.close()
        raise AxiomRunTimeoutError(
            f"{event.get('message')}; " + ("the run was asked to stop" if stopped else "the run could not be stopped")
        )
    cls = _ERROR_CLASSES.get(str(event.get("error_class")), AxiomApiError)
    raise cls(
        str(event.get("message") or "the axiom.ai trigger reported an error"),
        status_code=event.get("status_code"),
        api_message=None,
        hint="",
    )


__all__ = [
    "as_timedelta",
    "complete_from_event",
    "settle",
    "stop_remote_run",
    "wait_in_worker",
]
