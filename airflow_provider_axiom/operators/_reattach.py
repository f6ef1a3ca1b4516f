"""Surviving a retry: the run's identity kept in the task state until the run ends, and re-attached to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_axiom import _upgrade
from airflow_provider_axiom._completion import look_once, run_summary
from airflow_provider_axiom._run_ref import KEY, RunRef
from airflow_provider_axiom._tasks import TaskState
from airflow_provider_axiom.exceptions import AxiomError

if TYPE_CHECKING:
    from airflow_provider_axiom.hooks.axiom import AxiomHook

#: Task state store key holding the run's identity until the run ends (re-attach on retry, Airflow 3.3+):
#: ``{"run": RunRef.to_dict()}``, the form the trigger's arguments and the event carry under the same key.
STATE_KEY = "axiom_run"


def task_state(store: Any) -> TaskState:
    """Where the run's identity is kept until the run ends (``context["task_state_store"]``, or None)."""
    return TaskState(store, STATE_KEY)


def save(state: TaskState, ref: RunRef, timeout: timedelta) -> None:
    """Keep the run's identity until the run ends (a retry re-attaches from it), a day past the wait's ``timeout``."""
    state.set({KEY: ref.to_dict()}, retention=timeout + timedelta(days=1))


def saved_run(saved: Any, attempt: int | None, tolerance: timedelta) -> RunRef | None:
    """The run a task state names, with this attempt's number (a state saved by 0.2 is read with a warning)."""
    if isinstance(saved, dict) and isinstance(saved.get(KEY), dict):
        return replace(RunRef.from_dict(saved[KEY]), attempt=attempt)
    if _upgrade.is_state(saved):
        return _upgrade.state_ref(saved, tolerance, attempt=attempt)
    return None


def resume(
    hook: AxiomHook,
    state: TaskState,
    name: str,
    attempt: int | None,
    *,
    tolerance: timedelta,
    timeout: timedelta,
    fetch_output: bool,
    log: logging.Logger | Any,
    succeeded: Callable[[RunRef], None],
) -> RunRef | dict[str, Any] | None:
    """The run an earlier attempt left, if this attempt should carry on with it (Airflow 3.3+).

    As the Task SDK's ``ResumableJobMixin``: a run still queued or running is re-attached to
    (its identity is returned, with this attempt's number); one that already succeeded gives its
    result (a dict, after ``succeeded`` is told of the run); one that failed, or none at all, means a
    new run (None). When its state cannot be read, it is re-attached to: a second, billed run is worse
    than a wait.
    """
    saved = state.get()
    previous = saved_run(saved, attempt, tolerance)
    if previous is None or previous.automation_name != name:
        return None
    if KEY not in saved:  # saved by 0.2: saved again in the one shape, which later releases read
        save(state, previous, timeout)
    try:
        look = look_once(hook, previous, fetch_output=fetch_output, logger=log)
    except AxiomError as err:
        log.warning("axiom.ai: could not check the earlier attempt's run (%s); re-attaching to it", err)
        return previous
    if not look.obs.state.ends_wait:
        return previous
    if look.obs.state.succeeded:
        state.delete()
        succeeded(previous)
        return run_summary(look.ref, look.obs, data=look.rows, unavailable=look.unavailable)
    log.info("axiom.ai: the earlier attempt's run of %r ended (%s); starting a new run", name, look.obs.raw_status)
    return None
