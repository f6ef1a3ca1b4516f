"""Schedule DAGs on axiom.ai runs that were started outside Airflow (by axiom.ai's own scheduler, say).

An ``AssetWatcher`` with ``AxiomRunFinishedTrigger`` turns every finished run of "Scrape product
prices" into an asset event; the DAG scheduled on that asset loads the run's output rows from the
event (``triggering_asset_events``). A second asset watches the same automation for failures only.
Airflow may hand one DAG run several events when runs end close together, so each task loops over
all of them. Parsing makes no network call: the watchers run in the triggerer.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_axiom.triggers.watch import AxiomRunFinishedTrigger

AUTOMATION = "Scrape product prices"

scraped_prices = Asset(
    "axiom_scraped_prices",
    watchers=[
        AssetWatcher(
            name="axiom_prices_done",
            trigger=AxiomRunFinishedTrigger(automation_name=AUTOMATION, read_output=True),
        )
    ],
)

scrape_failures = Asset(
    "axiom_scrape_failures",
    watchers=[
        AssetWatcher(
            name="axiom_prices_failed",
            trigger=AxiomRunFinishedTrigger(automation_name=AUTOMATION, outcomes=["failure"]),
        )
    ],
)


DAG_ARGS: dict[str, Any] = {
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "tags": ["axiom", "example"],
}


@dag(dag_id="example_axiom_load_scraped_prices", schedule=[scraped_prices], **DAG_ARGS)
def example_axiom_load_scraped_prices():
    @task
    def load_rows(*, triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One entry per finished run that triggered this DAG run, with its rows."""
        loaded = []
        for event in (triggering_asset_events or {}).get(scraped_prices, []):
            run = event.extra.get("payload") or {}
            if run.get("data_unavailable"):  # e.g. "superseded": a newer run of the name hid its rows
                print(f"{run.get('run_key')}: no rows in the event ({run['data_unavailable']}), skipped")
                continue
            tables = run.get("data") or {}
            rows = sum(max(len(table) - 1, 0) for table in tables.values())  # minus the header row
            print(f"{run.get('run_key')}: {run.get('outcome')}, {rows} rows: {run.get('description')}")
            loaded.append({"run_key": run.get("run_key"), "finished_at": run.get("finished_at"), "data": tables})
        return loaded

    @task
    def run_models(loaded: list[dict[str, Any]]) -> int:
        print(f"running the models on {len(loaded)} run(s)")
        return len(loaded)

    run_models(load_rows())


@dag(dag_id="example_axiom_scrape_failed_alert", schedule=[scrape_failures], **DAG_ARGS)
def example_axiom_scrape_failed_alert():
    @task
    def alert(*, triggering_asset_events: Any = None) -> list[str]:
        failed = []
        for event in (triggering_asset_events or {}).get(scrape_failures, []):
            run = event.extra.get("payload") or {}
            print(f"ALERT: {run.get('automation_name')} failed at {run.get('finished_at')}: {run.get('description')}")
            failed.append(run.get("run_key"))
        return failed

    alert()


example_axiom_load_scraped_prices()
example_axiom_scrape_failed_alert()
