"""The event contract between the trigger (or the worker-side wait) and the task: what it holds, what it means."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow_provider_axiom import exceptions
from airflow_provider_axiom._matching import DataUnavailable, RunObservation
from airflow_provider_axiom._protocol import iso, viewer_link_masked, viewer_password
from airflow_provider_axiom._run_ref import KEY, RunRef
from airflow_provider_axiom._run_state import OUTCOMES, RunState
from airflow_provider_axiom._upgrade import event_field
from airflow_provider_axiom.exceptions import AxiomApiError, AxiomError, AxiomRunFailedError, AxiomRunTimeoutError

#: An event's status when the run outlived the task's deadline, and when the wait failed (or cannot tell).
TIMEOUT, ERROR = "timeout", "error"
#: The event statuses the trigger yields: a run's outcome (its ``RunState`` value), or a timeout or an
#: error; ``execute_complete`` fails closed on anything else.
EVENT_STATUSES: tuple[str, ...] = (*(state.value for state in OUTCOMES), TIMEOUT, ERROR)
#: How long a deferral may outlive the trigger's own deadline before Airflow gives up on it.
DEFER_BACKSTOP = timedelta(minutes=10)


def run_summary(
    ref: RunRef, obs: RunObservation, *, data: dict[str, Any] | None, unavailable: DataUnavailable | None = None
) -> dict[str, Any]:
    """The JSON-serialisable result the operator and sensor return (their XCom ``return_value``).

    ``identity`` says how the run is known to be this task's: ``run_id`` (read by the API's id, which
    the API has shown it reads; ``run_id`` itself is reported whenever ``/trigger`` returned one), ``matched``
    (the only run its trigger can have started), or ``ambiguous`` (one of ``candidates``, runs of the
    automation started within the same seconds: their times and rows are not reported as its own).
    ``data_unavailable`` says why ``data`` is None for a run that succeeded.
    """
    report = obs.report
    ambiguous = not obs.certain and bool(obs.candidates)
    status = report.status if report else obs.raw_status
    if ambiguous:
        status = obs.candidates[0].status if obs.state.over else obs.raw_status
    return {
        "automation_name": ref.automation_name,
        "status": status,
        "viewer_url": ref.viewer_url,
        "run_id": ref.run_id,
        "triggered_at": iso(ref.triggered_at),
        "started_at": iso(report.created_at if report else None if ambiguous else ref.created_at),
        "finished_at": iso(report.updated_at if report else None),
        "description": report.description if report else None,
        "identity": "run_id" if obs.by_id else "ambiguous" if ambiguous else "matched",
        "candidates": [
            {"started_at": iso(r.created_at), "finished_at": iso(r.updated_at), "status": r.status}
            for r in obs.candidates
        ],
        "data": data,
        "data_unavailable": unavailable if data is None and obs.state.succeeded else None,
    }


def failure_error(summary: dict[str, Any]) -> AxiomRunFailedError:
    """The error for a run that ended in ``Failure``, with the report's description and viewer link."""
    what = f"axiom.ai run of {summary['automation_name']!r} failed"
    if summary.get("identity") == "ambiguous":
        what += (
            f" (this task's run is one of {len(summary.get('candidates') or ())} runs started within the same "
            "seconds, and all of them failed)"
        )
    return AxiomRunFailedError(
        what,
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


def event(ref: RunRef, status: str, message: str, **extra: Any) -> dict[str, Any]:
    """A wait's event: ``status`` (one of :data:`EVENT_STATUSES`), ``message``, and the run's identity under
    :data:`~airflow_provider_axiom._run_ref.KEY` (its own serialised form, read back with :func:`run_field`)."""
    return {"status": status, "message": message, KEY: ref.to_dict(), **extra}


def _relinked(event: dict[str, Any], new_link: Callable[[str], str]) -> dict[str, Any]:
    """``event`` with ``new_link(link)`` in place of the viewer link in the run's identity and the summary."""
    out = dict(event)
    for key in (KEY, "summary"):
        part = out.get(key)
        if isinstance(part, dict) and part.get("viewer_url"):
            out[key] = {**part, "viewer_url": new_link(str(part["viewer_url"]))}
    return out


def link_masked(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` as the trigger fires it: the viewer link's password shown as ``***``, in the run's identity
    and in the summary.

    Airflow's triggerer logs every event it fires, with its payload. Keeping the password out of the event
    means the triggerer registers no secret per run: its masker keeps every secret for the life of the
    process and recompiles one expression of all of them for each new one, so a secret per run costs
    O(n²) over the runs a triggerer waits for. The task restores the link from its own record
    (:func:`link_restored`).
    """
    return _relinked(payload, viewer_link_masked)


def link_restored(event: Any, known: str | None) -> Any:
    """``event`` with its viewer link whole again, from ``known``: the link the task itself recorded.

    Restored only where the event's link is ``known``'s masked form, so a link recorded for another run is
    never put in its place. An event that carries the whole link (the worker-side wait, or an event fired
    before the trigger masked it) is returned as it is.
    """
    if not (isinstance(event, dict) and known and viewer_password(known)):
        return event
    masked = viewer_link_masked(known)
    return _relinked(event, lambda link: known if link == masked else link)


def run_field(event: Any, key: str) -> Any:
    """A field of the run's identity an event carries (``automation_name``, ``viewer_url``, ``run_id``,
    ``attempt``...); None when absent. An event yielded by 0.2 had them as loose keys: read with a warning."""
    if not isinstance(event, dict):
        return None
    run = event.get(KEY)
    if isinstance(run, dict):
        return run.get(key)
    if "automation_name" in event:
        return event_field(event, key)
    return None


def settles_run(event: Any) -> bool:
    """Whether ``event`` leaves nothing of its run to come back to: the run ended, or it timed out (and
    was asked to stop). An ``error`` event may leave the run running, or its rows unread."""
    return isinstance(event, dict) and event.get("status") in (*OUTCOMES, TIMEOUT)


def stale_event(context: Any, event: Any) -> bool:
    """Whether ``event`` belongs to an earlier try of the task.

    Airflow 3.0 does not clear a deferred task's resume point when the task goes up for retry, so
    the retry starts at ``execute_complete`` with the previous try's event. Such an event must not
    decide the new try: it starts over with ``execute``.
    """
    ti = context.get("ti") if isinstance(context, dict) else None
    attempt = run_field(event, "attempt")
    try_number = getattr(ti, "try_number", None)
    return isinstance(attempt, int) and isinstance(try_number, int) and attempt != try_number


def complete_from_event(event: Any, *, stop: Any = None) -> dict[str, Any]:
    """Turn a wait's event into the task's result, or raise. Unknown events fail closed.

    ``stop(event)`` is called for a ``timeout`` event and says whether the run was stopped.
    """
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AxiomApiError(
            f"unexpected event from the axiom.ai trigger: {event!r}", hint="This is a bug; please report it"
        )
    status = event["status"]
    name = run_field(event, "automation_name") or "?"
    summary = event.get("summary") or {}
    if status == RunState.SUCCESS:
        return dict(summary)
    if status == RunState.FAILURE:
        raise failure_error({"automation_name": name, "viewer_url": run_field(event, "viewer_url"), **summary})
    if status == TIMEOUT:
        stopped = bool(stop(event)) if stop else False
        raise timeout_error(str(event.get("message")), stopped)
    cls = getattr(exceptions, str(event.get("error_class")), None)
    if not (isinstance(cls, type) and issubclass(cls, AxiomError)):
        cls = AxiomApiError
    message = str(event.get("message") or "the axiom.ai trigger reported an error")
    raise cls(
        message,
        status_code=event.get("status_code"),
        hint="" if cls.default_hint and cls.default_hint in message else None,
    )
