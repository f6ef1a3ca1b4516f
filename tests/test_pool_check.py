"""``axiom-pool-check``: a pool named by a DAG but missing from the deployment is listed (such tasks
never start, and only the scheduler's log says why), and so is a pool that does not count deferred
axiom.ai tasks. Against this session's migrated metadata DB and real DAG files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_provider_axiom.pool_check import main

REPO = Path(__file__).resolve().parent.parent

DAG = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import DAG, task

    from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

    with DAG("pool_check_fan_out", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None):
        AxiomTriggerAutomationOperator.partial(
            task_id="scrape", automation_name="Scrape product prices", deferrable=True, pool="{pool}"
        ).expand(data=[[["url"], ["a"]], [["url"], ["b"]]])

        @task
        def other() -> None:
            pass

        other()
    """
)


def _delete_pool(name: str) -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Pool).filter(Pool.pool == name).delete()


@pytest.mark.airflow_db
def test_lists_the_missing_pool_of_a_mapped_axiom_task_then_its_deferred_count(migrated_db, tmp_path, capsys):
    from airflow.models.pool import Pool

    pool = "axiom_pool_check_test"
    (tmp_path / "fan_out.py").write_text(DAG.replace("{pool}", pool))
    _delete_pool(pool)
    try:
        assert main(["--dags-folder", str(tmp_path)]) == 1
        out = capsys.readouterr().out
        assert f"MISSING  pool '{pool}' does not exist" in out
        assert "pool_check_fan_out.scrape" in out and f"airflow pools set {pool} 1" in out
        assert "'default_pool'" not in out  # it exists

        Pool.create_or_update_pool(pool, 1, "", include_deferred=False)
        assert main(["--dags-folder", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert "MISSING" not in out and f"pool '{pool}' (1 slots) does not count deferred tasks" in out

        Pool.create_or_update_pool(pool, 1, "", include_deferred=True)
        assert main(["--dags-folder", str(tmp_path)]) == 0
        assert "does not count deferred" not in capsys.readouterr().out
    finally:
        _delete_pool(pool)


@pytest.mark.airflow_db
def test_the_fan_out_example_needs_the_axiom_serial_pool(migrated_db, capsys):
    _delete_pool("axiom_serial")
    assert main(["--dags-folder", str(REPO / "example_dags")]) == 1
    out = capsys.readouterr().out
    assert "MISSING  pool 'axiom_serial' does not exist" in out
    assert "example_axiom_fan_out." in out
    assert out.count("MISSING") == 1
