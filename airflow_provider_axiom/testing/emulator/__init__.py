"""A faithful, stateful local stand-in for the axiom.ai REST API v3.

The emulator answers ``POST /api/v3/<endpoint>`` (``trigger``, ``run-data``, ``run-reports``,
``list-automations``, ``remaining-runtime``, ``stop``) with the documented response shapes, messages
and HTTP status codes. It keeps runs, a per-account queue, a runtime quota and a rolling rate limit,
can inject network faults, and runs on its own clock (emulated time = start + real elapsed x ``speed``
+ ``advance()``). Where the axiom.ai docs disagree it follows one reading and offers the other as a
scenario switch. It needs only the standard library and pydantic, which validates scenarios (PyYAML for
YAML scenarios, imported lazily), and never imports Airflow.

Start it in one of three ways::

    axiom-emulator --port 8099 --scenario demo          # or: python -m airflow_provider_axiom.testing.emulator

    with AxiomEmulator(scenario={"automations": [{"name": "Scrape"}]}) as emu:
        os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = emu.connection_json()

    def test_x(axiom_emulator): ...   # opt-in pytest plugin: -p airflow_provider_axiom.testing.pytest_plugin

The guide, with every endpoint, behaviour, scenario key, switch, fault and admin route, is
``docs/emulator.md`` in the source repository.
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

    def started_runs(self, name: str | None = None) -> list[dict[str, Any]]:
        """The runs started through ``/trigger`` (:meth:`runs` without the scenario's ``history``)."""
        return [run for run in self._core.runs(name) if not run["history"]]

    def call_counts(self, api_key: str | None = None, *, since: datetime | None = None) -> dict[str, int]:
        """Calls per endpoint seen with ``api_key`` (None: the scenario's key), e.g. ``{"run-reports": 12}``.

        Every request to an API endpoint counts: answered, refused (429) or hit by an injected fault.
        ``/stop`` (no key) counts under the scenario's key. ``since`` (emulated time) drops earlier calls.
        """
        return dict(self.call_stats(api_key, since=since)["counts"])

    def max_calls_in_window(
        self, api_key: str | None = None, *, window: float = 60.0, since: datetime | None = None
    ) -> int:
        """The most calls with ``api_key`` in any rolling ``window`` emulated seconds (refused ones too)."""
        return int(self.call_stats(api_key, since=since, window=window)["max_in_window"])

    def rate_limited_calls(self, api_key: str | None = None, *, since: datetime | None = None) -> int:
        """How many calls with ``api_key`` were answered 429."""
        return int(self.call_stats(api_key, since=since)["rate_limited"])

    def call_stats(
        self, api_key: str | None = None, *, since: datetime | None = None, window: float = 60.0
    ) -> dict[str, Any]:
        """All of the above at once (same as ``GET /_emulator/calls``).

        ``{"key", "counts": {endpoint: n}, "total", "rate_limited", "window", "max_in_window"}``.
        """
        return self._core.call_stats(api_key, None if since is None else since.timestamp(), window)

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

    def set_rate_limit(self, per_minute: int | None, *, counts_refused: bool | None = None) -> None:
        """Change ``rate_limit_per_minute`` (None lifts it) and, if given, ``rate_limit_counts_refused``.

        The rolling window starts empty. Call counts are kept.
        """
        self._core.set_rate_limit(per_minute, counts_refused)

    def start_run(self, name: str, data: list[Any] | None = None, **overrides: Any) -> dict[str, Any]:
        """Start a run of ``name`` from outside the client, as axiom.ai's own scheduler would.

        It runs (or queues) like a ``/trigger``, but carries no key and is not counted against the
        rate limit or logged as a request. ``overrides`` — ``outcome`` (``"Success"``/``"Failure"``),
        ``duration``, ``output``, ``failure_message`` — apply to this run only. Returns the run as
        :meth:`runs` shows it. Same as ``POST /_emulator/runs``.
        """
        return self._core.start_run(name, data, **overrides)

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
