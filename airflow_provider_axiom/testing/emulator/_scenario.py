"""Scenario model, defaults, loading (dict / JSON / YAML) and validation (pydantic, which Airflow brings)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._clock import parse_iso
from ._faults import FaultPlan, FaultSpecError, normalise_endpoint, parse_plan_mapping

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
#: Highest ``plan.concurrency``. Above 99 (more than any plan) is for load tests; pids then get 3-4 digits.
MAX_CONCURRENCY = 9999
DEFAULT_FAILURE_MESSAGE = "Error: the automation stopped with an error."
#: The first automation's task id; the others count up from it unless they set ``task_id``.
FIRST_TASK_ID = 22842

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


def _cell(value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"cells must be strings, numbers or booleans, got {value!r}")
    return value


Seconds = Annotated[float, Field(ge=0)]
Output = dict[str, list[list[Annotated[Any, AfterValidator(_cell)]]]]
Outcome = Literal["Success", "Failure"]
_STRICT = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)


class Automation(BaseModel):
    """One automation of the emulated account."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    duration: Seconds = 5.0
    outcome: Outcome = "Success"
    output: Output = Field(default_factory=dict)
    failure_message: str = DEFAULT_FAILURE_MESSAGE
    allow_cloud_concurrency: bool = False
    echo_input: bool = False
    task_id: int = Field(default=0, ge=0)


class Plan(BaseModel):
    """Account plan: concurrency, runtime allowance and queue behaviour."""

    model_config = _STRICT

    concurrency: int = Field(default=1, ge=1, le=MAX_CONCURRENCY)
    allowance_minutes: Seconds = 15000
    used_minutes: Seconds = 0
    queue_retry_seconds: float = Field(default=300, gt=0)
    queue_limit_per_automation: int | None = Field(default=None, ge=0)


class HistoryRun(BaseModel):
    """A finished run that already exists when the scenario is loaded."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    status: Outcome
    minutes_ago: Seconds
    output: Output = Field(default_factory=dict)
    duration: Seconds | None = None
    failure_message: str | None = None


class Scenario(BaseModel):
    """A validated scenario. Build it with :func:`load_scenario` from a dict, a file or None."""

    model_config = _STRICT

    api_key: str = Field(default="test-key", min_length=1)
    speed: Seconds = 1.0
    start_time: float | None = None
    seed: int | None = Field(default=0, ge=0)
    plan: Plan = Field(default_factory=lambda: Plan())
    rate_limit_per_minute: int | None = Field(default=100, ge=1)
    #: Strict reading of the limit: refused (429) calls count against the window too.
    rate_limit_counts_refused: bool = False
    #: Which clock the rolling minute is counted on: "real" seconds or "emulated" seconds.
    rate_limit_clock: Literal["real", "emulated"] = "real"
    #: Which reading of the run-id pages the API gives: ``none`` (the documented pages: no run id),
    #: ``by_id`` (``/run-data`` and ``/stop`` read ``run_id``), ``name_required`` (``/trigger`` returns
    #: one, but ``/run-data`` needs the name and ignores an id beside it, ``/stop`` takes only
    #: ``pid``/``pw``) or ``ignored`` (``/trigger`` returns one; every other endpoint ignores it).
    run_ids: Literal["none", "by_id", "name_required", "ignored"] = "none"
    #: Kept for scenarios written before ``run_ids``: ``true`` is ``run_ids: by_id``.
    run_id_mode: bool = False
    errors_with_http_200: bool = False
    report_queued_runs: bool = False
    viewer_host_style: Literal["dh", "old"] = "dh"
    status_vocabulary: Literal["documented", "finished"] = "documented"
    invalid_key_message: str = Field(default="Invalid key", min_length=1)
    missing_key_status: Literal[401, 403] = 401
    cloud_version: str = Field(default="4.6.0", min_length=1)
    keep_alive_timeout: float | None = Field(default=None, gt=0)
    #: Emulated seconds after a trigger before the new run shows in /run-data and /run-reports
    #: (until then /run-data still answers for the previous run, as the docs warn). A ``(min, max)``
    #: pair draws each run's delay uniformly from that range (seeded by ``seed``).
    registration_delay: float | tuple[float, float] = 0.0
    #: Most reports /run-reports returns whatever ``count`` asks (None: no cap), silently: the
    #: reading the provider assumes is wrong, for ``axiom-contract-check`` to catch.
    report_count_cap: int | None = Field(default=None, ge=1)
    automations: list[Automation] = Field(default_factory=list)
    history: list[HistoryRun] = Field(default_factory=list)
    #: Parsed by ``_faults`` (its own messages), not by pydantic.
    faults: dict[str, FaultPlan] = Field(default_factory=dict)
    source: str = "<dict>"

    @model_validator(mode="after")
    def _run_id_mode(self) -> Scenario:
        if self.run_id_mode and self.run_ids == "none":
            self.run_ids = "by_id"
        return self

    @field_validator("start_time", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> Any:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return None if value is None else float(value)
        try:
            return parse_iso(str(value))
        except ValueError:
            raise ValueError(f"must be an ISO 8601 timestamp, got {value!r}") from None

    @field_validator("registration_delay", mode="before")
    @classmethod
    def _delay(cls, value: Any) -> Any:
        """A number of seconds >= 0, or a ``[min, max]`` range of them."""
        if value is None:
            return 0.0
        pair = list(value) if isinstance(value, (list, tuple)) else [value, value]
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
            raise ValueError(f"must be a number or a [min, max] pair of numbers, got {value!r}")
        if min(pair) < 0 or pair[1] < pair[0]:
            raise ValueError(f"must be >= 0, and max >= min, got {value!r}")
        return (float(pair[0]), float(pair[1])) if isinstance(value, (list, tuple)) else float(value)


def _where(loc: tuple[int | str, ...]) -> str:
    """``("automations", 0, "output", "t", 0)`` -> ``automations[0].output.t[0]``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _allowed_keys(loc: tuple[int | str, ...], model: type[BaseModel]) -> list[str]:
    """The fields of the model that holds the last key of ``loc``."""
    for part in loc[:-1]:
        if isinstance(part, str):
            annotation = model.model_fields[part].annotation
            candidates = (annotation, *get_args(annotation))  # a model, or a list or Optional of one
            model = next(m for m in candidates if get_origin(m) is None and isinstance(m, type))
    return sorted(set(model.model_fields) - {"source"})


