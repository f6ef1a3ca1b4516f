"""DAG for ``tests/e2e/test_trigger_logs_per_task.py``: six mapped copies over one automation with cloud concurrency
on, triggered within seconds of each other from parallel worker processes and waited for in one
triggerer, so that some runs cannot be told apart (``ambiguous_run``) or have their rows hidden by a
newer run (``superseded``). Every copy sends its own id; the emulator echoes it back as the run's rows.
Parsing makes no network call.
"""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from tests.e2e.dags._factory import e2e_dag

LOGS_DAG_ID = "e2e_axiom_task_logs"
LOGS_AUTOMATION = "Task logs scrape"
LOGS_COPIES = 6
LOGS_TASK_ID = "scrape"


def copy_input(index: int) -> list[list[str]]:
    return [["task"], [f"{LOGS_TASK_ID}-{index}"]]


with e2e_dag(LOGS_DAG_ID, max_active_tasks=LOGS_COPIES) as e2e_axiom_task_logs:
    AxiomTriggerAutomationOperator.partial(
        task_id=LOGS_TASK_ID,
        automation_name=LOGS_AUTOMATION,
        deferrable=True,
        cloud_concurrency=True,
        poll_interval=2,
        timeout=timedelta(minutes=10),
    ).expand(data=[copy_input(i) for i in range(LOGS_COPIES)])
