"""The soak DAG (``tests/e2e/test_soak.py``): many short runs, deferred and waited for in the worker.

Two mapped operators (dynamic task mapping), ``SOAK_RUNS_PER_MODE`` instances each. Instance ``i``
of mode ``m`` triggers its own automation ``soak_automation(m, i)`` with its own input rows
``soak_rows(m, i)``; the emulator echoes the rows back, so every output can be checked against its
input. No task retries: a transient fault that fails a task must show as a failed task. A third
mapped operator, ``SOAK_TIMEOUT_TASK``, waits (half deferred, half in the worker) for runs that last
far longer than its ``execution_timeout``: each must fail and stop its run.
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
#: Instances ``0 .. SOAK_TIMEOUT_RUNS - 1``: the even ones deferred, the odd ones in the worker.
SOAK_TIMEOUT_TASK = "soak_timeout"
SOAK_TIMEOUT_RUNS = 4
SOAK_EXECUTION_TIMEOUT = timedelta(seconds=8)


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
            cloud_concurrency=True,  # as the scenario's automations: nothing holds a trigger, no look before it
            poll_interval=1,
            timeout=timedelta(minutes=5),
        ).expand_kwargs(_kwargs(_task_id))
    AxiomTriggerAutomationOperator.partial(
        task_id=SOAK_TIMEOUT_TASK,
        cloud_concurrency=True,
        poll_interval=1,
        execution_timeout=SOAK_EXECUTION_TIMEOUT,
    ).expand_kwargs(
        [
            {
                "automation_name": soak_automation(SOAK_TIMEOUT_TASK, i),
                "data": soak_rows(SOAK_TIMEOUT_TASK, i),
                "deferrable": i % 2 == 0,
            }
            for i in range(SOAK_TIMEOUT_RUNS)
        ]
    )
