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
    jobs = [(f"deferred_{i}", f"HA job {i}", True) for i in range(DEFERRED)]
    jobs += [(f"in_worker_{i}", f"HA worker job {i}", False) for i in range(IN_WORKER)]
    for task_id, automation_name, deferrable in jobs:
        AxiomTriggerAutomationOperator(
            task_id=task_id,
            automation_name=automation_name,
            deferrable=deferrable,
            poll_interval=5,
            timeout=timedelta(minutes=15),
        )
