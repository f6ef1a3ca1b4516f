"""The viewer link is a credential: never logged, never in a trigger's event, masked in the worker."""

from __future__ import annotations

import asyncio
import json

import pytest
from airflow.providers.common.compat.sdk import redact

from airflow_provider_axiom._compat import mask_secret
from airflow_provider_axiom._completion import link_masked, link_restored
from airflow_provider_axiom._protocol import viewer_link_masked, whole_link
from airflow_provider_axiom.exceptions import AxiomRunFailedError, AxiomRunTimeoutError
from airflow_provider_axiom.operators.axiom import AxiomRunLink
from tests.task_kit import SCENARIO, EmulatedTime, FakeTI, defer, operator, record_masks, run_trigger

pytestmark = pytest.mark.axiom_scenario(SCENARIO)


def test_the_password_is_masked_and_the_link_kept_only_for_the_task(axiom_emulator, caplog, monkeypatch):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Broken checkout flow", deferrable=True)
    ti = FakeTI()
    trigger = defer(op, {"ti": ti})
    [run] = axiom_emulator.started_runs("Broken checkout flow")
    password = run["pw"]
    assert redact(f"watch {run['viewer_url']}") == f"watch {run['viewer_url'].replace(password, '***')}"
    registered = record_masks(monkeypatch)
    event = asyncio.run(run_trigger(trigger, emulated))
    # Airflow logs every event a trigger fires: the event holds no password, and the triggerer registers
    # nothing per run (its masker would keep one per run, at a cost that grows with their square): only
    # the connection's key, the same for every run.
    assert set(registered) == {"lifecycle-key"} and password not in json.dumps(event)
    masked = viewer_link_masked(run["viewer_url"])
    assert event["run"]["viewer_url"] == event["summary"]["viewer_url"] == masked != run["viewer_url"]
    resumed = operator(emulated, automation_name="Broken checkout flow", deferrable=True)  # a new worker process
    with pytest.raises(AxiomRunFailedError) as failed:
        resumed.execute_complete({"ti": ti}, event)
    assert password not in str(failed.value) and failed.value.viewer_url == run["viewer_url"]  # restored from XCom
    assert ti.pulls == [{"task_ids": "axiom", "key": "viewer_url", "map_indexes": -1}]
    assert AxiomRunLink().get_link(resumed, ti_key=None) == run["viewer_url"]  # the task's extra link
    assert password not in caplog.text
    assert "too short" not in caplog.text


def test_a_link_is_restored_only_from_the_record_of_the_same_run():
    link = "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0007-v4-proxy.axiom.ai&password=s3cret-7"
    other = "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0008-v4-proxy.axiom.ai&password=s3cret-8"
    fires = {"status": "success", "run": {"viewer_url": link}, "summary": {"viewer_url": link}}
    fired = link_masked(fires)
    assert "s3cret" not in json.dumps(fired) and whole_link(fired["run"]["viewer_url"]) is None
    assert link_restored(fired, link) == fires
    assert link_restored(fired, other) == fired  # another run's link is never put in its place
    assert link_restored(fired, None) == fired
    whole = {"status": "success", "run": {"viewer_url": link}}  # the worker-side wait, or an event from before
    queued = {"status": "error", "run": {"viewer_url": None}}  # a queued trigger: no link at all
    assert link_masked(queued) == queued
    assert link_restored(whole, other) == whole and whole_link(link) == link


def test_a_timeout_stops_by_the_restored_link_and_never_sends_a_masked_one(axiom_emulator, caplog):
    emulated = EmulatedTime(axiom_emulator)
    for record_kept in (True, False):  # one slot: the first run is stopped before the second starts
        ti = FakeTI()
        trigger = defer(operator(emulated, automation_name="Long crawl", deferrable=True, timeout=120), {"ti": ti})
        event = asyncio.run(run_trigger(trigger, emulated))
        assert event["status"] == "timeout"
        if not record_kept:
            ti.xcom.clear()  # nothing to restore the link from: it stays masked
        resumed = operator(emulated, automation_name="Long crawl", deferrable=True, timeout=120)
        with pytest.raises(AxiomRunTimeoutError, match="asked to stop" if record_kept else "could not be stopped"):
            resumed.execute_complete({"ti": ti}, event)
        assert axiom_emulator.started_runs("Long crawl")[-1]["stopped"] is record_kept
    assert "whose viewer_url XCom is gone" in caplog.text
    sent = [r["body"]["pw"] for r in axiom_emulator.requests("stop")]
    assert sent == [axiom_emulator.started_runs("Long crawl")[0]["pw"]]  # the first run's whole link, once


def test_nothing_too_short_to_mask_is_handed_to_the_masker(caplog):
    for value in (None, "", "abcd"):
        mask_secret(value)
    assert "too short" not in caplog.text
    assert redact("abcd") == "abcd"
