"""The hook against the emulator on loopback: every endpoint, sync and async, happy and failure paths."""

from __future__ import annotations

import json

import pytest

from airflow_provider_axiom.exceptions import (
    AxiomAuthError,
    AxiomBadRequestError,
    AxiomConnectionError,
    AxiomNotFoundError,
    AxiomQuotaError,
    AxiomServerError,
)
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.scenarios import scenario
from tests.task_kit import EmulatedTime

SCENARIO = scenario(
    "emu-key-123",
    [
        {"name": "Scrape product prices", "duration": 30, "echo_input": True},
        {"name": "Export leads", "duration": 10, "output": {"google-sheet-data": [["name"], ["Ada"]]}},
    ],
    rate_limit_per_minute=100,  # the API's limit (the emulator's default)
    concurrency=1,
)


def fast_hook(emulator: AxiomEmulator | None = None, **kwargs) -> AxiomHook:
    """A hook that retries at once; with ``emulator``, its waits (the spacing of same-name triggers, the
    looks for a lost trigger's run) move the emulator's clock instead of really waiting."""
    clock = EmulatedTime(emulator).as_clock() if emulator is not None else None
    return AxiomHook(retry_max_wait=0.01, retry_budget=1, clock=clock, **kwargs)


@pytest.mark.axiom_scenario(SCENARIO)
def test_every_endpoint_sync(axiom_emulator):
    with fast_hook(axiom_emulator) as hook:
        assert hook.list_automations() == ["Scrape product prices", "Export leads"]
        runtime = hook.get_remaining_runtime()
        assert runtime.allowance == 15000 and runtime.remaining == runtime.allowance - runtime.used

        result = hook.trigger_automation("Scrape product prices", [["url"], ["https://example.com/1"]])
        assert result.status == "started" and "password=" in result.viewer_url
        assert abs((result.triggered_at - axiom_emulator.now()).total_seconds()) < 3

        assert hook.get_run_data("Scrape product prices").status == "Running"
        reports = hook.get_run_reports()
        assert reports[0].task_name == "Scrape product prices" and reports[0].status == "Running"

        axiom_emulator.advance(31)
        run = hook.get_run_data("Scrape product prices")
        assert run.status == "Success"
        assert run.data["google-sheet-data"] == [["url"], ["https://example.com/1"]]

        assert hook.trigger_automation("Export leads").status == "started"
        queued = hook.trigger_automation("Scrape product prices")  # concurrency 1: queued
        assert queued.status == "queued" and queued.viewer_url is None
        assert "five minutes" in queued.message
        axiom_emulator.advance(300)  # the queue is retried every 5 minutes
        assert hook.get_run_reports(1)[0].task_name == "Scrape product prices"  # visible once started
        axiom_emulator.advance(31)
        stop = hook.stop_run(hook.trigger_automation("Scrape product prices").viewer_url)
        assert stop.pid
    stopped = axiom_emulator.runs("Scrape product prices")[-1]
    assert stopped["status"] == "Failure" and stopped["stopped"]
    assert [r["endpoint"] for r in axiom_emulator.requests()][:2] == ["list-automations", "remaining-runtime"]


@pytest.mark.axiom_scenario(SCENARIO)
async def test_every_endpoint_async(axiom_emulator):
    async with fast_hook(axiom_emulator) as hook:
        assert await hook.alist_automations() == ["Scrape product prices", "Export leads"]
        assert (await hook.aget_remaining_runtime()).allowance == 15000
        result = await hook.atrigger_automation("Export leads", [["a", 1]])
        assert result.status == "started"
        assert (await hook.aget_run_reports(count=1))[0].task_name == "Export leads"
        axiom_emulator.advance(11)
        assert (await hook.aget_run_data("Export leads")).data == {"google-sheet-data": [["name"], ["Ada"]]}
        await hook.astop_run(result.viewer_url)  # finished: a no-op success
    assert axiom_emulator.runs("Export leads")[-1]["status"] == "Success"
    assert axiom_emulator.runs("Export leads")[-1]["input_data"] == [["a", "1"]]


