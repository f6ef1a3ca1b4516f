"""Fault injection: scripted sequences or seeded random faults, per endpoint or for all (``"*"``)."""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL_ENDPOINTS = "*"
_SIMPLE_KINDS = ("ok", "reset", "html", "truncated", "lost_response")
_LOST_MODES = ("reset", "502", "hang")
_FAULT_KEYS = {"kind", "status", "message", "retry_after", "latency", "lost_response", "seconds"}


class FaultSpecError(ValueError):
    """A fault specification is malformed (the message names the offending field)."""


@dataclass(frozen=True)
class Fault:
    """One normalised fault.

    ``kind`` is ``ok`` (answer normally, possibly after ``latency``), ``status`` (answer ``status``
    without processing), ``reset`` (RST before processing), ``html`` (502 HTML gateway page before
    processing), ``truncated`` (process, answer 200 with half the JSON) or ``lost_response`` (process,
    then ``lost_mode``: ``reset``, ``502`` or ``hang`` for ``hang_seconds``).
    """

    kind: str = "ok"
    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    lost_mode: str = "reset"
    hang_seconds: float = 30.0

    @property
    def is_noop(self) -> bool:
        return self.kind == "ok" and not self.latency

    def describe(self) -> str | None:
        """Compact label for the request log, e.g. ``status:500``, ``latency:0.5+reset``; None if no fault."""
        parts: list[str] = []
        if self.latency:
            parts.append(f"latency:{self.latency:g}")
        if self.kind == "status":
            parts.append(f"status:{self.status}")
        elif self.kind == "lost_response":
            parts.append(f"lost_response:{self.lost_mode}")
        elif self.kind != "ok":
            parts.append(self.kind)
        return "+".join(parts) or None


def normalise_endpoint(endpoint: str) -> str:
    """``"/api/v3/trigger"``, ``"/trigger"`` and ``"trigger"`` all become ``"trigger"``; ``"*"`` stays."""
    text = str(endpoint).strip()
    if text == ALL_ENDPOINTS:
        return text
    text = text.strip("/")
    if text.startswith("api/v3/"):
        text = text[len("api/v3/") :]
    return text.strip("/")


def _number(value: Any, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise FaultSpecError(f"{where}: must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def parse_fault(spec: Any, where: str = "fault") -> Fault:
    """Turn a user fault spec (string, status int or dict) into a :class:`Fault`."""
    if isinstance(spec, Fault):
        return spec
    if isinstance(spec, str):
        if spec not in _SIMPLE_KINDS:
            raise FaultSpecError(f"{where}: unknown fault {spec!r}; expected one of {', '.join(_SIMPLE_KINDS)}")
        return Fault(kind=spec)
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = {"status": spec}
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"{where}: a fault is a string, an HTTP status or a mapping, got {spec!r}")
    unknown = set(spec) - _FAULT_KEYS
    if unknown:
        raise FaultSpecError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_FAULT_KEYS)}")
    latency = _number(spec["latency"], f"{where}.latency") if "latency" in spec else 0.0
    kinds = [k for k in ("kind", "status", "lost_response") if k in spec]
    if len(kinds) > 1:
        raise FaultSpecError(f"{where}: use only one of 'kind', 'status', 'lost_response' (got {kinds})")
    if "status" in spec:
        status = spec["status"]
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise FaultSpecError(f"{where}.status: must be an HTTP status code, got {status!r}")
        retry_after = _number(spec["retry_after"], f"{where}.retry_after") if "retry_after" in spec else None
        message = spec.get("message")
        if message is not None and not isinstance(message, str):
            raise FaultSpecError(f"{where}.message: must be a string, got {message!r}")
        return Fault(kind="status", status=status, message=message, retry_after=retry_after, latency=latency)
    for key in ("retry_after", "message"):
        if key in spec:
            raise FaultSpecError(f"{where}.{key}: only valid together with 'status'")
    if "lost_response" in spec:
        mode = str(spec["lost_response"])
        if mode not in _LOST_MODES:
            raise FaultSpecError(f"{where}.lost_response: must be 'reset', 502 or 'hang', got {mode!r}")
        seconds = _number(spec["seconds"], f"{where}.seconds") if "seconds" in spec else 30.0
        return Fault(kind="lost_response", lost_mode=mode, hang_seconds=seconds, latency=latency)
    if "seconds" in spec:
        raise FaultSpecError(f"{where}.seconds: only valid with lost_response 'hang'")
    kind = spec.get("kind", "ok")
    if kind not in _SIMPLE_KINDS:
        raise FaultSpecError(f"{where}.kind: unknown fault {kind!r}; expected one of {', '.join(_SIMPLE_KINDS)}")
    if kind == "lost_response":
        return Fault(kind="lost_response", latency=latency)
    return Fault(kind=kind, latency=latency)


