"""``airflow dags test`` against the emulator, for the tests that need the metadata DB but no services.

The database is the isolated one of ``tests/conftest.py`` (migrated once per session by the
``migrated_db`` fixture there). The repository is on the ``PYTHONPATH`` of the command, so the e2e
DAG files can import their factory (``tests/e2e/dags/_factory.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def airflow(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the ``airflow`` command of this venv with this session's Airflow settings (plus ``env``)."""
    exe = Path(sys.executable).with_name("airflow")
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full_env.get("PYTHONPATH")) if p)
    return subprocess.run([str(exe), *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def dags_test(dag_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``airflow dags test dag_id``; its stdout and stderr are in the result."""
    return airflow("dags", "test", dag_id, env=env)


def xcom(dag_id: str, task_id: str, key: str = "return_value") -> Any:
    """The latest XCom ``key`` of ``task_id`` in the metadata DB (None if there is none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_id, XComModel.task_id == task_id, XComModel.key == key)
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        return None if row is None else row.value
