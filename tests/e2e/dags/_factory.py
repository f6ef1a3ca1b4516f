"""The one DAG header and the one-operator DAG that the e2e DAG files build on.

Imported by the DAG files as ``tests.e2e.dags._factory``: the e2e harness and ``tests/dags_cli.py``
put the repository on the ``PYTHONPATH`` of the Airflow processes they start. Parsing makes no
network call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator


def e2e_dag(dag_id: str, *, default_args: dict[str, Any] | None = None, **kwargs: Any) -> DAG:
    """A DAG run only when triggered, without task retries unless asked: a fault that fails a task shows as failed."""
    return DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["axiom-e2e"],
        default_args={"retries": 0, **(default_args or {})},
        **kwargs,
    )


def one_operator_dag(
    dag_id: str,
    task_id: str,
    automation_name: str,
    *,
    timeout_minutes: float = 15,
    default_args: dict[str, Any] | None = None,
    **operator_kwargs: Any,
) -> DAG:
    """A DAG of one operator polling every second."""
    with e2e_dag(dag_id, default_args=default_args) as dag:
        AxiomTriggerAutomationOperator(
            task_id=task_id,
            automation_name=automation_name,
            poll_interval=1,
            timeout=timedelta(minutes=timeout_minutes),
            **operator_kwargs,
        )
    return dag


def copy_input(task_id: str, index: int) -> list[list[str]]:
    """What mapped copy ``index`` sends: its own id, which the emulator echoes back as the run's rows."""
    return [["task"], [f"{task_id}-{index}"]]


def mapped_copies_dag(
    dag_id: str,
    task_id: str,
    automation_name: str,
    copies: int,
    *,
    timeout_minutes: float = 15,
    **operator_kwargs: Any,
) -> DAG:
    """``copies`` deferred mapped copies of one operator over one automation, each sending its own id."""
    with e2e_dag(dag_id, max_active_tasks=copies) as dag:
        AxiomTriggerAutomationOperator.partial(
            task_id=task_id,
            automation_name=automation_name,
            deferrable=True,
            timeout=timedelta(minutes=timeout_minutes),
            **operator_kwargs,
        ).expand(data=[copy_input(task_id, i) for i in range(copies)])
    return dag
