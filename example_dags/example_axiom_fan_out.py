"""Fan-out over one automation: one mapped task per input, each getting its own run's rows.

Without a run id from the API, ``/run-data`` shows only the newest run of an automation, so runs of
one automation must run **one at a time** for every task to get its own rows. An Airflow pool of one
slot that counts deferred tasks does that, and deferred tasks still hold no worker slot::

    airflow pools set axiom_serial 1 "one axiom.ai run at a time" --include-deferred

(``pool_slots`` and ``include_deferred`` are Airflow's; create the pool once per deployment.)
Without the pool, runs started within the same seconds cannot be told apart: such a task still
succeeds (or fails) with the outcome they all share, but says ``data_unavailable="ambiguous_run"``
instead of returning rows. See "How a run is recognised" in the README.

Runs against the real API with an ``axiom_default`` connection, or against the bundled emulator.
Parsing this file makes no network call.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

PRODUCTS = ["https://example.com/product/1", "https://example.com/product/2", "https://example.com/product/3"]


@dag(
    dag_id="example_axiom_fan_out",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["axiom", "example"],
)
def example_axiom_fan_out():
    @task
    def inputs() -> list[list[list[str]]]:
        """One input table per mapped task: a header row and one product URL."""
        return [[["url"], [url]] for url in PRODUCTS]

    scrape = AxiomTriggerAutomationOperator.partial(
        task_id="scrape_one_product",
        automation_name="Scrape product prices",
        deferrable=True,
        pool="axiom_serial",  # one run of the automation at a time: each task's rows are its own
        timeout=timedelta(hours=1),
        retries=2,
        retry_delay=timedelta(minutes=1),
    ).expand(data=inputs())

    # One XCom for the whole dict: a `dict` return type would otherwise push each key as its own
    # XCom, and these keys (URLs) hold slashes that Airflow 3.0's XCom API cannot take.
    @task(multiple_outputs=False)
    def collect(results: list[dict]) -> dict[str, list[list[str]]]:
        """Each mapped task's result, keyed by the URL it was given (the run echoes its input)."""
        rows = {}
        for result in results:
            echoed = (result["data"] or {}).get("google-sheet-data") or []
            print(result["automation_name"], result["status"], result["identity"], echoed)
            if echoed:
                rows[echoed[1][0]] = echoed
        return rows

    collect(scrape.output)


example_axiom_fan_out()
