"""A real Airflow (scheduler, dag-processor, triggerer(s), api-server) for the end-to-end tests.

:class:`AirflowUnderTest` is one such Airflow: its subprocesses, its REST API and its files;
:func:`running_airflow` starts one with an emulator and stops it. The fixtures that hand them to
the tests (``start_airflow``, ``airflow_e2e``) are in ``tests/e2e/conftest.py``. Waiting is
:func:`tests.polling.wait_for` (re-exported here) and :func:`wait_until_finished`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.polling import wait_for
from tests.scenarios import scenario

E2E_DIR = Path(__file__).resolve().parent
DAGS_DIR = E2E_DIR / "dags"
REPO = E2E_DIR.parent.parent
# Not resolved: the venv's python is a symlink, and the venv's bin must stay on PATH.
VENV_BIN = Path(sys.executable).parent
AIRFLOW_BIN = VENV_BIN / "airflow"

#: The scenario of ``airflow_e2e`` (``dags/e2e_axiom_dags.py``).
SCENARIO = scenario(
    "e2e-key",
    [
        {
            "name": "E2E quick scrape",
            "duration": 8,
            "outcome": "Success",
            "echo_input": True,
            "output": {"price-log": [["checked_at"], ["today"]]},
        },
        {"name": "E2E long export", "duration": 3600, "outcome": "Success"},
        {
            "name": "E2E long sync",
            "duration": 3600,
            "outcome": "Success",
            "output": {"sync-log": [["synced"], ["42"]]},
        },
    ],
)

#: The states a DAG run ends in.
FINISHED = ("success", "failed")

#: Seconds to wait for one thing (a component to come up, a state to be reached). Bounded everywhere.
STARTUP_TIMEOUT = 180.0
STOP_GRACE = 15.0

#: The metadata DB as ``airflow db migrate`` left it, once per test process (see ``AirflowUnderTest.migrate``).
_MIGRATED_DB: list[Path] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    if not Path("/proc/self/stat").exists():
        return []
    children = _children_of()
    found: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    return found


def stop_processes(procs: list[subprocess.Popen[bytes]], grace: float = STOP_GRACE) -> None:
    """TERM each process group, wait up to ``grace`` seconds, then KILL the groups and stragglers."""
    stragglers = {pid for proc in procs if proc.poll() is None for pid in descendants(proc.pid)}
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader
        if proc.poll() is None:
            proc.wait(timeout=10)
    for pid in stragglers:  # descendants that left the group (e.g. called setsid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


class AirflowUnderTest:
    """The subprocesses of one Airflow, its REST API (``/api/v2``), and its files."""

    def __init__(self, home: Path, emulator: AxiomEmulator, dags_folder: Path = DAGS_DIR) -> None:
        self.home = home
        self.emulator = emulator
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopped: list[subprocess.Popen[bytes]] = []
        self.starts: dict[str, int] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            # the DAG files import their factory as tests.e2e.dags._factory
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="2",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__AUTH_MANAGER=(
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__CORE__TEST_CONNECTION="Enabled",
            # connections saved in the UI are encrypted with it
            AIRFLOW__CORE__FERNET_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=self.base_url,
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(64),  # 86 characters: HS512 wants 64+ bytes
            # The log servers are not started (--skip-serve-logs: the logs are local files), but in
            # case a component starts one anyway it must not collide with another Airflow.
            AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
            AIRFLOW_CONN_AXIOM_DEFAULT=emulator.connection_json(),
        )
        self.env = env
        self.http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=15.0)

    # ------------------------------------------------------------------ processes

    def command(self, component: str) -> list[str]:
        component = component.split("-", 1)[0] if component.startswith("triggerer") else component
        args = {
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
        }[component]
        return [str(AIRFLOW_BIN), *args]

    def migrate(self) -> None:
        """A migrated metadata DB: the first Airflow of a test process migrates it, the next ones copy it.

        ``airflow db migrate`` takes about 10 s of one core; the migrated file holds nothing of its home.
        """
        if _MIGRATED_DB:
            shutil.copyfile(_MIGRATED_DB[0], self.home / "airflow.db")
            return
        with (self.home / "db-migrate.log").open("wb") as out:
            result = subprocess.run(
                [str(AIRFLOW_BIN), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=180,
            )
        assert result.returncode == 0, self.tail("db-migrate")
        template = self.home.parent / f"{self.home.name}-migrated.db"
        shutil.copyfile(self.home / "airflow.db", template)
        _MIGRATED_DB.append(template)

    def start(self, component: str) -> None:
        self.starts[component] = self.starts.get(component, 0) + 1
        name = component if self.starts[component] == 1 else f"{component}-{self.starts[component]}"
        with (self.home / f"{name}.log").open("wb") as out:
            self.procs[component] = subprocess.Popen(
                self.command(component),
                env=self.env,
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so it can be stopped as a whole
            )

    def stop(self, component: str, grace: float = STOP_GRACE) -> int | None:
        """Stop one component (TERM to its process group, KILL after ``grace``); its exit code."""
        proc = self.procs.pop(component)
        stop_processes([proc], grace)
        return proc.returncode

    def stop_all(self) -> None:
        self.http.close()
        stop_processes([*self.procs.values(), *self.stopped])
        self.procs.clear()

    def set_connection(self, conn_id: str, **extra: Any) -> None:
        """Point the connection ``conn_id`` at the emulator, with these extras (before the components start)."""
        conn = json.loads(self.emulator.connection_json())
        if extra:
            conn["extra"] = extra
        self.env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)

    def running_jobs(self, job_type: str) -> int:
        """How many jobs of ``job_type`` (e.g. ``"TriggererJob"``) the metadata DB holds as running."""
        with contextlib.closing(sqlite3.connect(self.home / "airflow.db")) as db:
            (count,) = db.execute(
                "SELECT count(*) FROM job WHERE job_type = ? AND state = 'running'", (job_type,)
            ).fetchone()
        return int(count)

    def check_alive(self) -> None:
        for component, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {component} exited with {proc.returncode}\n{self.tail(component)}")

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return f"--- {path.name} (last {chars} chars) ---\n{text[-chars:]}"

    def diagnostics(self) -> str:
        return "\n".join(self.tail(p.stem, 1500) for p in sorted(self.home.glob("*.log")))

    # ------------------------------------------------------------------ REST

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        self.check_alive()
        attempts = 3 if method == "GET" else 1  # GETs are retried: a busy machine can starve the api-server a while
        for attempt in range(1, attempts + 1):
            try:
                response = self.http.request(method, path, **kwargs)
                break
            except httpx.ReadTimeout:
                if attempt == attempts:
                    raise
        assert response.is_success, f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
        return response.json()

    def health(self) -> dict[str, Any] | None:
        self.check_alive()
        try:
            response = self.http.get("/monitor/health", timeout=2.0)
        except httpx.TransportError:
            return None
        return response.json() if response.status_code == 200 else None

    def authenticate(self) -> None:
        """Send a token with every REST call: before 3.3 "all admins" lets the UI in, not the API.

        The simple auth manager hands out an admin token without credentials in that mode.
        """
        response = self.http.get(f"{self.base_url}/auth/token", timeout=15.0)
        assert response.is_success, f"GET /auth/token -> {response.status_code}: {response.text[:500]}"
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def wait_until_ready(self, dag_ids: list[str], dag_id_pattern: str = "e2e_axiom_%") -> None:
        def healthy() -> bool:
            health = self.health()
            return bool(
                health
                and health["metadatabase"]["status"] == "healthy"
                and health["scheduler"]["status"] == "healthy"
                and health["triggerer"]["status"] == "healthy"
            )

        wait_for("the Airflow components to be healthy", healthy, timeout=STARTUP_TIMEOUT, on_timeout=self.diagnostics)
        self.authenticate()

        def parsed() -> bool:
            errors = self.api("GET", "/importErrors")
            assert errors["total_entries"] == 0, errors
            found = self.api("GET", "/dags", params={"dag_id_pattern": dag_id_pattern, "limit": 100})
            return {d["dag_id"] for d in found["dags"]} >= set(dag_ids)

        wait_for("the e2e DAGs to be parsed", parsed, timeout=STARTUP_TIMEOUT, on_timeout=self.diagnostics)

    def trigger_dag(self, dag_id: str) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> dict[str, Any]:
        return dict(
            self.api("PATCH", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}", json={"new_state": state})
        )

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]

    def _log_folder(self, dag_id: str, run_id: str, task_id: str) -> Path:
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The task's own log files (one per try), written by the worker."""
        return sorted(self._log_folder(dag_id, run_id, task_id).glob("attempt=*.log"))

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        """The per-task trigger log files written by the triggerer(s), oldest first."""
        files = self._log_folder(dag_id, run_id, task_id).glob("attempt=*.log.trigger.*.log")
        return sorted(files, key=lambda p: p.stat().st_mtime)


