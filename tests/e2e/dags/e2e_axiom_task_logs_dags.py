"""DAG for ``tests/e2e/test_trigger_logs_per_task.py``: six mapped copies over one automation with cloud concurrency
on, triggered within seconds of each other from parallel worker processes and waited for in one
triggerer, so that some runs cannot be told apart (``ambiguous_run``) or have their rows hidden by a
newer run (``superseded``). Every copy sends its own id; the emulator echoes it back as the run's rows.
Parsing makes no network call.
"""

from __future__ import annotations

from airflow.sdk import DAG  # also what Airflow's safe mode looks for in a DAG file

from tests.e2e.dags import _factory

LOGS_DAG_ID = "e2e_axiom_task_logs"
LOGS_AUTOMATION = "Task logs scrape"
LOGS_COPIES = 6
LOGS_TASK_ID = "scrape"


def copy_input(index: int) -> list[list[str]]:
    return _factory.copy_input(LOGS_TASK_ID, index)


e2e_axiom_task_logs: DAG = _factory.mapped_copies_dag(
    LOGS_DAG_ID, LOGS_TASK_ID, LOGS_AUTOMATION, LOGS_COPIES, timeout_minutes=10, cloud_concurrency=True, poll_interval=2
)
