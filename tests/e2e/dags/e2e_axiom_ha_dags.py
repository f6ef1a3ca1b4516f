"""DAG for the shared-key e2e test (``tests/e2e/test_shared_key.py``): many runs on one key at once.

Deferrable tasks wait in the triggerers; a few wait in LocalExecutor workers. Parsing makes no
network call. The automation names must match the scenario in ``test_shared_key.py``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from tests.e2e.dags._factory import e2e_dag

DEFERRED = 10
IN_WORKER = 2

with e2e_dag("e2e_axiom_shared_key", max_active_tasks=16) as e2e_axiom_shared_key:
    for i in range(DEFERRED):
        AxiomTriggerAutomationOperator(
            task_id=f"deferred_{i}",
            automation_name=f"HA job {i}",
            deferrable=True,
            poll_interval=5,
            timeout=timedelta(minutes=15),
        )
    for i in range(IN_WORKER):
        AxiomTriggerAutomationOperator(
            task_id=f"in_worker_{i}",
            automation_name=f"HA worker job {i}",
            deferrable=False,
            poll_interval=5,
            timeout=timedelta(minutes=15),
        )
