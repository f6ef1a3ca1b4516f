"""Failures: what retries, what fails at once, and how to react downstream.

* Transient API faults (429, 5xx, timeouts) are retried inside each call with backoff, and
  while waiting the poller absorbs a bounded run of them: the task does not fail.
* A run that ends in ``Failure`` raises ``AxiomRunFailedError`` with the run report's text and the
  viewer link. It is retryable: the task's ``retries`` decide whether to run it again.
* A wrong key, a missing automation or bad input raises an ``AirflowFailException`` subclass: the
  task fails at once, whatever ``retries`` says, because trying again cannot help.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator


@dag(
    dag_id="example_axiom_error_handling",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["axiom", "example"],
    default_args={"retries": 1, "retry_delay": timedelta(seconds=5)},
)
def example_axiom_error_handling():
    # An automation that fails in the cloud browser: retried once, then the task fails.
    checkout = AxiomTriggerAutomationOperator(
        task_id="broken_checkout",
        automation_name="Broken checkout flow",
        deferrable=True,
        poll_interval=5,
    )

    @task(trigger_rule="one_failed")
    def alert_on_failure() -> str:
        """Runs only when the checkout task failed: send an alert, open a ticket, etc."""
        message = "Checkout automation failed; see the task log for the run report and the 'Axiom run' link"
        print(message)
        return message

    # An automation that succeeds even though the API has transient faults along the way.
    AxiomTriggerAutomationOperator(
        task_id="export_leads",
        automation_name="Export leads",
        deferrable=False,  # waits in the worker; same error handling
        poll_interval=5,
    )

    checkout >> alert_on_failure()


example_axiom_error_handling()