@contextlib.contextmanager
def running_airflow(
    home: Path,
    scenario: Mapping[str, Any],
    *,
    dag_files: Sequence[str],
    dag_ids: Sequence[str],
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    parallelism: int = 2,
    triggerers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[AirflowUnderTest]:
    """An emulator with ``scenario`` and an Airflow running ``dag_files`` (names in ``tests/e2e/dags``).

    ``connections`` maps connection ids to the extras of a connection to the emulator
    (``axiom_default`` always exists); ``parallelism`` is the LocalExecutor's task slots;
    ``triggerers`` how many triggerers run (components ``triggerer``, ``triggerer-b``...);
    ``env`` more Airflow settings. Ready once every component is healthy and ``dag_ids`` are parsed.
    """
    if not AIRFLOW_BIN.exists():
        pytest.skip(f"no airflow executable next to {sys.executable}")
    dags_folder = home / "dags"
    dags_folder.mkdir()
    for name in dag_files:
        (dags_folder / name).symlink_to(DAGS_DIR / name)
    # The components run in sessions of their own, so they would outlive a pytest killed with
    # SIGTERM (a CI timeout): turn SIGTERM into KeyboardInterrupt, which still runs this teardown.
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _interrupt)
    with AxiomEmulator(dict(scenario), port=0) as emulator:
        af = AirflowUnderTest(home, emulator, dags_folder)
        for conn_id, extra in (connections or {}).items():
            af.set_connection(conn_id, **extra)
        af.env.update(AIRFLOW__CORE__PARALLELISM=str(parallelism), **(env or {}))
        started = time.monotonic()
        try:
            af.migrate()
            triggerer_names = ["triggerer", *(f"triggerer-{chr(ord('a') + i)}" for i in range(1, triggerers))]
            for component in ("api-server", "scheduler", "dag-processor", *triggerer_names):
                af.start(component)
            af.wait_until_ready(list(dag_ids))
            print(f"\nAirflow ready in {time.monotonic() - started:.0f}s ({home.name})")
            yield af
        finally:
            af.stop_all()
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def wait_until_finished(
    af: AirflowUnderTest, dag_id: str, run_id: str, *, timeout: float = 90, interval: float = 0.25
) -> dict[str, Any]:
    """The DAG run once it is finished (success or failed); the components' logs if it is not in ``timeout``."""

    def finished() -> dict[str, Any] | None:
        run = af.dag_run(dag_id, run_id)
        return run if run["state"] in FINISHED else None

    what = f"{dag_id} run {run_id} to finish"
    return wait_for(what, finished, timeout=timeout, interval=interval, on_timeout=af.diagnostics)
