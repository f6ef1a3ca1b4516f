"""Trigger without waiting, then wait with a deferrable sensor (e.g. after other work in between).

The sensor recognises the run by name and start time: ``started_after`` comes from the trigger
task's ``triggered_at`` XCom, so an older run of the same automation is never taken for this one.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from airflow_provider_axiom.sensors.axiom import AxiomRunSensor


@dag(
    dag_id="example_axiom_trigger_then_sensor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["axiom", "example"],
)
def example_axiom_trigger_then_sensor():
    trigger = AxiomTriggerAutomationOperator(
        task_id="trigger_export",
        automation_name="Export leads",
        wait_for_completion=False,  # returns as soon as the run is started (or queued)
    )

    wait = AxiomRunSensor(
        task_id="wait_for_export",
        automation_name="Export leads",
        started_after="{{ ti.xcom_pull(task_ids='trigger_export', key='triggered_at') }}",
        viewer_url="{{ ti.xcom_pull(task_ids='trigger_export', key='viewer_url') }}",
        deferrable=True,
        poke_interval=5,
        timeout=timedelta(hours=1).total_seconds(),
    )

    @task
    def count_leads(result: dict) -> int:
        rows = (result["data"] or {}).get("google-sheet-data", [])
        print(f"{len(rows) - 1 if rows else 0} leads exported, run finished at {result['finished_at']}")
        return len(rows)

    trigger >> wait
    count_leads(wait.output)


example_axiom_trigger_then_sensor()
