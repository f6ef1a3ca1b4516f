"""Every example DAG parses without network access and passes `airflow dags test` against the emulator."""

from __future__ import annotations

import socket
import subprocess

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import REPO, airflow, xcom
from tests.dags_cli import dags_test as airflow_dags_test

DAGS = REPO / "example_dags"
EXPECTED = {
    "example_axiom_trigger_and_wait",
    "example_axiom_trigger_then_sensor",
    "example_axiom_error_handling",
    "example_axiom_load_scraped_prices",
    "example_axiom_scrape_failed_alert",
    "example_axiom_fan_out",
}


def test_parsing_the_example_dags_makes_no_network_call(monkeypatch):
    try:
        from airflow.dag_processing.dagbag import DagBag  # 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access while parsing DAGs: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", "axiom://:must-not-be-used@")
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED


def dags_test(dag_id: str, emulator: AxiomEmulator) -> subprocess.CompletedProcess[str]:
    return airflow_dags_test(dag_id, {"AIRFLOW_CONN_AXIOM_DEFAULT": emulator.connection_json()})


def task_states(dag_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.state for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id)}


@pytest.mark.airflow_db
def test_trigger_and_wait(migrated_db):
    with AxiomEmulator("demo", speed=30) as emulator:
        result = dags_test("example_axiom_trigger_and_wait", emulator)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        runs = emulator.started_runs("Scrape product prices")
    assert len(runs) == 1
    output = xcom("example_axiom_trigger_and_wait", "scrape_prices")
    assert output["status"] == "Success" and output["viewer_url"] == runs[0]["viewer_url"]
    assert output["data"]["google-sheet-data"][1] == ["https://example.com/product/1"]
    assert output["data"]["prices"][1] == ["https://example.com/product/1", "19.99", "EUR", "true"]
    assert xcom("example_axiom_trigger_and_wait", "load_rows") == 8
    assert "[DAG TEST] running trigger in line" in result.stdout + result.stderr  # it really deferred


@pytest.mark.airflow_db
def test_trigger_then_sensor(migrated_db):
    with AxiomEmulator("demo", speed=30) as emulator:
        result = dags_test("example_axiom_trigger_then_sensor", emulator)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    output = xcom("example_axiom_trigger_then_sensor", "wait_for_export")
    # the emulator holds an older Success of "Export leads" with other rows: never reported as this run's
    assert ["Old Row", "old@example.com"] not in output["data"]["google-sheet-data"]
    assert ["Ada Lovelace", "ada@example.com"] in output["data"]["google-sheet-data"]
    assert xcom("example_axiom_trigger_then_sensor", "count_leads") == 3


@pytest.mark.airflow_db
def test_error_handling(migrated_db):
    with AxiomEmulator("demo", speed=30) as emulator:
        # transient faults on the way: the export still succeeds
        emulator.set_faults("trigger", sequence=[{"status": 503}, "ok", {"status": 429}, "ok", "ok", "ok"])
        emulator.set_faults("run-reports", sequence=["ok", {"status": 500}, "reset", "ok"])
        result = dags_test("example_axiom_error_handling", emulator)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        checkout_runs = emulator.started_runs("Broken checkout flow")
        export_runs = emulator.started_runs("Export leads")
    output = result.stdout + result.stderr
    assert "No element found for selector: #checkout-button" in output
    assert len(checkout_runs) == 2  # retries=1: the failed run was tried once more
    assert len(export_runs) == 1  # the transient faults never started a second run
    states = task_states("example_axiom_error_handling")
    assert states["broken_checkout"] == "failed"
    assert states["alert_on_failure"] == "success"
    assert states["export_leads"] == "success"


@pytest.mark.airflow_db
def test_fan_out_one_run_at_a_time(migrated_db):
    """Three mapped tasks over one automation, in a one-slot pool: each gets its own run and its own rows."""
    pool = airflow("pools", "set", "axiom_serial", "1", "one axiom run at a time", "--include-deferred")
    assert pool.returncode == 0, pool.stdout + pool.stderr
    with AxiomEmulator("demo", speed=30) as emulator:
        result = dags_test("example_axiom_fan_out", emulator)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        runs = emulator.started_runs("Scrape product prices")
    assert len(runs) == 3
    rows = xcom("example_axiom_fan_out", "collect")
    assert sorted(rows) == [f"https://example.com/product/{i}" for i in (1, 2, 3)]
    for url, echoed in rows.items():
        assert echoed == [["url"], [url]]
