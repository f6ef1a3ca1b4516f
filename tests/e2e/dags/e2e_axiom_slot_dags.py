"""DAGs for ``tests/e2e/test_held_fan_out.py``: ten mapped copies over one automation that runs one
instance at a time (cloud concurrency off), without a pool: the provider holds each trigger until
the automation is idle. Every copy sends its own id; the emulator echoes it back as the run's rows.
Parsing makes no network call.
"""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from tests.e2e.dags._factory import e2e_dag

SLOT_DAG_ID = "e2e_axiom_slot_fanout"
SLOT_AUTOMATION = "Slot serial"
SLOT_COPIES = 10
SLOT_TASK_ID = "scrape"


def copy_input(index: int) -> list[list[str]]:
    return [["task"], [f"{SLOT_TASK_ID}-{index}"]]


with e2e_dag(SLOT_DAG_ID, max_active_tasks=SLOT_COPIES) as e2e_axiom_slot_fanout:
    AxiomTriggerAutomationOperator.partial(
        task_id=SLOT_TASK_ID,
        automation_name=SLOT_AUTOMATION,
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(minutes=15),
    ).expand(data=[copy_input(i) for i in range(SLOT_COPIES)])
