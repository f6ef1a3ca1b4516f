"""The viewer link is a credential: its password is registered with Airflow's masker and never logged."""

from __future__ import annotations

import asyncio

import pytest
from airflow.providers.common.compat.sdk import redact

from airflow_provider_axiom._compat import mask_secret
from airflow_provider_axiom.exceptions import AxiomRunFailedError
from airflow_provider_axiom.operators.axiom import AxiomRunLink
from tests.task_kit import SCENARIO, EmulatedTime, FakeTI, defer, operator, run_trigger

pytestmark = pytest.mark.axiom_scenario(SCENARIO)


def test_the_password_is_masked_and_the_link_kept_only_for_the_task(axiom_emulator, caplog):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Broken checkout flow", deferrable=True)
    trigger = defer(op, {"ti": FakeTI()})
    [run] = axiom_emulator.started_runs("Broken checkout flow")
    password = run["pw"]
    assert redact(f"watch {run['viewer_url']}") == f"watch {run['viewer_url'].replace(password, '***')}"
    event = asyncio.run(run_trigger(trigger, emulated))
    assert event["run"]["viewer_url"] == run["viewer_url"]  # the result keeps the whole link
    with pytest.raises(AxiomRunFailedError) as failed:
        op.execute_complete({"ti": FakeTI()}, event)
    assert password not in str(failed.value) and failed.value.viewer_url == run["viewer_url"]
    assert AxiomRunLink().get_link(op, ti_key=None) == run["viewer_url"]  # the task's extra link
    assert password not in caplog.text
    assert "too short" not in caplog.text


def test_nothing_too_short_to_mask_is_handed_to_the_masker(caplog):
    for value in (None, "", "abcd"):
        mask_secret(value)
    assert "too short" not in caplog.text
    assert redact("abcd") == "abcd"
