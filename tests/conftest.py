"""Test setup: an isolated AIRFLOW_HOME, set before anything imports airflow."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Once per test session: a second import of this module keeps the first home.
if "AXIOM_PROVIDER_TEST_HOME" not in os.environ:
    os.environ["AXIOM_PROVIDER_TEST_HOME"] = tempfile.mkdtemp(prefix="axiom-provider-tests-")
    atexit.register(shutil.rmtree, os.environ["AXIOM_PROVIDER_TEST_HOME"], ignore_errors=True)
_HOME = Path(os.environ["AXIOM_PROVIDER_TEST_HOME"])
REPO = Path(__file__).resolve().parent.parent

os.environ["AIRFLOW_HOME"] = str(_HOME)
# One Fernet key for every process of the session: `airflow dags test` processes share the DB, and the
# asset-watcher example stores encrypted trigger arguments that the next process must decrypt.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "hXhvKVv7s3mBvRq7kq8f7yHw0jQkz3m8lV1m3F1qv1Q=")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "example_dags")
os.environ.pop("AIRFLOW_CONN_AXIOM_DEFAULT", None)

import json  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

from airflow_provider_axiom._run_ids import forget_all  # noqa: E402
from airflow_provider_axiom.hooks.axiom import AxiomHook  # noqa: E402
from tests.dags_cli import airflow  # noqa: E402
from tests.hook_kit import API_KEY, FakeTime, Handler  # noqa: E402

# The emulator's pytest plugin is opt-in for users; this suite opts in.
pytest_plugins = ["airflow_provider_axiom.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _new_process_for_run_ids() -> None:
    """Each test starts as a new process would: no key has shown what it does with run ids."""
    forget_all()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def mock_hook(fake_time: FakeTime) -> Callable[..., AxiomHook]:
    """Build a hook whose HTTP goes to a handler (``httpx.MockTransport``) and whose time is fake."""

    def make(handler: Handler, **kwargs: Any) -> AxiomHook:
        # A rate limit high enough to stay out of the way; the limiter has tests of its own.
        extra = {"timeout": 5, "max_retries": kwargs.pop("max_retries", 5), "rate_limit_per_minute": 10_000_000}
        extra.update(kwargs.pop("extra", {}))
        os.environ["AIRFLOW_CONN_AXIOM_MOCK"] = json.dumps(
            {"conn_type": "axiom", "password": API_KEY, "host": "https://axiom.test/api/v3", "extra": extra}
        )
        return AxiomHook("axiom_mock", transport=httpx.MockTransport(handler), clock=fake_time.as_clock(), **kwargs)

    return make


@pytest.fixture(scope="session")
def migrated_db() -> None:
    """This session's metadata DB, migrated (once) for ``airflow dags test``."""
    result = airflow("db", "migrate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
