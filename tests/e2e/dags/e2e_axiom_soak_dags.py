"""The soak DAG (``tests/e2e/test_soak.py``): many short runs, deferred and waited for in the worker.

Two mapped operators (dynamic task mapping), ``SOAK_RUNS_PER_MODE`` instances each. Instance ``i``
of mode ``m`` triggers its own automation ``soak_automation(m, i)`` with its own input rows
``soak_rows(m, i)``; the emulator echoes the rows back, so every output can be checked against its
input. No task retries: a transient fault that fails a task must show as a failed task.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from tests.e2e.dags._factory import e2e_dag

SOAK_DAG_ID = "e2e_axiom_soak"
SOAK_RUNS_PER_MODE = 50
#: task id -> deferrable
SOAK_TASKS = {"soak_deferred": True, "soak_worker": False}


def soak_automation(task_id: str, index: int) -> str:
    return f"Soak {task_id.removeprefix('soak_')} {index:03d}"


def soak_rows(task_id: str, index: int) -> list[list[str]]:
    return [["task", "index"], [task_id, str(index)]]


def _kwargs(task_id: str) -> list[dict[str, Any]]:
    return [
        {"automation_name": soak_automation(task_id, i), "data": soak_rows(task_id, i)}
        for i in range(SOAK_RUNS_PER_MODE)
    ]


with e2e_dag(SOAK_DAG_ID, max_active_tasks=64) as e2e_axiom_soak:
    for _task_id, _deferrable in SOAK_TASKS.items():
        AxiomTriggerAutomationOperator.partial(
            task_id=_task_id,
            deferrable=_deferrable,
            poll_interval=1,
            max_poll_interval=2,
            timeout=timedelta(minutes=5),
        ).expand_kwargs(_kwargs(_task_id))
