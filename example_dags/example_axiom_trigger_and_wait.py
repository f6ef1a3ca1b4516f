"""Trigger an axiom.ai automation with input rows, wait for it, and use its output rows downstream.

Runs against the real API with an ``axiom_default`` connection holding your API key, or against
the bundled emulator (``python3 dev.py demo`` sets that up). Parsing this file makes no network call.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator


@dag(
    dag_id="example_axiom_trigger_and_wait",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["axiom", "example"],
)
def example_axiom_trigger_and_wait():
    @task
    def product_urls() -> list[list[str]]:
        """Input rows for the automation: a header row, then one URL per row."""
        return [
            ["url"],
            ["https://example.com/product/1"],
            ["https://example.com/product/2"],
            ["https://example.com/product/3"],
        ]

    scrape = AxiomTriggerAutomationOperator(
        task_id="scrape_prices",
        automation_name="Scrape product prices",
        data=product_urls(),
        deferrable=True,  # wait in the triggerer, not in a worker slot
        poll_interval=5,
        timeout=timedelta(hours=1),
        retries=2,
        retry_delay=timedelta(minutes=1),
    )

    @task
    def load_rows(result: dict) -> int:
        """Consume the run's output rows (writer token -> rows)."""
        rows = [row for table in (result["data"] or {}).values() for row in table]
        print(f"{result['automation_name']}: {result['status']}, {len(rows)} rows")
        for row in rows:
            print("  ", " | ".join(row))
        print("Run id:", result["run_id"])  # not the viewer link: it is a credential (the "Axiom run" link has it)
        return len(rows)

    load_rows(scrape.output)


example_axiom_trigger_and_wait()
