"""What the operator and the sensor share: argument checks, the waiting deadline, the task state store."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._protocol import normalize_data, to_datetime, validate_name
from airflow_provider_axiom.exceptions import AxiomBadRequestError

log = logging.getLogger(__name__)


def as_timedelta(value: timedelta | float | int, field_name: str, *, allow_zero: bool = False) -> timedelta:
    """``timeout``-style arguments: seconds or a timedelta, positive (or zero with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (timedelta, int, float)):
        raise ValueError(f"{field_name} must be seconds or a timedelta, got {type(value).__name__}")
    delta = value if isinstance(value, timedelta) else timedelta(seconds=value)
    if delta.total_seconds() < 0 or (delta.total_seconds() == 0 and not allow_zero):
        raise ValueError(f"{field_name} must be positive, got {value!r}")
    return delta


def coerce_data(data: Any) -> Any:
    """``data`` as given, or parsed from JSON when templating turned it into a string."""
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            raise AxiomBadRequestError(
                "data is a string that is not JSON",
                hint="Pass a list of rows, an XComArg, a JSON string, or set render_template_as_native_obj=True",
            ) from None
    return data


def trigger_input(automation_name: Any, data: Any) -> tuple[str, list[Any] | None]:
    """The automation's name and its input rows, checked (and the rows normalised) before anything is sent."""
    return validate_name(automation_name, "automation_name"), normalize_data(coerce_data(data))


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


class TaskState:
    """One key of the task state store (Airflow 3.3+, ``context["task_state_store"]``), best effort:
    with no store (``None``), or when the store fails, each call is skipped (with a warning) and gets None.
    """

    def __init__(self, store: Any, key: str) -> None:
        self.store = store
        self.key = key

    def get(self) -> Any:
        """What is saved under the key, or None."""
        return self._best_effort("get", lambda store: store.get(self.key))

    def set(self, value: Any, *, retention: timedelta) -> None:
        """Save ``value`` under the key, kept for ``retention``."""
        self._best_effort("set", lambda store: store.set(self.key, value, retention=retention))

    def delete(self) -> None:
        """Forget what is saved under the key."""
        self._best_effort("delete", lambda store: store.delete(self.key))

    def _best_effort(self, op: str, call: Callable[[Any], Any]) -> Any:
        if self.store is None:
            return None
        try:
            return call(self.store)
        except Exception as err:  # the store is a convenience; never fail a started run over it
            log.warning("axiom.ai: task state store %s failed: %s", op, err)
            return None
