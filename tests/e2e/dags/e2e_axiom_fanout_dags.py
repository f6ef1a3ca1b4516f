"""DAGs for the fan-out e2e test (``tests/e2e/test_fan_out.py``): 20 mapped tasks over one automation each.

Every mapped task sends its own id as input; the emulator's automations echo it back, so a task's
rows prove whose run it got. The setups: each reading of the run-id pages (``by_id``,
``name_required``, ``ignored``: the emulator's ``run_ids``), deferred and waited for in the worker;
no run id, one run at a time (an Airflow pool of one slot that counts deferred tasks); no run id,
cloud concurrency on.
Parsing makes no network call. The automation names and connection ids must match the test.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from tests.e2e.dags._factory import e2e_dag

FANOUT = 20
TASK_ID = "scrape"
SERIAL_POOL = "axiom_fanout_serial"
#: The emulators' readings of the run-id pages, each behind a connection of its own.
READING_CONNS = {"by_id": "axiom_by_id", "name_required": "axiom_name_required", "ignored": "axiom_ignored"}
#: dag id -> (automation name, connection id, pool or None, deferrable); the pool's automation runs
#: one at a time (its pool already serialises the copies, so they send at once), the others allow
#: cloud concurrency
FANOUT_DAGS = {
    "e2e_axiom_fanout_run_id": ("Fanout by id", "axiom_by_id", None, True),
    "e2e_axiom_fanout_serial": ("Fanout serial", "axiom_default", SERIAL_POOL, True),
    "e2e_axiom_fanout_concurrent": ("Fanout concurrent", "axiom_default", None, True),
    **{
        f"e2e_axiom_fanout_{reading}{suffix}": (name, conn_id, None, deferrable)
        for reading, conn_id in READING_CONNS.items()
        for suffix, name, deferrable in (("", "Fanout by id", True), ("_worker", "Fanout worker", False))
        if f"{reading}{suffix}" != "by_id"  # e2e_axiom_fanout_run_id
    },
}


def task_input(index: int) -> list[list[str]]:
    return [["task"], [f"{TASK_ID}-{index}"]]


def _dag(dag_id: str, automation_name: str, conn_id: str, pool: str | None, deferrable: bool) -> Any:
    with e2e_dag(dag_id, max_active_tasks=FANOUT) as dag:
        AxiomTriggerAutomationOperator.partial(
            task_id=TASK_ID,
            automation_name=automation_name,
            axiom_conn_id=conn_id,
            deferrable=deferrable,
            poll_interval=2,
            timeout=timedelta(minutes=20),
            **({"pool": pool, "wait_for_slot": False} if pool else {"cloud_concurrency": True}),
        ).expand(data=[task_input(i) for i in range(FANOUT)])
    return dag


for _dag_id, (_name, _conn, _pool, _deferrable) in FANOUT_DAGS.items():
    globals()[_dag_id] = _dag(_dag_id, _name, _conn, _pool, _deferrable)
