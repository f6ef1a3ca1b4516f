"""DAGs for the end-to-end tests (``tests/e2e``): one deferrable operator each, run by a real Airflow.

Parsed by the dag-processor of the Airflow that ``tests/e2e/conftest.py`` starts; the connection
``axiom_default`` points at the emulator through ``AIRFLOW_CONN_AXIOM_DEFAULT``. Parsing makes no
network call. The automation names must match the emulator scenario in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

TASK_ID = "run_automation"
INPUT_ROWS = [["sku", "qty"], ["A-100", "3"], ["B-200", "7"]]


def _dag(dag_id: str, automation_name: str, **operator_kwargs: Any) -> DAG:
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["axiom-e2e"],
        default_args={"retries": 0},
    ) as dag:
        AxiomTriggerAutomationOperator(
            task_id=TASK_ID,
            automation_name=automation_name,
            deferrable=True,
            poll_interval=1,
            max_poll_interval=2,
            timeout=timedelta(minutes=15),
            **operator_kwargs,
        )
    return dag


# A run of a few seconds: defers, the triggerer sees it finish, execute_complete returns the rows.
e2e_axiom_deferred_success = _dag("e2e_axiom_deferred_success", "E2E quick scrape", data=INPUT_ROWS)

# A run of an emulated hour: the test marks the deferred task failed; the trigger's on_kill stops it.
e2e_axiom_mark_failed = _dag("e2e_axiom_mark_failed", "E2E long export")

# A run of an emulated hour: the test restarts the triggerer, then moves the emulator's clock on.
e2e_axiom_triggerer_restart = _dag("e2e_axiom_triggerer_restart", "E2E long sync")
