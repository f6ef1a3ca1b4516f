"""What the operator pushes and says once it knows its run: the viewer link and trigger time in XCom, one log line."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_axiom import _metrics
from airflow_provider_axiom._compat import mask_secret
from airflow_provider_axiom._protocol import viewer_password
from airflow_provider_axiom.results import TriggerResult

if TYPE_CHECKING:
    from pendulum import DateTime

    from airflow_provider_axiom.hooks.axiom import AxiomHook

#: XCom keys pushed before waiting, so the link and downstream tasks work while the task waits.
XCOM_VIEWER_URL = "viewer_url"
XCOM_TRIGGERED_AT = "triggered_at"


def run_id_note(result: TriggerResult) -> str:
    """`` (run id ...)`` when ``/trigger`` returned one (recorded and reported; used only where the API reads it)."""
    return f" (run id {result.run_id})" if result.run_id else ""


def record(
    ti: Any,
    log: logging.Logger | Any,
    conn_id: str,
    hook: AxiomHook,
    name: str,
    viewer_url: str | None,
    triggered_at: DateTime | None,
    *,
    result: TriggerResult | None = None,
    succeeded: bool = False,
) -> None:
    """Push the viewer link and trigger time, and say in one line what happened (the link's password masked).

    ``result``: ``/trigger``'s answer, when this attempt sent it; without it, the run an earlier attempt
    started is re-attached to (or, ``succeeded``, its result returned).
    """
    mask_secret(viewer_password(viewer_url))  # before anything could log it
    if viewer_url:  # Airflow 3.0 refuses an XCom of None
        ti.xcom_push(key=XCOM_VIEWER_URL, value=viewer_url)
    if triggered_at is not None:
        ti.xcom_push(key=XCOM_TRIGGERED_AT, value=triggered_at.isoformat())
    if succeeded:  # one line: nothing is re-attached to, the result is returned
        log.info(
            "axiom.ai: the run of %r an earlier attempt started at %s already succeeded; returning its result, "
            "no new run",
            name,
            triggered_at,
        )
    elif result is None:
        _metrics.run_reattached(conn_id)
        log.info("axiom.ai: re-attached to the run of %r started at %s", name, triggered_at)
    elif result.status == "queued":
        idle = hook.settings.queue_idle_window
        log.info(
            "axiom.ai queued the run of %r: %s%s This task recognises its run once it has started and %r has "
            "then been idle for %.0f s (queue_idle_window: a run started for another client's queued trigger "
            "must not be taken for this one), so its result comes about that long after the run ends, at the "
            "latest at this task's deadline",
            name,
            result.message,
            run_id_note(result),
            name,
            idle,
        )
    elif result.recovered:
        log.info(
            "axiom.ai started %r (found in run reports after its answer was lost); "
            "the live-viewer link is unavailable for a run recovered from reports",
            name,
        )
    else:
        log.info("axiom.ai started %r%s; watch it through the task's 'Axiom run' link", name, run_id_note(result))
