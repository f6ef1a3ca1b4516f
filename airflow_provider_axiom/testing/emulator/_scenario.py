"""Scenario model, defaults, loading (dict / JSON / YAML) and validation."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ._clock import parse_iso
from ._faults import FaultPlan, FaultSpecError, normalise_endpoint, parse_plan_mapping

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
#: Highest ``plan.concurrency``. Above 99 (more than any plan) is for load tests; pids then get 3-4 digits.
MAX_CONCURRENCY = 9999
DEFAULT_FAILURE_MESSAGE = "Error: the automation stopped with an error."

ScenarioSource = Union["Scenario", Mapping[str, Any], str, "os.PathLike[str]", None]


class ScenarioError(ValueError):
    """The scenario is invalid; the message names the offending field."""


DEFAULT_SCENARIO: dict[str, Any] = {
    "api_key": "test-key",
    "speed": 1.0,
    "plan": {"concurrency": 1, "allowance_minutes": 15000, "used_minutes": 0},
    "automations": [
        {"name": "Scrape product prices", "duration": 3, "outcome": "Success", "echo_input": True},
        {
            "name": "Export leads",
            "duration": 5,
            "outcome": "Success",
            "output": {"google-sheet-data": [["name", "email"], ["Ada", "ada@example.com"]]},
        },
        {
            "name": "Broken checkout flow",
            "duration": 5,
            "outcome": "Failure",
            "failure_message": (
                "Error: No element found for selector: #checkout-button\n"
                "    at Step 3 (Click element) of Broken checkout flow"
            ),
        },
    ],
}


@dataclass
class Automation:
    """One automation of the emulated account."""

    name: str
    duration: float = 5.0
    outcome: str = "Success"
    output: dict[str, list[list[Any]]] = field(default_factory=dict)
    failure_message: str = DEFAULT_FAILURE_MESSAGE
    allow_cloud_concurrency: bool = False
    echo_input: bool = False
    task_id: int = 0


@dataclass
class Plan:
    """Account plan: concurrency, runtime allowance and queue behaviour."""

    concurrency: int = 1
    allowance_minutes: float = 15000
    used_minutes: float = 0
    queue_retry_seconds: float = 300
    queue_limit_per_automation: int | None = None


@dataclass
class HistoryRun:
    """A finished run that already exists when the scenario is loaded."""

    name: str
    status: str
    minutes_ago: float
    output: dict[str, list[list[Any]]] = field(default_factory=dict)
    duration: float | None = None
    failure_message: str | None = None


@dataclass
class Scenario:
    """A validated scenario. Build it with :func:`load_scenario` from a dict, a file or None."""

    api_key: str = "test-key"
    speed: float = 1.0
    start_time: float | None = None
    seed: int | None = 0
    plan: Plan = field(default_factory=Plan)
    rate_limit_per_minute: int | None = 100
    #: Strict reading of the limit: refused (429) calls count against the window too.
    rate_limit_counts_refused: bool = False
    #: Which clock the rolling minute is counted on: "real" seconds or "emulated" seconds.
    rate_limit_clock: str = "real"
    run_id_mode: bool = False
    errors_with_http_200: bool = False
    report_queued_runs: bool = False
    viewer_host_style: str = "dh"
    status_vocabulary: str = "documented"
    invalid_key_message: str = "Invalid key"
    missing_key_status: int = 401
    cloud_version: str = "4.6.0"
    keep_alive_timeout: float | None = None
    #: Emulated seconds after a trigger before the new run shows in /run-data and /run-reports
    #: (until then /run-data still answers for the previous run, as the docs warn). A ``(min, max)``
    #: pair draws each run's delay uniformly from that range (seeded by ``seed``).
    registration_delay: float | tuple[float, float] = 0.0
    #: Most reports /run-reports returns whatever ``count`` asks (None: no cap), silently: the
    #: reading the provider assumes is wrong, for ``axiom-contract-check`` to catch.
    report_count_cap: int | None = None
    automations: list[Automation] = field(default_factory=list)
    history: list[HistoryRun] = field(default_factory=list)
    faults: dict[str, FaultPlan] = field(default_factory=dict)
    source: str = "<dict>"


_TOP_KEYS = {
    "api_key",
    "speed",
    "start_time",
    "seed",
    "plan",
    "rate_limit_per_minute",
    "rate_limit_counts_refused",
    "rate_limit_clock",
    "run_id_mode",
    "errors_with_http_200",
    "report_queued_runs",
    "viewer_host_style",
    "status_vocabulary",
    "invalid_key_message",
    "missing_key_status",
    "cloud_version",
    "keep_alive_timeout",
    "registration_delay",
    "report_count_cap",
    "automations",
    "history",
    "faults",
}
_PLAN_KEYS = {
    "concurrency",
    "allowance_minutes",
    "used_minutes",
    "queue_retry_seconds",
    "queue_limit_per_automation",
}
AUTOMATION_KEYS = {
    "name",
    "duration",
    "outcome",
    "output",
    "failure_message",
    "allow_cloud_concurrency",
    "echo_input",
    "task_id",
}
_HISTORY_KEYS = {"name", "status", "minutes_ago", "output", "duration", "failure_message"}


def _fail(where: str, problem: str) -> ScenarioError:
    return ScenarioError(f"scenario field '{where}': {problem}")


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(f"{where}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _num(value: Any, where: str, *, minimum: float | None = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"must be a number, got {value!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise _fail(where, f"must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def _int(value: Any, where: str, *, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(where, f"must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise _fail(where, f"must be an integer <= {maximum}, got {value!r}")
    return value


def _delay(value: Any, where: str) -> float | tuple[float, float]:
    """A number of seconds, or a ``[min, max]`` range of them."""
    if not isinstance(value, (list, tuple)):
        return _num(value, where)
    if len(value) != 2:
        raise _fail(where, f"must be a number or a [min, max] pair, got {value!r}")
    low, high = _num(value[0], f"{where}[0]"), _num(value[1], f"{where}[1]")
    if high < low:
        raise _fail(where, f"max must be >= min, got {value!r}")
    return (low, high)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"must be true or false, got {value!r}")
    return value


def _str(value: Any, where: str, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value):
        raise _fail(where, f"must be a{'' if empty_ok else ' non-empty'} string, got {value!r}")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(where, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return str(value)


def _is_cell(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _output(value: Any, where: str) -> dict[str, list[list[Any]]]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"must be a mapping of writer token -> rows (list of lists), got {value!r}")
    result: dict[str, list[list[Any]]] = {}
    for token, rows in value.items():
        if not isinstance(token, str):
            raise _fail(where, f"writer tokens must be strings, got {token!r}")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _fail(f"{where}.{token}", "must be a list of rows (lists of cells)")
        for i, row in enumerate(rows):
            if not all(_is_cell(c) for c in row):
                raise _fail(f"{where}.{token}[{i}]", "cells must be strings, numbers or booleans")
        result[token] = copy.deepcopy(rows)
    return result


def parse_automation(data: Any, where: str, index: int = 0) -> Automation:
    """Validate one automation mapping (``name`` required)."""
    if not isinstance(data, Mapping):
        raise _fail(where, f"must be a mapping, got {data!r}")
    _check_keys(data, AUTOMATION_KEYS, f"{where}.")
    if "name" not in data:
        raise _fail(f"{where}.name", "is required")
    auto = Automation(name=_str(data["name"], f"{where}.name"), task_id=22842 + index)
    if "duration" in data:
        auto.duration = _num(data["duration"], f"{where}.duration")
    if "outcome" in data:
        auto.outcome = _choice(data["outcome"], f"{where}.outcome", ("Success", "Failure"))
    if "output" in data:
        auto.output = _output(data["output"], f"{where}.output")
    if "failure_message" in data:
        auto.failure_message = _str(data["failure_message"], f"{where}.failure_message", empty_ok=True)
    if "allow_cloud_concurrency" in data:
        auto.allow_cloud_concurrency = _bool(data["allow_cloud_concurrency"], f"{where}.allow_cloud_concurrency")
    if "echo_input" in data:
        auto.echo_input = _bool(data["echo_input"], f"{where}.echo_input")
    if "task_id" in data:
        auto.task_id = _int(data["task_id"], f"{where}.task_id", minimum=0)
    return auto


def parse_scenario(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario mapping; raise :class:`ScenarioError` naming the first bad field."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a mapping, got {type(data).__name__}")
    _check_keys(data, _TOP_KEYS, "")
    sc = Scenario(source=source)
    if "api_key" in data:
        sc.api_key = _str(data["api_key"], "api_key")
    if "speed" in data:
        sc.speed = _num(data["speed"], "speed")
    if data.get("start_time") is not None:
        value = data["start_time"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            sc.start_time = float(value)
        else:
            try:
                sc.start_time = parse_iso(str(value))
            except ValueError:
                raise _fail("start_time", f"must be an ISO 8601 timestamp, got {value!r}") from None
    if "seed" in data:
        seed = data["seed"]
        sc.seed = None if seed is None else _int(seed, "seed", minimum=0)
    if "plan" in data:
        plan = data["plan"]
        if not isinstance(plan, Mapping):
            raise _fail("plan", f"must be a mapping, got {plan!r}")
        _check_keys(plan, _PLAN_KEYS, "plan.")
        if "concurrency" in plan:
            sc.plan.concurrency = _int(plan["concurrency"], "plan.concurrency", minimum=1, maximum=MAX_CONCURRENCY)
        if "allowance_minutes" in plan:
            sc.plan.allowance_minutes = _num(plan["allowance_minutes"], "plan.allowance_minutes")
        if "used_minutes" in plan:
            sc.plan.used_minutes = _num(plan["used_minutes"], "plan.used_minutes")
        if "queue_retry_seconds" in plan:
            sc.plan.queue_retry_seconds = _num(plan["queue_retry_seconds"], "plan.queue_retry_seconds", strict=True)
        if plan.get("queue_limit_per_automation") is not None:
            sc.plan.queue_limit_per_automation = _int(
                plan["queue_limit_per_automation"], "plan.queue_limit_per_automation", minimum=0
            )
    if "rate_limit_per_minute" in data:
        limit = data["rate_limit_per_minute"]
        sc.rate_limit_per_minute = None if limit is None else _int(limit, "rate_limit_per_minute", minimum=1)
    if "rate_limit_clock" in data:
        sc.rate_limit_clock = _choice(data["rate_limit_clock"], "rate_limit_clock", ("real", "emulated"))
    for flag in ("run_id_mode", "errors_with_http_200", "report_queued_runs", "rate_limit_counts_refused"):
        if flag in data:
            setattr(sc, flag, _bool(data[flag], flag))
    if "viewer_host_style" in data:
        sc.viewer_host_style = _choice(data["viewer_host_style"], "viewer_host_style", ("dh", "old"))
    if "status_vocabulary" in data:
        sc.status_vocabulary = _choice(data["status_vocabulary"], "status_vocabulary", ("documented", "finished"))
    if "invalid_key_message" in data:
        sc.invalid_key_message = _str(data["invalid_key_message"], "invalid_key_message")
    if "missing_key_status" in data:
        if data["missing_key_status"] not in (401, 403) or isinstance(data["missing_key_status"], bool):
            raise _fail("missing_key_status", f"must be 401 or 403, got {data['missing_key_status']!r}")
        sc.missing_key_status = int(data["missing_key_status"])
    if "cloud_version" in data:
        sc.cloud_version = _str(data["cloud_version"], "cloud_version")
    if data.get("registration_delay") is not None:
        sc.registration_delay = _delay(data["registration_delay"], "registration_delay")
    if data.get("report_count_cap") is not None:
        sc.report_count_cap = _int(data["report_count_cap"], "report_count_cap", minimum=1)
    if data.get("keep_alive_timeout") is not None:
        sc.keep_alive_timeout = _num(data["keep_alive_timeout"], "keep_alive_timeout", strict=True)

    automations = data.get("automations", [])
    if not isinstance(automations, list):
        raise _fail("automations", f"must be a list, got {automations!r}")
    seen: set[str] = set()
    for i, item in enumerate(automations):
        auto = parse_automation(item, f"automations[{i}]", i)
        if auto.name in seen:
            raise _fail(f"automations[{i}].name", f"duplicate automation name {auto.name!r}")
        seen.add(auto.name)
        sc.automations.append(auto)

    history = data.get("history", [])
    if not isinstance(history, list):
        raise _fail("history", f"must be a list, got {history!r}")
    for i, item in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(where, f"must be a mapping, got {item!r}")
        _check_keys(item, _HISTORY_KEYS, f"{where}.")
        for required in ("name", "status", "minutes_ago"):
            if required not in item:
                raise _fail(f"{where}.{required}", "is required")
        name = _str(item["name"], f"{where}.name")
        if name not in seen:
            raise _fail(f"{where}.name", f"no automation named {name!r} in 'automations'")
        run = HistoryRun(
            name=name,
            status=_choice(item["status"], f"{where}.status", ("Success", "Failure")),
            minutes_ago=_num(item["minutes_ago"], f"{where}.minutes_ago"),
        )
        if "output" in item:
            run.output = _output(item["output"], f"{where}.output")
        if item.get("duration") is not None:
            run.duration = _num(item["duration"], f"{where}.duration")
        if item.get("failure_message") is not None:
            run.failure_message = _str(item["failure_message"], f"{where}.failure_message", empty_ok=True)
        sc.history.append(run)

    faults = data.get("faults") or {}
    if not isinstance(faults, Mapping):
        raise _fail("faults", "must be a mapping of endpoint -> {sequence: [...]} or {probability, fault}")
    for endpoint, spec in faults.items():
        try:
            plan = parse_plan_mapping(spec, f"faults.{endpoint}")
        except FaultSpecError as exc:
            raise ScenarioError(f"scenario field {exc}") from None
        if plan is not None:
            sc.faults[normalise_endpoint(endpoint)] = plan
    return sc


def read_scenario_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``.json`` / ``.yaml`` / ``.yml`` scenario file into a dict (PyYAML imported lazily)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - PyYAML is a dev dependency
            raise ScenarioError(f"reading {p.name} needs PyYAML (pip install pyyaml)") from exc
        data = yaml.safe_load(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{p.name}: a scenario file must contain a mapping at the top level")
    return data


def resolve_scenario_path(name: str | os.PathLike[str]) -> Path:
    """A file path, or the name of a bundled scenario (``demo``)."""
    p = Path(name)
    if p.exists():
        return p
    for candidate in (SCENARIO_DIR / f"{name}.yaml", SCENARIO_DIR / str(name)):
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"scenario file not found: {name}")


def scenario_dict(source: ScenarioSource) -> dict[str, Any]:
    """The raw scenario mapping for ``source`` (None or ``"default"`` = the default scenario)."""
    if source is None or (isinstance(source, str) and source == "default"):
        return copy.deepcopy(DEFAULT_SCENARIO)
    if isinstance(source, Scenario):
        raise TypeError("scenario_dict() needs a mapping or a path, not a parsed Scenario")
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    return read_scenario_file(resolve_scenario_path(source))


def load_scenario(source: ScenarioSource) -> Scenario:
    """Build a validated :class:`Scenario` from None (default), a mapping, a path or a bundled name."""
    if isinstance(source, Scenario):
        return copy.deepcopy(source)
    if source is None or isinstance(source, Mapping) or source == "default":
        label = "<default>" if source is None or source == "default" else "<dict>"
        return parse_scenario(scenario_dict(source), label)
    path = resolve_scenario_path(source)
    return parse_scenario(read_scenario_file(path), str(path.name))
