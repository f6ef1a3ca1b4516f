"""Rows: whether ``/run-data``'s answer is the run's own. Pure.

``/run-data`` answers for the *latest* run of a name. With a run id the API has shown it reads
(``_run_ids``), rows are read by id; without one, only while the run is the newest of its name, and
only if a read of the reports taken after the ``/run-data`` answer still shows it newest. How a run is
recognised is ``_run_ref`` and ``_matching``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pendulum import DateTime

from airflow_provider_axiom._matching import RunObservation, newest
from airflow_provider_axiom._protocol import run_state, says_finished
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.results import RunData, RunReport


def same_outcome(run: RunData, state: RunState) -> bool:
    """Whether ``/run-data``'s answer can describe a run that ended in ``state`` (it answers for the latest run)."""
    if says_finished(run.status):
        return state.over  # an older surface answers "Finished" for both outcomes
    return run_state(run.status) == state


def output_of(ref: RunRef, obs: RunObservation, run: RunData) -> dict[str, Any] | None:
    """``run``'s rows if ``/run-data`` still describes this run (read by id, or the same outcome), else None."""
    if ref.run_id is not None:
        return run.data
    if not same_outcome(run, obs.state):
        return None  # another run is now the latest: its caller tells the run's task so
    return run.data


def still_newest(ref: RunRef, reports: Sequence[RunReport]) -> bool:
    """Whether a read taken after the ``/run-data`` answer still shows the pinned run as the newest of its name."""
    if ref.run_id is not None:
        return True
    assert ref.created_at is not None
    return newest_of_name(ref.automation_name, ref.created_at, reports)


def newest_of_name(name: str, created_at: DateTime, reports: Sequence[RunReport]) -> bool:
    """Whether ``reports`` show no run of ``name`` created after ``created_at``'s second."""
    return newest(created_at, [r for r in reports if r.task_name == name])
