"""A faithful, stateful local stand-in for the axiom.ai REST API v3.

The emulator answers ``POST /api/v3/<endpoint>`` with the response shapes, messages and HTTP status
codes of the axiom.ai docs, keeps runs, a per-account queue, a runtime quota and a rolling rate limit,
and can inject network faults. It needs only the standard library (PyYAML for YAML scenarios, imported
lazily) and never imports Airflow.

Start it in one of three ways::

    axiom-emulator --port 8099 --scenario demo          # or: python -m airflow_provider_axiom.testing.emulator

    with AxiomEmulator(scenario={"automations": [{"name": "Scrape"}]}) as emu:
        os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = emu.connection_json()

    def test_x(axiom_emulator): ...                      # pytest fixture (pytest plugin of this package)

Endpoints (all ``POST``, JSON body; every response has a ``Date`` header in emulated time)
------------------------------------------------------------------------------------------
``/trigger {key, name, data?}``
    started: ``{"OPEN LINK IN BROWSER": "<viewer url>"}`` (no ``status``); no free slot:
    ``{"status": "queued", "message": "Axiom could not start due to a lack of available resources. The
    task has been queued and will retry in five minutes."}``. ``data`` may be 2-D rows or 3-D tables;
    cells are strings, numbers or booleans (``null`` cells are rejected).
``/run-data {key, name}``
    latest run of the name (by trigger order; a queued run counts and reports ``Running``):
    ``{"status": "Running"|"Success"|"Failure", "data": {token: rows}}``; ``data`` is ``{}`` while
    running and for failed runs. Unknown name: 404 ``Task not found, ...``. **Choice:** a known name
    that never ran answers 404 ``{"status": "error", "message": "Run not found"}``.
``/run-reports {key, count?=5}``
    ``{"status": "success", "data": {"reports": [{task_name, status, description, created_at,
    updated_at}]}}``, newest first by ``created_at`` (= when the run started executing), timestamps
    ``2025-04-10T15:14:51.000000Z`` (whole seconds, microseconds always ``000000``). A ``count`` that is
    not a positive integer answers 400 ``count must be a positive integer.`` (emulator wording).
``/list-automations {key}``
    ``{"status": "success", "data": {"names": [...]}}`` (scenario order).
``/remaining-runtime {key}``
    ``{"status": "success", "data": {"used", "allowance", "remaining"}}`` in minutes, rounded to 2
    decimals; ``remaining = allowance - used`` (not clamped).
``/stop {pid, pw}`` (no key)
    stops the run whose viewer URL carried ``pid`` and ``pw`` (compared as exact strings: ``"02"``, not
    ``2``); it becomes ``Failure`` with description "...Run stopped by user.". Stopping a finished run
    is a no-op success. Answer ``{"stopped": "<pid>"}``. Missing pid/pw: 400 ``Missing pid or pw.``;
    unknown pair: 404 ``Run not found``.
Errors
    ``{"status": "error", "message": ...}``: 401 ``Invalid key``; 401 ``Unable to authenticate, you must
    send an API key.`` (missing key); 403 ``Quota exceeded`` (``/trigger`` once remaining <= 0); 404
    ``Task not found, please check the name and try again.``; 400 ``Missing task name, you must send the
    name of the task that you wish to trigger.``; 400 ``Data must be sent as an array of arrays.``; 429
    ``Rate limit exceeded. Try again in a few seconds.``; 400 ``Request body must be valid JSON.``;
    unknown path or non-POST on ``/api/v3``: 404 ``Not found``. Check order: JSON, key, rate limit,
    then the endpoint's own checks (name, unknown task, data, quota, queue cap). A request whose
    ``Content-Type`` is not JSON is read as an empty body (as an Express JSON body parser does), so it
    gets the missing-key 401.

Viewer URL: ``https://vnc.axiom.ai/vnc_lite.html?host=dev-c-00NN-v4-proxy.axiom.ai&port=443&
autoconnect=true&password=<pw>&taskId=<int>``; ``NN`` is the two-digit pid (unique among unfinished
runs), ``pw`` is random per run, ``taskId`` is the automation's id (stable per automation; the docs do
not say what it is). A queued run gets pid/pw when it starts.

Behaviour
---------
* Runs go queued -> running -> Success | Failure (a stopped run is a Failure). A run snapshots its
  automation (duration, outcome, output) when it starts ("only the latest saved version runs").
* Queue: at most ``plan.concurrency`` runs execute at once; a second run of an automation that is
  running waits unless ``allow_cloud_concurrency``. A queued run retries every
  ``plan.queue_retry_seconds`` (300) emulated seconds *from when it was queued* and starts on the first
  retry tick at which a slot is free -- not the moment a slot frees (OLD-queue). Strict trigger order
  (DH-queue): a run does not start (or a new trigger is queued) while an earlier-triggered run that
  could use the slot is still waiting for its tick. Queued runs never time out.
* Runtime: every executing emulated second costs 1/60 minute, including failed and stopped runs
  (DH-stop); a queued run stopped before it starts costs nothing. Runs keep going when the quota hits 0.
* Rate limit: ``rate_limit_per_minute`` (100) accepted calls per rolling 60 *real* seconds for the key,
  across all endpoints (``/stop`` counts under the account's key). 429s, calls with a missing/invalid
  key or invalid JSON, and injected faults that stop a request before processing do not count.
* Clock: emulated time = start + real elapsed x ``speed`` + manual ``advance()``. Every time the client
  sees is emulated. ``speed: 0`` freezes the clock (deterministic tests). Transitions are computed
  lazily, in time order, whenever the emulator is called.

Where the docs contradict each other (reference §2) -- default first, switch second
-----------------------------------------------------------------------------------
* ``data`` shape: 2-D rows and 3-D tables are both accepted; ``echo_input`` uses the first table of a
  3-D payload. Cells are coerced to strings in echoed output (DH-payload: "coerced ... on the server").
* Run id: none by default (DH-trigger, DH-responses, vendor client); ``run_id_mode: true`` adds
  ``"run_id"`` to the started and queued ``/trigger`` answers, lets ``/run-data`` and ``/stop`` take
  ``{key, run_id}`` / ``{run_id}`` and answers 404 ``Run not found`` for unknown ids.
* Concurrency limit: a distinct queued answer (DH-trigger, OLD-queue), not DH-queue's "always returns
  a run_id" (use ``run_id_mode`` for that); retries on 5-minute ticks, not "as soon as a slot frees up".
* Queue cap: none by default (the Developer Hub does not mention OLD-queue's 10 per automation);
  ``plan.queue_limit_per_automation: N`` answers a trigger over it with HTTP 503 ``{"status": "error",
  "message": "queue full"}`` -- undocumented, taken from vendor test stubs.
* ``/run-data`` statuses: ``Running``/``Success``/``Failure`` (all docs); ``status_vocabulary:
  "finished"`` answers ``Finished`` for both terminal outcomes (the vendor client's vocabulary).
  ``/run-reports`` always uses the documented three.
* A queued run reports ``Running`` in ``/run-data`` (DH-rundata) rather than being invisible (DH-queue).
* Auth: wrong key -> 401 ``Invalid key`` (DH-errors; ``invalid_key_message`` can be set to the
  troubleshooting page's ``Unable to authenticate, please check your API key and try again.``); missing
  key -> ``Unable to authenticate, you must send an API key.`` with 401 (DH-errors;
  ``missing_key_status: 403`` gives the vendor v4 contract's code).
* Error HTTP codes: the DH-errors codes; ``errors_with_http_200: true`` sends the same error bodies with
  HTTP 200 (an open question). Unknown paths stay 404; injected faults keep their status.
* ``/stop`` answer: ``{"stopped": "<pid>"}`` (OLD-stop); DH-stop documents no body. POST with JSON
  (DH-stop), not OLD-stop's query string.
* Viewer host: ``dev-c-00NN-v4-proxy.axiom.ai`` (DH-stop); ``viewer_host_style: "old"`` gives
  ``c-00NN-v4-proxy.axiom.ai`` (OLD-stop).
* ``/run-reports``: queued runs are absent until they start (reports carry ``created_at`` = start);
  ``report_queued_runs: true`` lists them as ``Running`` with ``created_at`` = trigger time (kept after
  they start), including queued runs stopped before starting.
* ``/remaining-runtime``: an object (DH-runtime), not OLD-responses' bracketed list.

Scenario keys (dict, JSON or YAML; unknown keys are errors; defaults in brackets)
-------------------------------------------------------------------------------
* ``api_key`` ["test-key"], ``speed`` [1.0], ``start_time`` [real now; ISO 8601 or epoch seconds],
  ``seed`` [0; RNG of probability faults], ``cloud_version`` ["4.6.0"].
* ``plan``: ``concurrency`` [1, max 99], ``allowance_minutes`` [15000], ``used_minutes`` [0],
  ``queue_retry_seconds`` [300], ``queue_limit_per_automation`` [null].
* ``rate_limit_per_minute`` [100; null disables], ``keep_alive_timeout`` [null; real idle seconds after
  which the server closes a keep-alive connection, as Node's 5 s default would],
  ``registration_delay`` [0; emulated seconds after a trigger before the new run shows in
  ``/run-data`` and ``/run-reports``, so that ``/run-data`` still answers for the previous run; a
  ``[min, max]`` pair draws each run's delay from that range, seeded by ``seed``].
* Switches: ``run_id_mode`` [false], ``errors_with_http_200`` [false], ``report_queued_runs`` [false],
  ``viewer_host_style`` ["dh" | "old"], ``status_vocabulary`` ["documented" | "finished"],
  ``invalid_key_message`` ["Invalid key"], ``missing_key_status`` [401 | 403].
* ``automations``: list of ``{name (required), duration [5 s], outcome ["Success" | "Failure"],
  output [{}; token -> rows], failure_message, allow_cloud_concurrency [false], echo_input [false],
  task_id}``.
* ``history``: finished runs that exist before any trigger, ``{name, status ("Success" | "Failure"),
  minutes_ago, output, duration, failure_message}``.
* ``faults``: ``{endpoint | "*": {"sequence": [...]} | {"probability": p, "fault": ...}}``.

Faults
------
A fault is ``"ok"``, ``"reset"`` (TCP RST before processing), ``"html"`` (502 HTML gateway page,
before processing), ``"truncated"`` (processed; HTTP 200 with half the JSON), ``"lost_response"``
(processed, then RST), ``{"status": 500, "retry_after": 2, "message": ...}`` (before processing),
``{"latency": 1.5}`` (real delay, combinable with any other key), or ``{"lost_response": "reset" | 502 |
"hang", "seconds": 30}``. An endpoint's own plan wins while it is active (sequence not used up, or a
probability plan); otherwise the ``"*"`` plan applies.

Inspection and admin routes (no key)
------------------------------------
``GET /_emulator/health``, ``GET /_emulator/requests[?endpoint=]``, ``GET /_emulator/runs[?name=]``,
``POST /_emulator/scenario`` (load and reset), ``POST /_emulator/reset``, ``POST /_emulator/clock``
``{"advance": s}`` / ``{"speed": x}``, ``POST /_emulator/faults`` ``{"endpoint", "sequence"}`` or
``{"endpoint", "probability", "fault"}`` (neither clears), ``POST /_emulator/automations`` (add or
replace one automation).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

from ._clock import to_datetime
from ._faults import Fault, FaultSpecError, parse_plan
from ._scenario import DEFAULT_SCENARIO, Scenario, ScenarioError, ScenarioSource, load_scenario
from ._server import EmulatorHTTPServer
from ._state import EmulatorCore

__all__ = [
    "DEFAULT_SCENARIO",
    "AxiomEmulator",
    "Fault",
    "FaultSpecError",
    "Scenario",
    "ScenarioError",
    "load_scenario",
]


class AxiomEmulator:
    """An in-process axiom.ai v3 API emulator serving HTTP on ``host:port`` from a daemon thread.

    ``scenario`` is None (the default scenario), a mapping, a JSON/YAML file path, or the name of a
    bundled scenario (``"demo"``). ``port=0`` picks a free port. ``speed`` overrides the scenario's.
    State methods work before :meth:`start` and after :meth:`stop`; all are thread-safe.
    """

    def __init__(
        self,
        scenario: ScenarioSource = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
    ) -> None:
        parsed = load_scenario(scenario)
        if speed is not None:
            parsed.speed = float(speed)
        self._core = EmulatorCore(parsed)
        self._host = host
        self._port = port
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> AxiomEmulator:
        """Bind and serve in a daemon thread; returns self. No-op if already started."""
        if self._server is not None:
            return self
        server = EmulatorHTTPServer((self._host, self._port), self._core)
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="axiom-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and open connections. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve on the calling thread until :meth:`stop` is called from another thread."""
        if self._server is None:
            self._server = EmulatorHTTPServer((self._host, self._port), self._core)
            self._port = self._server.server_address[1]
        self._server.serve_forever(poll_interval=0.05)

    def __enter__(self) -> AxiomEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- addresses

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """Server root, e.g. ``http://127.0.0.1:8099``."""
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """API base URL, e.g. ``http://127.0.0.1:8099/api/v3`` (what the connection's host holds)."""
        return f"{self.url}/api/v3"

    @property
    def api_key(self) -> str:
        return self._core.scenario.api_key

    @property
    def scenario(self) -> Scenario:
        """The loaded (validated) scenario."""
        return self._core.scenario

    def connection_json(self) -> str:
        """JSON for ``AIRFLOW_CONN_AXIOM_DEFAULT``: ``{"conn_type": "axiom", "password": key, "host": url}``."""
        return json.dumps({"conn_type": "axiom", "password": self.api_key, "host": self.base_url})

    def connection_uri(self) -> str:
        """Airflow URI form, ``axiom://:<key>@<url-encoded base url>``; parses back to host = base_url."""
        return f"axiom://:{quote(self.api_key, safe='')}@{quote(self.base_url, safe='')}"

    # -------------------------------------------------------------- inspection

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Request log (oldest first) as dicts ``{endpoint, method, time, real_time, status, fault, body}``.

        ``endpoint`` is e.g. ``"trigger"`` (``"/trigger"`` also works); ``time`` is emulated ISO 8601,
        ``real_time`` epoch seconds, ``status`` the HTTP status sent or ``"reset"``, ``fault`` a label like
        ``"status:500"`` or None, ``body`` the parsed JSON body (None if it was not JSON). Admin routes are
        not logged; the log keeps the latest 100,000 entries.
        """
        return self._core.requests(endpoint)

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        """All runs, oldest first, as dicts (same as ``GET /_emulator/runs``).

        Keys: ``run_id, name, status`` (``Queued``/``Running``/``Success``/``Failure``, the emulator's own
        view), ``input_data, queued_at, created_at`` (start), ``updated_at, finished_at`` (ISO 8601 with
        microseconds or None), ``pid, pw, viewer_url, stopped, was_queued, history, description, output``.
        """
        return self._core.runs(name)

    def now(self) -> datetime:
        """Current emulated time (timezone-aware UTC)."""
        return to_datetime(self._core.now())

    # -------------------------------------------------------------- control

    def advance(self, seconds: float) -> datetime:
        """Move emulated time forward by ``seconds``; returns the new emulated time."""
        return to_datetime(self._core.advance(seconds))

    def set_speed(self, speed: float) -> None:
        """Set how many emulated seconds pass per real second (0 freezes the clock)."""
        self._core.set_speed(speed)

    def add_automation(self, name: str, **fields: Any) -> None:
        """Add or replace an automation; ``fields`` as in a scenario's ``automations`` entries."""
        self._core.add_automation(name, **fields)

    def set_faults(
        self,
        endpoint: str = "*",
        sequence: Sequence[Any] | None = None,
        probability: float | None = None,
        fault: Any = None,
    ) -> None:
        """Replace the fault plan of ``endpoint`` (``"trigger"``, ``"*"``...); no sequence/probability clears it.

        ``set_faults("trigger", sequence=[{"status": 500}, "ok"])`` or
        ``set_faults("*", probability=0.2, fault="reset")``.
        """
        self._core.set_faults(endpoint, parse_plan(sequence, probability, fault, f"faults.{endpoint}"))

    def clear_faults(self) -> None:
        """Remove every fault plan."""
        self._core.faults.clear()

    def load_scenario(self, scenario: ScenarioSource) -> None:
        """Load a new scenario (None, mapping, path or bundled name) and reset all state."""
        self._core.load(load_scenario(scenario))

    def reset(self) -> None:
        """Reset runs, request log, rate-limit window, fault plans and clock; keep the scenario."""
        self._core.reset()

    def health(self) -> dict[str, Any]:
        """Same as ``GET /_emulator/health``."""
        return self._core.health()