@pytest.mark.axiom_scenario(SCENARIO)
def test_failures_against_the_emulator(axiom_emulator, monkeypatch):
    with fast_hook() as hook:
        with pytest.raises(AxiomNotFoundError) as exc:
            hook.trigger_automation("scrape product prices")
        assert exc.value.status_code == 404 and exc.value.suggestions == ["Scrape product prices"]

    bad = json.loads(axiom_emulator.connection_json())
    bad["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(bad))
    with fast_hook() as hook, pytest.raises(AxiomAuthError) as exc:
        hook.list_automations()
    assert exc.value.status_code == 401 and exc.value.api_message == "Invalid key"
    assert "wrong-key" not in str(exc.value)
    assert axiom_emulator.runs("Scrape product prices") == []


@pytest.mark.axiom_scenario({**SCENARIO, "plan": {"allowance_minutes": 10, "used_minutes": 10}})
def test_quota_exceeded(axiom_emulator):
    with fast_hook(axiom_emulator) as hook, pytest.raises(AxiomQuotaError) as exc:
        hook.trigger_automation("Export leads")
    assert exc.value.status_code == 403 and not exc.value.retryable


@pytest.mark.axiom_scenario(SCENARIO)
def test_faults_are_retried_and_lost_trigger_answers_start_one_run(axiom_emulator):
    axiom_emulator.set_faults("list-automations", sequence=[{"status": 500}, "html", "truncated", "reset", "ok"])
    axiom_emulator.set_faults("trigger", sequence=[{"lost_response": "reset"}])
    with fast_hook(axiom_emulator) as hook:
        assert hook.list_automations()[0] == "Scrape product prices"
        result = hook.trigger_automation("Export leads")
    assert result.recovered
    assert len(axiom_emulator.runs("Export leads")) == 1  # exactly one run, despite the lost answer
    assert [r["endpoint"] for r in axiom_emulator.requests("trigger")] == ["trigger"]


@pytest.mark.axiom_scenario(SCENARIO)
def test_lost_trigger_answer_as_a_502_then_retry_starts_one_run(axiom_emulator):
    axiom_emulator.set_faults("trigger", sequence=[{"status": 502}, {"lost_response": 502}])
    with fast_hook(axiom_emulator) as hook:
        result = hook.trigger_automation("Export leads")
    # attempt 1: a 502 before processing (no run) -> checked, re-sent; attempt 2: run started, answer lost
    assert result.recovered
    assert len(axiom_emulator.runs("Export leads")) == 1
    assert len(axiom_emulator.requests("trigger")) == 2


@pytest.mark.axiom_scenario(SCENARIO)
def test_read_timeout_is_retryable(axiom_emulator):
    axiom_emulator.set_faults("remaining-runtime", sequence=[{"latency": 1.0}, {"latency": 1.0}])
    with fast_hook(timeout=0.2, max_retries=1) as hook, pytest.raises(AxiomConnectionError):
        hook.get_remaining_runtime()


def test_unreachable_host(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps({"conn_type": "axiom", "password": "k", "host": "http://127.0.0.1:9"})
    )
    with fast_hook(max_retries=1) as hook, pytest.raises(AxiomConnectionError) as exc:
        hook.list_automations()
    assert "could not connect" in str(exc.value)


@pytest.mark.axiom_scenario(SCENARIO)
def test_bad_data_never_reaches_the_emulator(axiom_emulator):
    with fast_hook() as hook, pytest.raises(AxiomBadRequestError, match=r"row 1, column 1 is a dict"):
        hook.trigger_automation("Export leads", [["a", "b"], ["c", {"d": 1}]])
    assert axiom_emulator.requests() == []


@pytest.mark.axiom_scenario({**SCENARIO, "errors_with_http_200": True})
def test_errors_sent_with_http_200_are_still_errors(axiom_emulator):
    with fast_hook() as hook, pytest.raises(AxiomNotFoundError) as exc:
        hook.get_run_data("Nope")
    assert exc.value.status_code == 200


@pytest.mark.axiom_scenario({**SCENARIO, "run_id_mode": True})
def test_run_id_is_used_when_the_api_gives_one(axiom_emulator):
    with fast_hook() as hook:
        result = hook.trigger_automation("Export leads")
        assert result.run_id
        axiom_emulator.advance(11)
        assert hook.get_run_data(run_id=result.run_id).status == "Success"


@pytest.mark.axiom_scenario({**SCENARIO, "faults": {"run-reports": {"sequence": [{"status": 503}] * 10}}})
def test_server_errors_exhaust_retries(axiom_emulator):
    with fast_hook(axiom_emulator, max_retries=2) as hook, pytest.raises(AxiomServerError):
        hook.get_run_reports()
    assert len(axiom_emulator.requests("run-reports")) == 3
