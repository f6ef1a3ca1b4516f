"""The plan of each endpoint, written once for both drivers: its request (validated before anything is
sent), the machine that sends it, and how its answer is read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from pendulum import DateTime

from airflow_provider_axiom._calls.call import Call, SuggestNames
from airflow_provider_axiom._calls.steps import CallContext, Plan
from airflow_provider_axiom._calls.trigger import FindRun, TriggerCall
from airflow_provider_axiom._protocol import requests, responses
from airflow_provider_axiom._protocol.requests import ApiRequest
from airflow_provider_axiom.results import RemainingRuntime, RunData, RunReport, StopResult, TriggerResult

T = TypeVar("T")


def simple(ctx: CallContext, request: ApiRequest, parse: Callable[[Any], T]) -> Plan[T]:
    """One request, retried while it fails retryably; ``parse`` reads the answer's body."""
    return Call(ctx, request, lambda body, raw: parse(body))


def trigger_plan(
    ctx: CallContext,
    name: str,
    data: Any,
    now: Callable[[], DateTime],
    *,
    spacing: timedelta,
    find_run: FindRun,
) -> Plan[TriggerResult]:
    """``/trigger`` (see :class:`TriggerCall`), with the closest names suggested if ``name`` is unknown."""
    request = requests.trigger_request(name, data)  # validates before anything is sent
    return SuggestNames(ctx, TriggerCall(ctx, request, name, now, spacing=spacing, find_run=find_run), name)


def run_data_plan(ctx: CallContext, name: str | None, run_id: str | None) -> Plan[RunData]:
    plan = simple(ctx, requests.run_data_request(name, run_id), responses.parse_run_data)
    return SuggestNames(ctx, plan, name) if name and not run_id else plan


def run_reports_plan(ctx: CallContext, count: int) -> Plan[list[RunReport]]:
    return simple(ctx, requests.run_reports_request(count), responses.parse_run_reports)


def list_automations_plan(ctx: CallContext) -> Plan[list[str]]:
    return simple(ctx, requests.list_automations_request(), responses.parse_automation_names)


def remaining_runtime_plan(ctx: CallContext) -> Plan[RemainingRuntime]:
    return simple(ctx, requests.remaining_runtime_request(), responses.parse_remaining_runtime)


def stop_plan(ctx: CallContext, viewer_url: str | None, run_id: str | None) -> Plan[StopResult]:
    request = requests.stop_request(viewer_url, run_id)
    stopped = requests.stop_target(request)
    return simple(ctx, request, lambda body: responses.parse_stop(body, stopped))
