"""Metrics go through Airflow's own StatsD channel, carry the connection id and never the key.

A UDP listener inside the test stands in for StatsD; Airflow's ``[metrics]`` settings point at it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from airflow_provider_axiom import _metrics
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import airflow
from tests.metrics_kit import FROM_WAITING, OWN, P
from tests.statsd_listener import StatsdListener


def test_names_follow_airflows_rules():
    assert _metrics.metric_name("calls", "axiom_default", {"endpoint": "run-data", "outcome": "ok"}, tagged=False) == (
        "axiom.calls.axiom_default.run-data.ok"
    )
    # tag-keeping backends get a stable name; the connection id goes in the tags
    assert _metrics.metric_name("calls", "prod.axiom", {"endpoint": "x"}, tagged=True) == "axiom.calls"
    # a dot would add a level to the name, other characters are refused by Airflow: both replaced
    assert _metrics.metric_name("runs_waited", "team.a/b c", {}, tagged=False) == "axiom.runs_waited.team__a_b_c"
    # a name Airflow would reject for its length is not sent
    assert _metrics.metric_name("calls", "x" * 260, {}, tagged=False) is None
    assert [_metrics.outcome_of(s) for s in (200, 429, 404, 400, 502, None)] == [
        "ok",
        "429",
        "4xx",
        "4xx",
        "5xx",
        "network",
    ]


SCRIPT = textwrap.dedent(
    """
    from airflow_provider_axiom.hooks.axiom import AxiomHook
    from airflow_provider_axiom.exceptions import AxiomError
    with AxiomHook("axiom_metrics", max_retries=3, retry_max_wait=0.01) as hook:
        hook.trigger_automation("Export leads")
        hook.get_run_reports(5)
        try:
            hook.trigger_automation("No such automation")
        except AxiomError:
            pass
    print("done")
    """
)


def run_script(emulator: AxiomEmulator, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A budget of 1,000 a minute: after the 429 the key drops to its floor, a tenth of the ceiling, and
    # at the default's floor (8.5 calls a minute) this script would spend half a minute waiting its turn.
    conn = {**json.loads(emulator.connection_json()), "extra": {"rate_limit_per_minute": 1000}}
    env = {**os.environ, "AIRFLOW_CONN_AXIOM_METRICS": json.dumps(conn), **extra_env}
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)


def test_calls_are_counted_by_endpoint_and_outcome():
    with StatsdListener() as statsd, AxiomEmulator(None, port=0) as emulator:
        emulator.set_faults("trigger", sequence=[{"status": 429}, "ok"])
        emulator.set_faults("run-reports", sequence=[{"status": 502}, "reset", "ok"])
        result = run_script(emulator, statsd.env())
        assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]
        statsd.wait_for(P + "calls.axiom_metrics.list-automations.ok")  # the 404's name suggestions: last call
        key = emulator.api_key
    prefix = P + "calls.axiom_metrics."
    calls = {m.name.removeprefix(prefix): statsd.total(m.name) for m in statsd.metrics(prefix)}
    assert calls == {
        "trigger.429": 1,
        "trigger.ok": 1,
        "trigger.4xx": 1,  # the unknown automation
        "run-reports.5xx": 1,
        "run-reports.network": 1,
        "run-reports.ok": 1,
        "list-automations.ok": 1,
    }
    assert statsd.total(P + "runs_started.axiom_metrics.started") == 1
    paces = [m.value for m in statsd.metrics(P + "limiter_pace.axiom_metrics")]
    assert paces[0] == 93  # the first call was refused: the key dropped to its floor, a tenth of 930
    assert not any(key in line for line in statsd.raw)


def test_metrics_off_sends_nothing_and_fails_nothing():
    with StatsdListener() as statsd, AxiomEmulator(None, port=0) as emulator:
        off = {**statsd.env(), "AIRFLOW__METRICS__STATSD_ON": "False"}
        result = run_script(emulator, off)
        assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]
    assert statsd.raw == []


@pytest.mark.airflow_db
def test_a_dag_run_through_airflow_dags_test_emits_the_metrics(migrated_db):
    with StatsdListener() as statsd, AxiomEmulator("demo", speed=30) as emulator:
        env = {**os.environ, "AIRFLOW_CONN_AXIOM_DEFAULT": emulator.connection_json(), **statsd.env()}
        result = airflow("dags", "test", "example_axiom_trigger_and_wait", env=env)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        statsd.wait_for(P + "calls.axiom_default.run-data.ok")
        key = emulator.api_key
    names = statsd.names()
    print("axiom metrics seen:", sorted(names))
    assert names >= OWN | FROM_WAITING
    assert statsd.total(P + "runs_started.axiom_default.started") == 1
    assert 0 < statsd.total(P + "calls.axiom_default.run-reports.ok") < 60
    assert all(0 < m.value <= 93 for m in statsd.metrics(P + "limiter_pace."))
    assert not any(key in line for line in statsd.raw)