def _validated(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    """``model`` built from ``data``; the first error as a :class:`ScenarioError` naming its field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = prefix + _where(error["loc"]) if error["loc"] else prefix.rstrip(".") or "scenario"
        if error["type"] == "extra_forbidden":
            problem = f"unknown key (allowed: {', '.join(_allowed_keys(error['loc'], model))})"
        elif error["type"] == "missing":
            problem = "is required"
        elif error["type"] == "value_error":
            problem = str(error["ctx"]["error"])
        else:
            problem = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}"
        raise ScenarioError(f"scenario field '{where}': {problem}") from None


def parse_automation(data: Any, where: str, index: int = 0) -> Automation:
    """Validate one automation mapping (``name`` required)."""
    auto: Automation = _validated(Automation, data, f"{where}.")
    if "task_id" not in auto.model_fields_set:
        auto.task_id = FIRST_TASK_ID + index
    return auto


def parse_scenario(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a scenario mapping; raise :class:`ScenarioError` naming the first bad field."""
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a mapping, got {type(data).__name__}")
    if "source" in data:
        raise ScenarioError(
            f"scenario field 'source': unknown key (allowed: {', '.join(_allowed_keys(('x',), Scenario))})"
        )
    sc: Scenario = _validated(Scenario, {**{k: v for k, v in data.items() if k != "faults"}, "source": source})
    names = [auto.name for auto in sc.automations]
    for i, auto in enumerate(sc.automations):
        if auto.name in names[:i]:
            raise ScenarioError(f"scenario field 'automations[{i}].name': duplicate automation name {auto.name!r}")
        if "task_id" not in auto.model_fields_set:
            auto.task_id = FIRST_TASK_ID + i
    for i, run in enumerate(sc.history):
        if run.name not in names:
            problem = f"no automation named {run.name!r} in 'automations'"
            raise ScenarioError(f"scenario field 'history[{i}].name': {problem}")

    faults = data.get("faults") or {}
    if not isinstance(faults, Mapping):
        raise ScenarioError(
            "scenario field 'faults': must be a mapping of endpoint -> {sequence: [...]} or {probability, fault}"
        )
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