@dataclass
class FaultPlan:
    """Faults of one endpoint: a scripted ``sequence`` (consumed one per request) or a ``probability``."""

    sequence: list[Fault] | None = None
    probability: float = 0.0
    fault: Fault | None = None
    position: int = 0

    @property
    def active(self) -> bool:
        if self.sequence is not None:
            return self.position < len(self.sequence)
        return self.fault is not None

    def to_dict(self) -> dict[str, Any]:
        if self.sequence is not None:
            return {
                "sequence": [f.describe() or "ok" for f in self.sequence],
                "remaining": len(self.sequence) - self.position,
            }
        return {"probability": self.probability, "fault": self.fault.describe() if self.fault else None}


def parse_plan(
    sequence: Sequence[Any] | None = None,
    probability: float | None = None,
    fault: Any = None,
    where: str = "faults",
) -> FaultPlan | None:
    """Build a :class:`FaultPlan` from either ``sequence`` or ``probability`` + ``fault``; None clears."""
    if sequence is not None and probability is not None:
        raise FaultSpecError(f"{where}: give either 'sequence' or 'probability', not both")
    if sequence is not None:
        if isinstance(sequence, (str, bytes)) or not isinstance(sequence, Sequence):
            raise FaultSpecError(f"{where}.sequence: must be a list, got {sequence!r}")
        return FaultPlan(sequence=[parse_fault(s, f"{where}.sequence[{i}]") for i, s in enumerate(sequence)])
    if probability is not None:
        p = _number(probability, f"{where}.probability")
        if p > 1:
            raise FaultSpecError(f"{where}.probability: must be between 0 and 1, got {probability!r}")
        if fault is None:
            raise FaultSpecError(f"{where}.fault: required with 'probability'")
        return FaultPlan(probability=p, fault=parse_fault(fault, f"{where}.fault"))
    if fault is not None:
        raise FaultSpecError(f"{where}: 'fault' needs a 'probability' (or use 'sequence')")
    return None


def parse_plan_mapping(spec: Any, where: str) -> FaultPlan | None:
    """Parse ``{"sequence": [...]}`` or ``{"probability": p, "fault": ...}``."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"{where}: must be a mapping with 'sequence' or 'probability'+'fault'")
    unknown = set(spec) - {"sequence", "probability", "fault"}
    if unknown:
        raise FaultSpecError(f"{where}: unknown key(s) {sorted(unknown)}")
    return parse_plan(spec.get("sequence"), spec.get("probability"), spec.get("fault"), where)


class FaultInjector:
    """Thread-safe per-endpoint fault plans with a seeded RNG.

    An endpoint's own plan takes precedence while it is active (a sequence not used up, or a
    probability plan); otherwise the ``"*"`` plan applies.
    """

    def __init__(self, plans: Mapping[str, FaultPlan] | None = None, seed: int | None = 0) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, FaultPlan] = {}
        self._rng = random.Random(seed)
        for endpoint, plan in (plans or {}).items():
            self.set(endpoint, plan)

    def set(self, endpoint: str, plan: FaultPlan | None) -> None:
        key = normalise_endpoint(endpoint)
        with self._lock:
            if plan is None:
                self._plans.pop(key, None)
            else:
                self._plans[key] = FaultPlan(
                    sequence=list(plan.sequence) if plan.sequence is not None else None,
                    probability=plan.probability,
                    fault=plan.fault,
                )

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def next(self, endpoint: str) -> Fault | None:
        """The fault for the next request to ``endpoint`` (None: answer normally)."""
        with self._lock:
            if not self._plans:
                return None
            plan = self._plans.get(endpoint)
            if plan is None or not plan.active:
                plan = self._plans.get(ALL_ENDPOINTS)
                if plan is None or not plan.active:
                    return None
            if plan.sequence is not None:
                fault = plan.sequence[plan.position]
                plan.position += 1
                return None if fault.is_noop else fault
            if plan.fault is not None and self._rng.random() < plan.probability:
                return plan.fault
            return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {endpoint: plan.to_dict() for endpoint, plan in self._plans.items()}
