"""What the operator and the sensor share: argument checks, the waiting deadline, the task state store."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._protocol import to_datetime

log = logging.getLogger(__name__)


def as_timedelta(value: timedelta | float | int, field_name: str, *, allow_zero: bool = False) -> timedelta:
    """``timeout``-style arguments: seconds or a timedelta, positive (or zero with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{field_name} must be seconds or a timedelta, got {type(value).__name__}")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta.total_seconds() < 0 or (delta.total_seconds() == 0 and not allow_zero):
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return delta


def waiting_deadline(context: Any, now: DateTime, timeout: timedelta, execution_timeout: timedelta | None) -> DateTime:
    """When waiting must end: ``timeout`` from now, or the try's start plus ``execution_timeout`` if sooner.

    Airflow 3 does not apply ``execution_timeout`` to the time a task spends deferred, so the wait
    applies it itself, in both modes.
    """
    deadline = now + timeout
    if execution_timeout is None:
        return deadline
    started = getattr(context.get("ti"), "start_date", None) if hasattr(context, "get") else None
    try:
        start = to_datetime(started, "start_date") if started else now
    except Exception:  # an unusual start date: count from now
        start = now
    return min(deadline, start + execution_timeout)


def task_state(context: Any, op: str, key: str, *args: Any, **kwargs: Any) -> Any:
    """The task state store (Airflow 3.3+), best effort: absent or failing, it is skipped with a warning."""
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return None
    try:
        return getattr(store, op)(key, *args, **kwargs)
    except Exception as err:  # the store is a convenience; never fail a started run over it
        log.warning("axiom.ai: task state store %s failed: %s", op, err)
        return None
