"""What the operator and the sensor share: waiting in the worker, deferring, and reading trigger events."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow_provider_axiom._runs import (
    PollPacer,
    RunObservation,
    RunWatcher,
    failure_error,
    run_summary,
    stop_remote_run,
    timeout_error,
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
    AxiomServerError,
)
from airflow_provider_axiom.hooks.axiom import stopping_hook
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


def as_timedelta(value: timedelta | float | int, field_name: str, *, allow_zero: bool = False) -> timedelta:
    """``timeout``-style arguments: seconds or a timedelta, positive (or zero with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{field_name} must be seconds or a timedelta, got {type(value).__name__}")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta.total_seconds() < 0 or (delta.total_seconds() == 0 and not allow_zero):
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return delta


#: How long a deferral may outlive the trigger's own deadline before Airflow gives up on it. The
#: trigger yields a timeout event at its deadline (so the run is stopped); this is only a backstop.
DEFER_BACKSTOP = timedelta(minutes=10)


def defer_timeout(remaining: timedelta) -> timedelta:
    """``defer(timeout=...)``: a plain timedelta (workers msgpack-encode it; pendulum's Duration is refused)."""
    return timedelta(seconds=(remaining + DEFER_BACKSTOP).total_seconds())


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
    pacer: PollPacer,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> RunObservation | None:
    """Poll until the run is terminal (returns the observation) or the deadline passes (returns None)."""
    while not pacer.expired():
        try:
            obs = watcher.poll()
        except AxiomError as err:
            if not pacer.tolerate(err):
                raise
        else:
            pacer.succeeded()
            if obs.terminal or obs.state == "unknown":
                return obs
        sleep(pacer.next_wait())
    return None


def complete_from_event(conn_id: str, event: Any) -> dict[str, Any]:
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
        with stopping_hook(conn_id) as hook:
            stopped = stop_remote_run(hook, event.get("viewer_url"), name, "timeout")
        raise timeout_error(str(event.get("message")), stopped)
    cls = _ERROR_CLASSES.get(str(event.get("error_class")), AxiomApiError)
    raise cls(
        str(event.get("message") or "the axiom.ai trigger reported an error"),
        status_code=event.get("status_code"),
        api_message=None,
        hint="",
    )


__all__ = [
    "DEFER_BACKSTOP",
    "as_timedelta",
    "complete_from_event",
    "defer_timeout",
    "settle",
    "wait_in_worker",
]
