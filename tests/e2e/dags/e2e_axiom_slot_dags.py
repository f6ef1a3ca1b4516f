"""DAGs for ``tests/e2e/test_held_fan_out.py``: ten mapped copies over one automation that runs one
instance at a time (cloud concurrency off), without a pool: the provider holds each trigger until
the automation is idle. Every copy sends its own id; the emulator echoes it back as the run's rows.
Parsing makes no network call.
"""

from __future__ import annotations

from airflow.sdk import DAG  # also what Airflow's safe mode looks for in a DAG file

from tests.e2e.dags import _factory

SLOT_DAG_ID = "e2e_axiom_slot_fanout"
SLOT_AUTOMATION = "Slot serial"
SLOT_COPIES = 10
SLOT_TASK_ID = "scrape"


def copy_input(index: int) -> list[list[str]]:
    return _factory.copy_input(SLOT_TASK_ID, index)


e2e_axiom_slot_fanout: DAG = _factory.mapped_copies_dag(
    SLOT_DAG_ID, SLOT_TASK_ID, SLOT_AUTOMATION, SLOT_COPIES, poll_interval=1
)
