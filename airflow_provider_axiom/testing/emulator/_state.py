"""The emulated axiom.ai account: runs, queue, quota, rate limit and the v3 endpoint logic.

Everything here is transport-free: :meth:`EmulatorCore.handle_api` takes an endpoint name and a parsed
JSON body and returns ``(http_status, body)``. One re-entrant lock guards all state; state transitions
are computed lazily from the emulated clock on every call (:meth:`EmulatorCore._advance`).
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._clock import EmulatedClock, iso_full, iso_report
from ._faults import FaultInjector, FaultPlan, normalise_endpoint
from ._scenario import Automation, Scenario, parse_automation

# Documented messages, and the emulator's own few (marked).
MSG_QUEUED = (
    "Axiom could not start due to a lack of available resources. "
    "The task has been queued and will retry in five minutes."
)
MSG_TASK_NOT_FOUND = "Task not found, please check the name and try again."
MSG_MISSING_KEY = "Unable to authenticate, you must send an API key."
MSG_MISSING_NAME = "Missing task name, you must send the name of the task that you wish to trigger."
MSG_BAD_DATA = "Data must be sent as an array of arrays."
MSG_QUOTA = "Quota exceeded"
MSG_RATE_LIMIT = "Rate limit exceeded. Try again in a few seconds."
MSG_RUN_NOT_FOUND = "Run not found"
MSG_INVALID_JSON = "Request body must be valid JSON."  # emulator wording (docs: "isn't valid JSON" -> 400)
MSG_MISSING_PID = "Missing pid or pw."  # emulator wording (the docs give no error body for /stop)
MSG_QUEUE_FULL = "queue full"  # undocumented: vendor test stub (HTTP 503)
MSG_BAD_COUNT = "count must be a positive integer."  # emulator wording


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for a key (the provider's logs use the same one)."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


MSG_NOT_FOUND = "Not found"  # emulator wording for unknown paths

ENDPOINTS = ("trigger", "run-data", "run-reports", "list-automations", "remaining-runtime", "stop")

REQUEST_LOG_LIMIT = 100_000


class ApiError(Exception):
    """An error answer ``{"status": "error", "message": ...}`` with its documented HTTP status."""

    def __init__(self, status: int, message: str, *, api: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.api = api  # False: not subject to errors_with_http_200 (e.g. unknown path)


class InvalidJSON:
    """Marker for a request body that is not a JSON object."""


INVALID_JSON = InvalidJSON()


@dataclass(eq=False)
class Run:
    seq: int
    run_id: str
    name: str
    input_data: list[Any] | None
    queued_at: float
    status: str = "queued"  # queued | running | success | failure
    created_at: float | None = None
    updated_at: float = 0.0
    finished_at: float | None = None
    pid: str | None = None
    pw: str | None = None
    viewer_url: str | None = None
    stopped: bool = False
    was_queued: bool = False
    history: bool = False
    # Snapshot of the automation taken when the run starts ("only the latest saved version runs").
    duration: float = 0.0
    outcome: str = "Success"
    output: dict[str, Any] = field(default_factory=dict)
    failure_message: str = ""
    tick: int = 1  # next queue retry at queued_at + tick * queue_retry_seconds
    registration_delay: float = 0.0  # emulated seconds before the API shows it (scenario's registration_delay)
    overrides: dict[str, Any] = field(default_factory=dict)  # outcome/duration/output of a run started by start_run

    @property
    def finished(self) -> bool:
        return self.status in ("success", "failure")

    @property
    def end_time(self) -> float:
        assert self.created_at is not None
        return self.created_at + self.duration


@dataclass
class _Data:
    rows: list[Any]
    three_d: bool

    @property
    def first_table(self) -> list[list[Any]]:
        if self.three_d:
            return self.rows[0] if self.rows else []
        return self.rows


def _is_cell(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def validate_data(data: Any) -> _Data:
    """Accept 2-D rows ``[[cell]]`` and 3-D tables ``[[[cell]]]``; cells are strings/numbers/bools."""
    if not isinstance(data, list) or not all(isinstance(item, list) for item in data):
        raise ApiError(400, MSG_BAD_DATA)
    inner = [x for item in data for x in item]
    if all(_is_cell(x) for x in inner):
        return _Data(rows=data, three_d=False)
    if all(isinstance(x, list) and all(_is_cell(c) for c in x) for x in inner):
        return _Data(rows=data, three_d=True)
    raise ApiError(400, MSG_BAD_DATA)


def coerce_cell(value: Any) -> str:
    """Server-side coercion of cells to strings, the way a JavaScript backend would print them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class EmulatorCore:
    """Thread-safe state and API logic of one emulated axiom.ai account."""

    def __init__(self, scenario: Scenario) -> None:
        self._lock = threading.RLock()
        self.faults = FaultInjector()
        #: Real-time source of the rate limiter (tests may replace it).
        self.real_clock: Callable[[], float] = time.monotonic
        self._pending_overrides: dict[str, Any] = {}  # of the run start_run is creating
        self.load(scenario)

    # ------------------------------------------------------------------ setup

    def load(self, scenario: Scenario) -> None:
        """Load ``scenario`` and reset all state (runs, log, rate window, clock, faults)."""
        with self._lock:
            self.scenario = copy.deepcopy(scenario)
            self._reset_locked()

    def reset(self) -> None:
        """Reset all state, keeping the scenario."""
        with self._lock:
            self._reset_locked()

    def _reset_locked(self) -> None:
        sc = self.scenario
        self.clock = EmulatedClock(start=sc.start_time, speed=sc.speed)
        self.automations: dict[str, Automation] = {a.name: copy.deepcopy(a) for a in sc.automations}
        self._runs: list[Run] = []
        self._by_id: dict[str, Run] = {}
        self._by_pw: dict[str, Run] = {}
        self._latest: dict[str, Run] = {}
        self._queued: list[Run] = []
        self._running: list[Run] = []
        self._seq = 0
        self._pid_cursor = 0
        self._billed_seconds = 0.0
        self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._rate_window: deque[float] = deque()
        self._calls: dict[str, _CallLog] = {}
        self.faults = FaultInjector(sc.faults, seed=sc.seed)
        self._delay_rng = random.Random(sc.seed)
        self._add_history(self.clock.now())

    def _add_history(self, now: float) -> None:
        entries = sorted(self.scenario.history, key=lambda h: -h.minutes_ago)
        for h in entries:
            auto = self.automations[h.name]
            duration = auto.duration if h.duration is None else h.duration
            finished = now - h.minutes_ago * 60.0
            run = self._new_run(h.name, None, finished - duration)
            run.history = True
            self._start(run, finished - duration, auto)
            run.outcome = h.status
            run.output = copy.deepcopy(h.output) if h.status == "Success" else {}
            if h.failure_message is not None:
                run.failure_message = h.failure_message
            self._running.remove(run)
            run.status = "success" if h.status == "Success" else "failure"
            run.finished_at = run.updated_at = finished

    def add_automation(self, name: str, **fields: Any) -> None:
        """Add or replace an automation (fields as in the scenario's ``automations`` entries)."""
        with self._lock:
            index = list(self.automations).index(name) if name in self.automations else len(self.automations)
            auto = parse_automation({"name": name, **fields}, f"automation {name!r}", index)
            self.automations[name] = auto
            self._advance(self.clock.now())
            self._reschedule_ticks(self.clock.now())

    def set_faults(self, endpoint: str, plan: FaultPlan | None) -> None:
        self.faults.set(endpoint, plan)

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        with self._lock:
            now = self.clock.advance(seconds)
            self._advance(now)
            return now

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._advance(self.clock.now())
            self.clock.set_speed(speed)

    # ------------------------------------------------------------------ run lifecycle

    def _new_run(self, name: str, data: list[Any] | None, at: float) -> Run:
        self._seq += 1
        run = Run(
            seq=self._seq,
            run_id=f"run_{self._seq:06d}_{secrets.token_hex(4)}",
            name=name,
            input_data=copy.deepcopy(data),
            queued_at=at,
            updated_at=at,
        )
        run.overrides = dict(self._pending_overrides)
        delay = self.scenario.registration_delay
        run.registration_delay = self._delay_rng.uniform(*delay) if isinstance(delay, tuple) else delay
        self._runs.append(run)
        self._by_id[run.run_id] = run
        self._latest[name] = run
        return run

    def _allocate_pid(self) -> str:
        # Two digits (01-99) as the docs show; a load-test plan above 99 slots widens the range.
        space = max(99, self.scenario.plan.concurrency)
        used = {r.pid for r in self._running}
        for step in range(1, space + 1):
            candidate = (self._pid_cursor + step - 1) % space + 1
            pid = f"{candidate:02d}"
            if pid not in used:
                self._pid_cursor = candidate
                return pid
        raise RuntimeError(f"no free pid (more than {space} unfinished runs)")  # pragma: no cover

    def _viewer_url(self, pid: str, pw: str, task_id: int) -> str:
        prefix = "dev-" if self.scenario.viewer_host_style == "dh" else ""
        return (
            f"https://vnc.axiom.ai/vnc_lite.html?host={prefix}c-00{pid}-v4-proxy.axiom.ai"
            f"&port=443&autoconnect=true&password={pw}&taskId={task_id}"
        )

    def _start(self, run: Run, at: float, auto: Automation) -> None:
        if run in self._queued:
            self._queued.remove(run)
        run.status = "running"
        run.created_at = run.updated_at = at
        run.pid = self._allocate_pid()
        run.pw = secrets.token_urlsafe(12)
        run.viewer_url = self._viewer_url(run.pid, run.pw, auto.task_id)
        self._by_pw[run.pw] = run
        run.duration = run.overrides.get("duration", auto.duration)
        run.outcome = run.overrides.get("outcome", auto.outcome)
        run.failure_message = run.overrides.get("failure_message", auto.failure_message)
        output = copy.deepcopy(run.overrides.get("output", auto.output))
        if auto.echo_input and run.input_data:
            table = validate_data(run.input_data).first_table
            output["google-sheet-data"] = [[coerce_cell(c) for c in row] for row in table]
        run.output = output
        self._running.append(run)

    def _finish(self, run: Run, at: float) -> None:
        self._running.remove(run)
        assert run.created_at is not None
        self._billed_seconds += max(0.0, at - run.created_at)
        run.status = "success" if run.outcome == "Success" and not run.stopped else "failure"
        run.finished_at = run.updated_at = at

    def _name_blocked(self, run: Run) -> bool:
        auto = self.automations.get(run.name)
        if auto is None or auto.allow_cloud_concurrency:
            return False
        return any(r.name == run.name for r in self._running)

    def _start_blocker(self, run: Run) -> str | None:
        """Why ``run`` cannot start now: ``capacity``, ``name``, ``fifo`` or None (it can)."""
        if len(self._running) >= self.scenario.plan.concurrency:
            return "capacity"
        if self._name_blocked(run):
            return "name"
        for other in self._queued:
            if other.seq >= run.seq:
                break
            if not self._name_blocked(other):
                return "fifo"
        return None

    def _tick_time(self, run: Run) -> float:
        return run.queued_at + run.tick * self.scenario.plan.queue_retry_seconds

    def _first_tick_at_or_after(self, run: Run, t: float) -> int:
        retry = self.scenario.plan.queue_retry_seconds
        return max(1, math.ceil((t - run.queued_at) / retry - 1e-9))

    def _reschedule_ticks(self, now: float) -> None:
        """After a change outside the event loop (start, stop, config): next tick strictly after now."""
        retry = self.scenario.plan.queue_retry_seconds
        for run in self._queued:
            run.tick = max(1, math.floor((now - run.queued_at) / retry) + 1)

    def _advance(self, t: float) -> None:
        """Process finishes and queue ticks up to emulated time ``t``, in time order.

        At equal times finishes come first (a slot freed exactly at a tick is usable), and ticks are
        handled in trigger order. A queued run starts at its own retry tick only if a slot is free, its
        automation is not already running (unless cloud concurrency is allowed) and no earlier-triggered
        startable run is still waiting (FIFO).
        """
        while True:
            next_finish = min((r.end_time for r in self._running), default=math.inf)
            next_tick = min((self._tick_time(r) for r in self._queued), default=math.inf)
            event = min(next_finish, next_tick)
            if event > t:
                return
            if next_finish <= next_tick:
                for run in [r for r in self._running if r.end_time == next_finish]:
                    self._finish(run, next_finish)
                continue
            for run in [r for r in self._queued if self._tick_time(r) == next_tick]:
                blocker = self._start_blocker(run)
                if blocker is None:
                    run.was_queued = True
                    self._start(run, next_tick, self.automations[run.name])
                elif blocker == "fifo":
                    run.tick += 1
                else:
                    # Nothing can change for this run before a running run finishes: skip idle ticks.
                    soonest = min(r.end_time for r in self._running)
                    run.tick = max(run.tick + 1, self._first_tick_at_or_after(run, soonest))

    # ------------------------------------------------------------------ status helpers

    def _api_status(self, run: Run) -> str:
        if not run.finished:
            return "Running"
        return "Success" if run.status == "success" else "Failure"

    def _description(self, run: Run) -> str:
        if run.created_at is None:
            text = "Queued, waiting for an available cloud slot (remotely triggered)"
            return text + ("\n\nRun stopped by user." if run.stopped else "")
        base = f"Execution started with Axiom cloud version {self.scenario.cloud_version} (remotely triggered)"
        if run.status == "running":
            return base
        if run.stopped:
            return base + "\n\nRun stopped by user."
        if run.status == "success":
            return base + "\n\nAxiom run completed successfully!"
        return base + "\n\nAxiom run failed: " + run.failure_message

    def _used_minutes(self, now: float) -> float:
        running = sum(max(0.0, now - r.created_at) for r in self._running if r.created_at is not None)
        return self.scenario.plan.used_minutes + (self._billed_seconds + running) / 60.0

    # ------------------------------------------------------------------ HTTP-facing API

    def check_rate_limit(self) -> None:
        """Count one call against the key's rolling 60-second window, or raise 429.

        The window runs on real seconds, or on emulated ones with ``rate_limit_clock: emulated``.
        A refused call is counted too when ``rate_limit_counts_refused`` is on (the strict reading).
        """
        sc = self.scenario
        limit = sc.rate_limit_per_minute
        if limit is None:
            return
        stamp = self.clock.now() if sc.rate_limit_clock == "emulated" else self.real_clock()
        window = self._rate_window
        while window and window[0] <= stamp - 60.0:
            window.popleft()
        if len(window) >= limit:
            if sc.rate_limit_counts_refused:
                window.append(stamp)
            raise ApiError(429, MSG_RATE_LIMIT)
        window.append(stamp)

    def set_rate_limit(self, per_minute: int | None, counts_refused: bool | None = None) -> None:
        """Change the limit (None lifts it) and optionally the strict switch; the window is emptied."""
        valid = per_minute is None or (isinstance(per_minute, int) and not isinstance(per_minute, bool))
        if not valid or (per_minute is not None and per_minute < 1):
            raise ValueError(f"per_minute must be an integer >= 1 or None, got {per_minute!r}")
        with self._lock:
            self.scenario.rate_limit_per_minute = per_minute
            if counts_refused is not None:
                self.scenario.rate_limit_counts_refused = counts_refused
            self._rate_window.clear()

    def handle_api(self, endpoint: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Answer one ``POST /api/v3/<endpoint>``; ``body`` is a dict or :data:`INVALID_JSON`."""
        with self._lock:
            now = self.clock.now()
            self._advance(now)
            try:
                handler = self._handlers().get(endpoint)
                if handler is None:
                    raise ApiError(404, MSG_NOT_FOUND, api=False)
                if isinstance(body, InvalidJSON) or not isinstance(body, dict):
                    raise ApiError(400, MSG_INVALID_JSON)
                if endpoint != "stop":
                    key = body.get("key")
                    if key is None or key == "":
                        raise ApiError(self.scenario.missing_key_status, MSG_MISSING_KEY)
                    if key != self.scenario.api_key:
                        raise ApiError(401, self.scenario.invalid_key_message)
                self.check_rate_limit()
                return 200, handler(body, now)
            except ApiError as exc:
                status = 200 if exc.api and self.scenario.errors_with_http_200 else exc.status
                return status, {"status": "error", "message": exc.message}

    def _handlers(self) -> dict[str, Callable[[dict[str, Any], float], dict[str, Any]]]:
        return {
            "trigger": self._trigger,
            "run-data": self._run_data,
            "run-reports": self._run_reports,
            "list-automations": self._list_automations,
            "remaining-runtime": self._remaining_runtime,
            "stop": self._stop,
        }

    def _name(self, body: Mapping[str, Any]) -> Automation:
        name = body.get("name")
        if name is None or name == "":
            raise ApiError(400, MSG_MISSING_NAME)
        auto = self.automations.get(name) if isinstance(name, str) else None
        if auto is None:
            raise ApiError(404, MSG_TASK_NOT_FOUND)
        return auto

    def _trigger(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        auto = self._name(body)
        data = body.get("data")
        if data is not None:
            validate_data(data)
        plan = self.scenario.plan
        if plan.allowance_minutes - self._used_minutes(now) <= 0:
            raise ApiError(403, MSG_QUOTA)
        probe = Run(seq=self._seq + 1, run_id="", name=auto.name, input_data=None, queued_at=now)
        can_start = self._start_blocker(probe) is None
        if not can_start and plan.queue_limit_per_automation is not None:
            waiting = sum(1 for r in self._queued if r.name == auto.name)
            if waiting >= plan.queue_limit_per_automation:
                raise ApiError(503, MSG_QUEUE_FULL)
        run = self._new_run(auto.name, data, now)
        if can_start:
            self._start(run, now, auto)
            self._reschedule_ticks(now)
            assert run.viewer_url is not None
            result: dict[str, Any] = {"OPEN LINK IN BROWSER": run.viewer_url}
        else:
            self._queued.append(run)
            run.tick = 1
            result = {"status": "queued", "message": MSG_QUEUED}
        if self.scenario.run_ids != "none":
            result["run_id"] = run.run_id
        return result

    def start_run(self, name: str, data: list[Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """Start a run as axiom.ai's own scheduler would: like ``/trigger``, but no key, no call counted.

        ``overrides`` (``outcome``, ``duration``, ``output``, ``failure_message``) replace the
        automation's for this run only. Returns the run as :meth:`runs` shows it.
        """
        unknown = set(overrides) - {"outcome", "duration", "output", "failure_message"}
        if unknown:
            raise ValueError(f"start_run takes outcome, duration, output, failure_message; not {sorted(unknown)}")
        if "outcome" in overrides and overrides["outcome"] not in ("Success", "Failure"):
            raise ValueError(f"outcome must be 'Success' or 'Failure', got {overrides['outcome']!r}")
        if "duration" in overrides:
            overrides["duration"] = float(overrides["duration"])
        with self._lock:
            now = self.clock.now()
            self._advance(now)
            if name not in self.automations:
                raise ValueError(f"no automation named {name!r}")
            before = len(self._runs)
            self._pending_overrides = overrides
            try:
                self._trigger({"name": name, "data": data}, now)
            except ApiError as exc:
                raise ValueError(exc.message) from exc
            finally:
                self._pending_overrides = {}
            return self._run_dict(self._runs[before])

    def _run_data(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        reading = self.scenario.run_ids
        if reading == "by_id" and body.get("run_id") is not None:
            run = self._by_id.get(str(body["run_id"]))
            if run is None:
                raise ApiError(404, MSG_RUN_NOT_FOUND)
        elif reading == "name_required" and not body.get("name"):
            raise ApiError(404, MSG_TASK_NOT_FOUND)  # the name is required: an id alone names no task
        else:
            auto = self._name(body)
            latest = self._latest.get(auto.name)
            if latest is not None and not self._registered(latest, now):
                latest = next(
                    (r for r in reversed(self._runs) if r.name == auto.name and self._registered(r, now)), None
                )
            if latest is None:
                raise ApiError(404, MSG_RUN_NOT_FOUND)
            run = latest
        status = self._api_status(run)
        if status != "Running" and self.scenario.status_vocabulary == "finished":
            status = "Finished"
        data = copy.deepcopy(run.output) if run.status == "success" else {}
        return {"status": status, "data": data}

    def _registered(self, run: Run, now: float) -> bool:
        """Whether the API already shows ``run`` (see ``registration_delay``)."""
        delay = run.registration_delay
        return delay <= 0 or run.history or now >= run.queued_at + delay

    def _report_time(self, run: Run) -> float | None:
        if self.scenario.report_queued_runs:
            return run.queued_at
        return run.created_at

    def _run_reports(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        count = body.get("count", 5)
        if count is None:
            count = 5
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ApiError(400, MSG_BAD_COUNT)
        if self.scenario.report_count_cap is not None:
            count = min(count, self.scenario.report_count_cap)
        listed = [(t, r) for r in self._runs if (t := self._report_time(r)) is not None and self._registered(r, now)]
        listed.sort(key=lambda item: (item[0], item[1].seq), reverse=True)
        reports = [
            {
                "task_name": run.name,
                "status": self._api_status(run),
                "description": self._description(run),
                "created_at": iso_report(created),
                "updated_at": iso_report(max(created, run.updated_at)),
            }
            for created, run in listed[:count]
        ]
        return {"status": "success", "data": {"reports": reports}}

    def _list_automations(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        return {"status": "success", "data": {"names": list(self.automations)}}

    def _remaining_runtime(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        allowance = self.scenario.plan.allowance_minutes
        used = self._used_minutes(now)
        return {
            "status": "success",
            "data": {
                "used": _num(used),
                "allowance": _num(allowance),
                "remaining": _num(allowance - used),
            },
        }

    def _stop(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        if self.scenario.run_ids == "by_id" and body.get("run_id") is not None:
            found = self._by_id.get(str(body["run_id"]))
            if found is None:
                raise ApiError(404, MSG_RUN_NOT_FOUND)
            self._stop_run(found, now)
            return {"stopped": found.pid if found.pid is not None else found.run_id}
        pid, pw = body.get("pid"), body.get("pw")
        if pid is None or pid == "" or pw is None or pw == "":
            raise ApiError(400, MSG_MISSING_PID)
        run = self._by_pw.get(str(pw))
        if run is None or run.pid != str(pid):
            raise ApiError(404, MSG_RUN_NOT_FOUND)
        self._stop_run(run, now)
        return {"stopped": str(pid)}

    def _stop_run(self, run: Run, now: float) -> None:
        if run.finished:
            return  # documented no-op
        run.stopped = True
        if run.status == "queued":
            self._queued.remove(run)
            run.status = "failure"
            run.finished_at = run.updated_at = now
        else:
            self._finish(run, now)
        self._reschedule_ticks(now)

    # ------------------------------------------------------------------ inspection

    def record_request(
        self, endpoint: str, method: str, status: int | str, fault: str | None, body: Any, at: float | None
    ) -> None:
        """Append one entry to the request log and count the call under its key."""
        with self._lock:
            when = self.clock.now() if at is None else at
            self._count_call(endpoint, status, body, self.clock.now())
            self._requests.append(
                {
                    "endpoint": endpoint,
                    "method": method,
                    "time": iso_full(when),
                    "real_time": time.time(),
                    "status": status,
                    "fault": fault,
                    "body": None if isinstance(body, InvalidJSON) else body,
                }
            )

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            wanted = None if endpoint is None else normalise_endpoint(endpoint)
            return [dict(r) for r in self._requests if wanted is None or r["endpoint"] == wanted]

    # ------------------------------------------------------------------ call counts

    def _count_call(self, endpoint: str, status: int | str, body: Any, when: float) -> None:
        key = body.get("key") if isinstance(body, dict) else None
        if endpoint == "stop" and not key:
            key = self.scenario.api_key  # /stop carries no key: it counts under the account's
        log = self._calls.setdefault(key if isinstance(key, str) else "", _CallLog())
        log.times.append(when)
        log.endpoint_times.append(endpoint)
        if status == 429:
            log.refused_times.append(when)

    def call_log(self, api_key: str | None) -> _CallLog:
        """The calls seen with ``api_key`` (None: the account's key); a copy."""
        with self._lock:
            key = self.scenario.api_key if api_key is None else api_key
            found = self._calls.get(key)
            if found is None:
                return _CallLog()
            return _CallLog(list(found.times), list(found.endpoint_times), list(found.refused_times))

    def call_stats(
        self, api_key: str | None = None, since: float | None = None, window: float = 60.0
    ) -> dict[str, Any]:
        """Per-endpoint counts, total, 429s and the most calls in any rolling ``window`` (emulated seconds)."""
        log = self.call_log(api_key)
        start = -math.inf if since is None else since
        counts: dict[str, int] = {}
        times: list[float] = []
        for when, endpoint in zip(log.times, log.endpoint_times, strict=True):
            if when >= start:
                counts[endpoint] = counts.get(endpoint, 0) + 1
                times.append(when)
        return {
            # a fingerprint, never the key: users paste real keys into scenarios
            "key_fingerprint": key_fingerprint(self.scenario.api_key if api_key is None else api_key),
            "counts": counts,
            "total": len(times),
            "rate_limited": sum(1 for t in log.refused_times if t >= start),
            "window": window,
            "max_in_window": max_in_window(times, window),
        }

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            self._advance(self.clock.now())
            return [self._run_dict(r) for r in self._runs if name is None or r.name == name]

    def _run_dict(self, run: Run) -> dict[str, Any]:
        status = run.status.capitalize()
        return {
            "run_id": run.run_id,
            "name": run.name,
            "status": status,
            "input_data": copy.deepcopy(run.input_data),
            "queued_at": iso_full(run.queued_at),
            "created_at": iso_full(run.created_at),
            "updated_at": iso_full(run.updated_at),
            "finished_at": iso_full(run.finished_at),
            "pid": run.pid,
            "pw": run.pw,
            "viewer_url": run.viewer_url,
            "stopped": run.stopped,
            "was_queued": run.was_queued,
            "history": run.history,
            "description": self._description(run),
            "output": copy.deepcopy(run.output) if run.status == "success" else {},
        }

    def health(self) -> dict[str, Any]:
        with self._lock:
            self._advance(self.clock.now())
            return {
                "status": "ok",
                "now": iso_full(self.clock.now()),
                "speed": self.clock.speed,
                "scenario": self.scenario.source,
                "runs": {
                    "queued": len(self._queued),
                    "running": len(self._running),
                    "total": len(self._runs),
                },
                "faults": self.faults.snapshot(),
            }


@dataclass
class _CallLog:
    """Every API call seen with one key: emulated times (arrival order), their endpoints, 429 times."""

    times: list[float] = field(default_factory=list)
    endpoint_times: list[str] = field(default_factory=list)
    refused_times: list[float] = field(default_factory=list)


def max_in_window(times: list[float], window: float = 60.0) -> int:
    """The most ``times`` inside any half-open interval ``[t, t + window)``."""
    ordered = sorted(times)
    best = low = 0
    for high, t in enumerate(ordered):
        while ordered[low] <= t - window:
            low += 1
        best = max(best, high - low + 1)
    return best


def _num(value: float) -> float | int:
    rounded = round(value, 2)
    return int(rounded) if float(rounded).is_integer() else rounded
