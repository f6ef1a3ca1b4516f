"""Rows: whether ``/run-data``'s answer can describe the run. Pure.

``/run-data`` answers for the *latest* run of a name. With a run id the API has shown it reads
(``_run_ids``), rows are read by id; without one, only while the run is the newest of its name, and
only if a read of the reports sent after the ``/run-data`` answer still lists it as the newest (the
rule and its state machine: ``_completion.rows``). Here: whether an answer can describe a run that
ended as this one did. How a run is recognised is ``_run_ref`` and ``_matching``.
"""

from __future__ import annotations

from airflow_provider_axiom._protocol import run_state, says_finished
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.results import RunData


def same_outcome(run: RunData, state: RunState) -> bool:
    """Whether ``/run-data``'s answer can describe a run that ended in ``state`` (it answers for the latest run)."""
    if says_finished(run.status):
        return state.over  # an older surface answers "Finished" for both outcomes
    return run_state(run.status) == state
