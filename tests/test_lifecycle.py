"""Operator, trigger and sensor against the emulator. Time is injected: waits advance the emulator's clock."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pendulum
import pytest

from airflow_provider_axiom._compat import RESUME_GUARD, this_process
from airflow_provider_axiom._protocol import viewer_link_masked
from airflow_provider_axiom.exceptions import (
    AxiomApiError,
    AxiomAuthError,
    AxiomBadRequestError,
    AxiomNotFoundError,
    AxiomOutputUnreadableError,
    AxiomRunFailedError,
    AxiomRunTimeoutError,
)
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from airflow_provider_axiom.sensors.axiom import AxiomRunSensor
from tests.task_kit import (
    NEW_ROWS,
    OLD_ROWS,
    SCENARIO,
    EmulatedTime,
    FakeTaskStateStore,
    FakeTI,
    context,
    defer,
    operator,
    run_trigger,
)

pytestmark = pytest.mark.axiom_scenario(SCENARIO)

# ---------------------------------------------------------------- operator, in the worker


def test_worker_mode_returns_this_runs_rows_not_the_previous_runs(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    ctx = context()
    result = operator(emulated, automation_name="Export leads", deferrable=False).execute(ctx)
    assert result["status"] == "Success"
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert result["viewer_url"] and ctx["ti"].xcom["viewer_url"] == result["viewer_url"]
    assert ctx["ti"].xcom["triggered_at"] == result["triggered_at"]
    assert pendulum.parse(result["started_at"]) >= pendulum.parse(result["triggered_at"]).subtract(seconds=2)
    assert len(axiom_emulator.started_runs("Export leads")) == 1
    ticks = [s for s in emulated.sleeps if s > 1]  # less is the rate limiter spacing calls
    assert ticks and all(s == pytest.approx(5, abs=0.8) for s in ticks)  # a fixed 5 s tick while waiting


def test_input_rows_reach_the_automation_and_come_back(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    rows = [["url", "rank"], ["https://example.com/1", 1], ["https://example.com/2", None]]
    result = operator(emulated, automation_name="Scrape product prices", data=rows, deferrable=False).execute(context())
    assert result["data"]["google-sheet-data"] == [
        ["url", "rank"],
        ["https://example.com/1", "1"],
        ["https://example.com/2", ""],
    ]


def test_json_string_data_from_templates_is_accepted(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Scrape product prices", data='[["a"], ["b"]]', deferrable=False)
    assert op.execute(context())["data"]["google-sheet-data"] == [["a"], ["b"]]


@pytest.mark.parametrize(
    ("data", "needle"),
    [([["a"], [{"x": 1}]], "row 1, column 0 is a dict"), ("not json", "data is a string that is not JSON")],
)
def test_bad_input_fails_before_any_request(axiom_emulator, data, needle):
    op = operator(EmulatedTime(axiom_emulator), automation_name="Export leads", data=data)
    with pytest.raises(AxiomBadRequestError, match=needle):
        op.execute(context())
    assert axiom_emulator.requests() == []


def test_failure_carries_the_run_report_and_viewer_link(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    with pytest.raises(AxiomRunFailedError) as exc:
        operator(emulated, automation_name="Broken checkout flow", deferrable=False).execute(context())
    assert "No element found for selector: #checkout-button" in str(exc.value)
    # the link is on the error (and the task's extra link), not in its message: it is a credential
    assert exc.value.viewer_url and exc.value.viewer_url not in str(exc.value)
    assert "Viewer: the task's 'Axiom run' link" in str(exc.value)
    assert exc.value.retryable


def test_queued_trigger_is_waited_through(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    with_hook = AxiomHook()
    with_hook.trigger_automation("Long crawl")  # takes the only slot (concurrency 1)
    axiom_emulator.advance(1)
    ctx = context()
    # a long queue: a 30 s tick keeps the emulator's rate limit (real time) out of the way
    op = operator(
        emulated, automation_name="Export leads", deferrable=False, timeout=timedelta(days=1), poll_interval=30
    )

    # the crawl would hold the slot for 10 h: stop it after 7 minutes so the queue moves
    def stop_blocker(seconds: float) -> None:
        if (
            emulated.sleeps
            and sum(emulated.sleeps) > 420
            and not axiom_emulator.started_runs("Long crawl")[0]["stopped"]
        ):
            with_hook.stop_run(axiom_emulator.started_runs("Long crawl")[0]["viewer_url"])

    emulated.after_sleep = stop_blocker
    result = op.execute(ctx)
    assert "viewer_url" not in ctx["ti"].xcom  # queued: no viewer link at trigger time (3.0 refuses None)
    assert result["status"] == "Success" and result["data"] == {"google-sheet-data": NEW_ROWS}
    assert axiom_emulator.started_runs("Export leads")[0]["was_queued"]


def test_timeout_stops_the_remote_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Long crawl", deferrable=False, timeout=120)
    with pytest.raises(AxiomRunTimeoutError, match="asked to stop"):
        op.execute(context())
    run = axiom_emulator.started_runs("Long crawl")[0]
    assert run["stopped"] and run["status"] == "Failure"


def test_on_kill_stops_the_remote_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Long crawl", deferrable=False, timeout=120)

    def killed_during_wait(seconds: float) -> None:
        if op._ref is None:  # the trigger is still being paced: the kill comes while the run is waited for
            return
        emulated.after_sleep = None
        op.on_kill()  # what Airflow calls when the task is killed
        raise KeyboardInterrupt

    emulated.after_sleep = killed_during_wait
    with pytest.raises(KeyboardInterrupt):
        op.execute(context())
    assert axiom_emulator.started_runs("Long crawl")[0]["stopped"]


def test_transient_faults_while_polling_do_not_fail_the_task(axiom_emulator):
    axiom_emulator.set_faults("run-reports", sequence=["ok", {"status": 503}, {"status": 429}, "reset", "html", "ok"])
    emulated = EmulatedTime(axiom_emulator)
    result = operator(emulated, automation_name="Export leads", deferrable=False).execute(context())
    assert result["data"] == {"google-sheet-data": NEW_ROWS}


def test_permanent_errors_fail_at_once(axiom_emulator):
    with pytest.raises(AxiomNotFoundError, match="Did you mean: 'Export leads'"):
        operator(EmulatedTime(axiom_emulator), automation_name="export leads").execute(context())


def test_no_wait_returns_the_trigger_result(axiom_emulator):
    result = operator(EmulatedTime(axiom_emulator), automation_name="Export leads", wait_for_completion=False).execute(
        context()
    )
    assert result["status"] == "started" and result["viewer_url"]
    assert [r["endpoint"] for r in axiom_emulator.requests()] == ["trigger"]


# ---------------------------------------------------------------- deferred


async def test_deferred_success(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Export leads", deferrable=True)
    ctx = context()
    trigger = await asyncio.to_thread(defer, op, ctx)
    assert trigger.run_ref.viewer_url == ctx["ti"].xcom["viewer_url"]
    event = await run_trigger(trigger, emulated)
    assert event["status"] == "success"
    result = op.execute_complete(ctx, event)
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert result["status"] == "Success"


@pytest.mark.axiom_scenario(
    {
        **SCENARIO,
        "history": [],
        "automations": [{"name": "Quick export", "duration": 2, "output": {"google-sheet-data": NEW_ROWS}}],
    }
)
async def test_a_run_trigger_fires_no_sooner_than_the_resume_guard_after_its_trigger(axiom_emulator, monkeypatch):
    """A short run ends within seconds of the task's deferral; Airflow fails a task that resumes that
    fast (apache/airflow#71580), so the event waits out ``RESUME_GUARD`` from the deferral."""
    conn = {**json.loads(axiom_emulator.connection_json()), "extra": {"trigger_check_window": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", json.dumps(conn))  # its run is certain at once
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Quick export", deferrable=True, poll_interval=1)
    trigger = await asyncio.to_thread(defer, op, context())
    assert trigger.deferred_in == this_process()  # run here (as `airflow dags test` does): no guard
    trigger.deferred_in = "worker-host:1234"  # as in a triggerer, another process
    assert (await run_trigger(trigger, emulated))["status"] == "success"
    run = axiom_emulator.started_runs("Quick export")[0]
    assert pendulum.parse(run["finished_at"]) - trigger.run_ref.triggered_at < RESUME_GUARD  # a short run
    assert trigger.deferred_at is not None and emulated.now - trigger.deferred_at >= RESUME_GUARD  # without: 7 s


async def test_deferred_failure(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Broken checkout flow", deferrable=True)
    trigger = await asyncio.to_thread(defer, op, context())
    event = await run_trigger(trigger, emulated)
    assert event["status"] == "failure"
    with pytest.raises(AxiomRunFailedError, match="#checkout-button"):
        op.execute_complete(context(), event)


async def test_deferred_timeout_stops_the_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Long crawl", deferrable=True, timeout=300)
    trigger = await asyncio.to_thread(defer, op, context())
    assert trigger.deadline <= emulated.now.add(seconds=300)
    event = await run_trigger(trigger, emulated)
    assert event["status"] == "timeout"
    assert not axiom_emulator.started_runs("Long crawl")[0]["stopped"]  # the trigger itself never stops it
    with pytest.raises(AxiomRunTimeoutError, match="asked to stop"):
        await asyncio.to_thread(op.execute_complete, context(), event)
    assert axiom_emulator.started_runs("Long crawl")[0]["stopped"]


async def test_deferred_error_event_for_a_revoked_key(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Export leads", deferrable=True)
    trigger = await asyncio.to_thread(defer, op, context())
    axiom_emulator.load_scenario({**SCENARIO, "api_key": "rotated-key"})  # the key was rotated meanwhile
    event = await run_trigger(trigger, emulated)
    assert event["status"] == "error" and event["error_class"] == "AxiomAuthError"
    with pytest.raises(AxiomAuthError):
        op.execute_complete(context(), event)


async def test_trigger_absorbs_transient_faults_then_gives_up_after_a_bounded_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    op = operator(emulated, automation_name="Export leads", deferrable=True)
    trigger = await asyncio.to_thread(defer, op, context())
    axiom_emulator.set_faults("run-reports", sequence=[{"status": 500}, {"status": 429}, "reset", "ok"])
    assert (await run_trigger(trigger, emulated))["status"] == "success"

    trigger2 = await asyncio.to_thread(
        defer, operator(emulated, automation_name="Export leads", deferrable=True, max_consecutive_errors=2), context()
    )
    axiom_emulator.set_faults("run-reports", probability=1.0, fault={"status": 503})
    event = await run_trigger(trigger2, emulated)
    assert event["status"] == "error" and event["error_class"] == "AxiomServerError"


async def test_trigger_on_kill_stops_the_run_and_cleanup_does_not(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    trigger = await asyncio.to_thread(
        defer, operator(emulated, automation_name="Long crawl", deferrable=True), context()
    )
    await trigger.cleanup()  # triggerer restart or redistribution
    assert not axiom_emulator.started_runs("Long crawl")[0]["stopped"]
    states = iter(["deferred", None, "failed"])

    async def task_state() -> str | None:  # what Airflow answers about the task instance
        return next(states)

    trigger._task_state = task_state  # type: ignore[method-assign]
    await trigger.on_kill()  # Airflow 3.3 moved the trigger to another triggerer: still deferred
    await trigger.on_kill()  # the state could not be read
    assert not axiom_emulator.started_runs("Long crawl")[0]["stopped"]
    await trigger.on_kill()  # a user marked the task failed
    assert axiom_emulator.started_runs("Long crawl")[0]["stopped"]


@pytest.mark.parametrize(
    "event",
    [None, {}, {"status": "cancelled"}, {"status": "weird"}, "success", {"status": "error", "message": "boom"}],
)
def test_execute_complete_fails_closed(axiom_emulator, event):
    op = operator(EmulatedTime(axiom_emulator), automation_name="Export leads")
    with pytest.raises(AxiomApiError):
        op.execute_complete(context(), event)


def test_execute_complete_rebuilds_the_error_class(axiom_emulator):
    op = operator(EmulatedTime(axiom_emulator), automation_name="Export leads")
    with pytest.raises(AxiomAuthError):
        op.execute_complete(context(), {"status": "error", "message": "bad key", "error_class": "AxiomAuthError"})


# ---------------------------------------------------------------- sensor


def sensor(**kwargs) -> AxiomRunSensor:
    return AxiomRunSensor(task_id="wait", poke_interval=5, **kwargs)


def test_sensor_ignores_the_previous_run_and_returns_the_new_one(axiom_emulator):
    hook = AxiomHook()
    started = hook.trigger_automation("Export leads")
    s = sensor(automation_name="Export leads", started_after=started.triggered_at.isoformat())
    assert s.poke(context()) is False  # the old Success is not this run
    axiom_emulator.advance(41)
    done = s.poke(context())
    assert done.is_done and done.xcom_value["data"] == {"google-sheet-data": NEW_ROWS}


def test_sensor_failure(axiom_emulator):
    hook = AxiomHook()
    started = hook.trigger_automation("Broken checkout flow")
    axiom_emulator.advance(16)
    with pytest.raises(AxiomRunFailedError, match="#checkout-button"):
        sensor(automation_name="Broken checkout flow", started_after=started.triggered_at).poke(context())


async def test_sensor_deferrable(axiom_emulator):
    hook = AxiomHook()
    started = await hook.atrigger_automation("Export leads")
    s = sensor(
        automation_name="Export leads",
        started_after=started.triggered_at.isoformat(),
        deferrable=True,
        viewer_url=started.viewer_url,
        timeout=600,
    )
    trigger = await asyncio.to_thread(defer, s, context())
    assert trigger.poll_interval == 5  # honours poke_interval
    assert "max_poll_interval" not in trigger.serialize()[1]  # deprecated, and never passed on
    emulated = EmulatedTime(axiom_emulator)
    event = await run_trigger(trigger, emulated)
    assert event["summary"]["viewer_url"] == viewer_link_masked(started.viewer_url) != started.viewer_url
    result = s.execute_complete(context(), event)
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert result["viewer_url"] == started.viewer_url  # restored from the sensor's own viewer_url


def poking_sensor(axiom_emulator, name: str, **kwargs) -> tuple[AxiomRunSensor, EmulatedTime]:
    """A poke-mode sensor over a run of ``name`` that has already succeeded; its hook's waits are emulated."""
    emulated = EmulatedTime(axiom_emulator)
    started = emulated.hook().trigger_automation(name)
    axiom_emulator.advance(41)
    s = sensor(automation_name=name, started_after=started.triggered_at, **kwargs)
    s.hook = emulated.hook()
    return s, emulated


def test_sensor_poke_reads_the_rows_through_transient_run_data_failures(axiom_emulator):
    s, _ = poking_sensor(axiom_emulator, "Export leads")
    # More failures in a row than one hook call retries (max_retries = 5: six attempts), then one more.
    axiom_emulator.set_faults("run-data", sequence=[{"status": 503}] * 6 + ["html"])
    assert s.poke(context()) is False  # the output read failed as a whole: poke again
    done = s.poke(context())
    assert done.is_done and done.xcom_value["data"] == {"google-sheet-data": NEW_ROWS}
    assert done.xcom_value["data_unavailable"] is None
    assert [r["fault"] for r in axiom_emulator.requests("run-data")] == ["status:503"] * 6 + ["html", None]
    assert len(axiom_emulator.started_runs("Export leads")) == 1


def test_sensor_poke_gives_up_on_an_unreadable_output_after_max_consecutive_errors(axiom_emulator):
    s, _ = poking_sensor(axiom_emulator, "Export leads", max_consecutive_errors=3)
    axiom_emulator.set_faults("run-data", probability=1.0, fault={"status": 503})
    assert s.poke(context()) is False
    assert s.poke(context()) is False
    with pytest.raises(AxiomOutputUnreadableError, match="'Export leads' succeeded but its output could not be read"):
        s.poke(context())
    assert len(axiom_emulator.requests("run-data")) == 3 * 6  # three pokes, one hook call of six attempts each


def test_sensor_default_started_after_is_the_dag_run_start(axiom_emulator):
    class DagRun:
        start_date = pendulum.now("UTC").subtract(minutes=5)

    s = sensor(automation_name="Export leads")
    ref = s._ref({"dag_run": DagRun()})
    assert ref.not_before == DagRun.start_date.subtract(seconds=2)


def test_run_behind_many_newer_runs_is_still_found(axiom_emulator):
    """A busy account: 25 runs of other automations start after ours, pushing it out of the default window."""
    axiom_emulator.load_scenario(
        {
            **SCENARIO,
            "plan": {"concurrency": 50},
            "automations": [*SCENARIO["automations"], {"name": "Busy", "duration": 5, "allow_cloud_concurrency": True}],
        }
    )
    import httpx

    from airflow_provider_axiom._completion import look_once
    from airflow_provider_axiom._run_ref import RunRef

    with AxiomHook() as hook:
        ours = hook.trigger_automation("Export leads")
        axiom_emulator.advance(2)
        with httpx.Client(base_url=axiom_emulator.base_url) as client:  # another client's runs
            for _ in range(25):
                assert client.post("/trigger", json={"key": "lifecycle-key", "name": "Busy"}).status_code == 200
        axiom_emulator.advance(60)
        look = look_once(hook, RunRef.from_trigger(ours))
    assert look.obs.state == "success" and look.rows == {"google-sheet-data": NEW_ROWS}
    # 20 reports, then 100; then one more read after /run-data confirms the run is still the newest of its name
    assert [r["body"]["count"] for r in axiom_emulator.requests("run-reports")] == [20, 100, 100]


@pytest.mark.parametrize("deferrable", [False, True])
def test_stale_previous_run_is_never_reported_while_the_new_run_registers(axiom_emulator, deferrable):
    """Right after a trigger the API still answers for the previous run (registration_delay)."""
    axiom_emulator.load_scenario({**SCENARIO, "registration_delay": 8})
    emulated = EmulatedTime(axiom_emulator)
    # What a naive client sees right after triggering: the previous run's Success and rows.
    with AxiomHook() as hook:
        hook.trigger_automation("Export leads")
        naive = hook.get_run_data("Export leads")
    assert naive.status == "Success" and naive.data == {"google-sheet-data": OLD_ROWS}
    axiom_emulator.load_scenario({**SCENARIO, "registration_delay": 8})

    op = operator(emulated, automation_name="Export leads", deferrable=deferrable)
    ctx = context()
    if deferrable:
        trigger = defer(op, ctx)
        result = op.execute_complete(ctx, asyncio.run(run_trigger(trigger, emulated)))
    else:
        result = op.execute(ctx)
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert len(axiom_emulator.started_runs("Export leads")) == 1


def test_axiom_run_link_reads_the_viewer_url_xcom(monkeypatch):
    from airflow.sdk.execution_time import xcom as xcom_module

    from airflow_provider_axiom.operators.axiom import AxiomRunLink

    asked = {}

    def get_value(*, key, ti_key):
        asked["key"] = key
        return "https://vnc.axiom.ai/vnc_lite.html?host=dev-c-0001-v4-proxy.axiom.ai&password=x"

    monkeypatch.setattr(xcom_module.XCom, "get_value", staticmethod(get_value))
    link = AxiomRunLink()
    op = AxiomTriggerAutomationOperator(task_id="t", automation_name="A")
    assert link.get_link(op, ti_key=None).startswith("https://vnc.axiom.ai/")
    assert asked["key"] == link.xcom_key == "viewer_url"
    assert link in op.operator_extra_links
    monkeypatch.setattr(xcom_module.XCom, "get_value", staticmethod(lambda **kw: None))
    assert link.get_link(op, ti_key=None) == ""  # queued: no link yet


def test_finished_status_vocabulary_still_returns_the_output(axiom_emulator):
    """Some surfaces answer "Finished" instead of Success/Failure in /run-data; run reports decide the outcome."""
    axiom_emulator.load_scenario({**SCENARIO, "status_vocabulary": "finished"})
    result = operator(EmulatedTime(axiom_emulator), automation_name="Export leads", deferrable=False).execute(context())
    assert result["status"] == "Success" and result["data"] == {"google-sheet-data": NEW_ROWS}


def test_a_retry_after_a_worker_crash_reattaches_instead_of_starting_a_second_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()

    first = operator(emulated, automation_name="Export leads", deferrable=False)

    def crash(seconds: float) -> None:
        if "axiom_run" in store.data:
            raise SystemExit("worker lost")  # the first attempt dies while waiting for its run

    emulated.after_sleep = crash
    with pytest.raises(SystemExit):
        first.execute({"ti": FakeTI(), "task_state_store": store})
    assert "axiom_run" in store.data
    emulated.after_sleep = None

    retry = operator(emulated, automation_name="Export leads", deferrable=False)
    ctx = {"ti": FakeTI(), "task_state_store": store}
    result = retry.execute(ctx)
    assert result["data"] == {"google-sheet-data": NEW_ROWS}
    assert len(axiom_emulator.started_runs("Export leads")) == 1  # re-attached, not triggered again
    assert [r["endpoint"] for r in axiom_emulator.requests("trigger")] == ["trigger"]
    assert ctx["ti"].xcom["viewer_url"] == axiom_emulator.started_runs("Export leads")[0]["viewer_url"]
    assert "axiom_run" not in store.data  # the run ended: a later clear starts a new run


def test_a_retry_after_a_failed_run_starts_a_new_run(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()
    for _ in range(2):
        with pytest.raises(AxiomRunFailedError):
            operator(emulated, automation_name="Broken checkout flow", deferrable=False).execute(
                {"ti": FakeTI(), "task_state_store": store}
            )
    assert len(axiom_emulator.started_runs("Broken checkout flow")) == 2
    assert store.data == {}


async def test_deferred_error_event_keeps_the_run_for_the_retry(axiom_emulator):
    emulated = EmulatedTime(axiom_emulator)
    store = FakeTaskStateStore()
    op = operator(emulated, automation_name="Export leads", deferrable=True)
    trigger = await asyncio.to_thread(defer, op, {"ti": FakeTI(), "task_state_store": store})
    with pytest.raises(AxiomApiError):
        op.execute_complete({"task_state_store": store}, {"status": "error", "message": "triggerer trouble"})
    assert "axiom_run" in store.data
    retry = operator(emulated, automation_name="Export leads", deferrable=True)
    trigger = await asyncio.to_thread(defer, retry, {"ti": FakeTI(), "task_state_store": store})
    assert len(axiom_emulator.started_runs("Export leads")) == 1
    event = await run_trigger(trigger, emulated)
    assert retry.execute_complete({"task_state_store": store}, event)["data"] == {"google-sheet-data": NEW_ROWS}
    assert store.data == {}


@pytest.mark.parametrize("soft_fail", [False, True])
def test_sensor_poke_mode_timeout_stops_the_run(axiom_emulator, soft_fail):
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException

    hook = AxiomHook()
    started = hook.trigger_automation("Long crawl")
    s = AxiomRunSensor(
        task_id="wait",
        automation_name="Long crawl",
        started_after=started.triggered_at,
        viewer_url=started.viewer_url,
        poke_interval=0.01,
        timeout=0.05,
        soft_fail=soft_fail,
    )
    with pytest.raises(AirflowSkipException if soft_fail else AirflowSensorTimeout):
        s.execute(context())
    assert axiom_emulator.started_runs("Long crawl")[0]["stopped"]
