"""The "Test your DAG" recipe of docs/emulator.md, run as a user's project would run it (pytester),
with its fan-out example: a mapped task's states per copy and each copy's XCom.

The files below are the ones the recipe shows; keep them in step with the document.
"""

from __future__ import annotations

pytest_plugins = ["pytester"]

CONFTEST = """
from pathlib import Path

from airflow_provider_axiom.testing import use_isolated_airflow

use_isolated_airflow(Path(__file__).parent / "dags")  # before anything imports airflow
pytest_plugins = ["airflow_provider_axiom.testing.pytest_plugin"]
"""

DAG = """
import pendulum
from airflow.sdk import DAG, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

with DAG("prices", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None, catchup=False):
    scrape = AxiomTriggerAutomationOperator(
        task_id="scrape_prices",
        automation_name="Scrape product prices",
        data=[["url"], ["https://example.com/product/1"]],
        deferrable=True,
        poll_interval=1,
    )

    @task
    def count_rows(result: dict) -> int:
        return sum(len(rows) for rows in result["data"].values())

    count_rows(scrape.output)
"""

TEST = """
import pytest

SCENARIO = {
    "speed": 60,
    "automations": [
        {
            "name": "Scrape product prices",
            "duration": 60,
            "echo_input": True,
            "output": {"prices": [["price"], ["9.99"]]},
        }
    ],
}


@pytest.mark.axiom_scenario(SCENARIO)
def test_prices_dag(axiom_dag_test, axiom_emulator):
    run = axiom_dag_test("prices")

    assert run.state == "success"
    assert run.task_states() == {"scrape_prices": "success", "count_rows": "success"}
    result = run.xcom("scrape_prices")
    assert result["data"]["prices"] == [["price"], ["9.99"]]
    assert result["data"]["google-sheet-data"] == [["url"], ["https://example.com/product/1"]]
    assert run.xcom("count_rows") == 4
    (remote,) = axiom_emulator.runs("Scrape product prices")
    assert remote["input_data"] == [["url"], ["https://example.com/product/1"]]
"""


FAN_OUT_DAG = """
import pendulum
from airflow.sdk import DAG, task

from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator

with DAG("prices_fan_out", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None, catchup=False):

    @task
    def batches() -> list[list[list[str]]]:
        return [[["url"], [f"https://example.com/product/{i}"]] for i in range(3)]

    scrape = AxiomTriggerAutomationOperator.partial(
        task_id="scrape",
        automation_name="Scrape product prices",
        deferrable=True,
        poll_interval=1,
        pool="axiom_serial",  # one run of the automation at a time (a deployment needs the pool)
    ).expand(data=batches())

    @task
    def urls(results: list[dict]) -> list[str]:
        return [result["data"]["google-sheet-data"][1][0] for result in results]

    urls(scrape.output)
"""

FAN_OUT_TEST = """
import pytest

SCENARIO = {
    "speed": 60,
    "automations": [{"name": "Scrape product prices", "duration": 60, "echo_input": True}],
}


@pytest.mark.axiom_scenario(SCENARIO)
def test_each_copy_gets_its_own_run(axiom_dag_test):
    run = axiom_dag_test("prices_fan_out")

    assert run.state == "success"
    assert run.task_states() == {
        "batches": "success",
        "scrape": ["success", "success", "success"],  # one state per copy, by map index
        "urls": "success",
    }
    assert run.map_states("scrape") == {0: "success", 1: "success", 2: "success"}
    second = run.xcom("scrape", map_index=1)  # one copy's result
    assert second["data"]["google-sheet-data"] == [["url"], ["https://example.com/product/1"]]
    every = run.xcom("scrape")  # all copies' results, by map index
    assert [r["data"]["google-sheet-data"][1][0] for r in every] == [
        f"https://example.com/product/{i}" for i in range(3)
    ]
    assert run.xcom("urls") == [f"https://example.com/product/{i}" for i in range(3)]
    assert run.xcom("scrape", map_index=7) is None
"""


def test_the_recipe_runs_a_whole_dag_against_the_emulator(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.mkdir("dags")
    (pytester.path / "dags" / "prices.py").write_text(DAG)
    (pytester.path / "dags" / "prices_fan_out.py").write_text(FAN_OUT_DAG)
    pytester.makepyfile(test_prices=TEST, test_fan_out=FAN_OUT_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", timeout=300)
    print(result.stdout.str()[-3000:])
    result.assert_outcomes(passed=2)
