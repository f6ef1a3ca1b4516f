"""A real Airflow (scheduler, dag-processor, triggerer(s), api-server) for the end-to-end tests.

``start_airflow`` (a module-scoped fixture) starts one: an emulator served from this process on
loopback with the test's scenario, and an Airflow in its own temporary ``AIRFLOW_HOME`` (sqlite,
LocalExecutor) whose DAGs folder holds only the test's DAG files from ``tests/e2e/dags`` and whose
connections point at that emulator. A test module asks for what it needs::

    @pytest.fixture(scope="module")
    def airflow(start_airflow):
        return start_airflow(SCENARIO, dag_files=["e2e_axiom_my_dags.py"], dag_ids=["e2e_axiom_my"],
                             parallelism=8, triggerers=2, connections={"axiom_default": {"max_retries": 2}})

and gets an :class:`AirflowUnderTest` (``tests/e2e/airflow_kit.py``; its emulator as ``.emulator``), stopped at
the end of the module.
The components are started separately, each in its own session (process group), so a triggerer
alone can be restarted; every component's output goes to ``<home>/<component>.log``. Nothing of the
in-process test setup (``tests/conftest.py``) leaks into it: every ``AIRFLOW*`` variable is dropped
from the environment the components get, and set anew. ``airflow_e2e`` is the Airflow of
``dags/e2e_axiom_dags.py`` with ``SCENARIO``, one per test process (session-scoped), shared by the
modules that ask for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.e2e.airflow_kit import SCENARIO, AirflowUnderTest, running_airflow
from tests.statsd_listener import StatsdListener


@pytest.fixture(scope="module")
def start_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AirflowUnderTest]]:
    """Start an Airflow for this module: ``start_airflow(scenario, dag_files=..., dag_ids=..., ...)``.

    The arguments are :func:`running_airflow`'s; everything started is stopped after the module.
    """
    with contextlib.ExitStack() as stack:

        def start(scenario: Mapping[str, Any], **kwargs: Any) -> AirflowUnderTest:
            home = tmp_path_factory.mktemp("airflow-e2e-home")
            return stack.enter_context(running_airflow(home, scenario, **kwargs))

        yield start


@pytest.fixture(scope="session")
def statsd() -> Iterator[StatsdListener]:
    """The UDP listener that ``airflow_e2e``'s components send their metrics to."""
    with StatsdListener() as listener:
        yield listener


@pytest.fixture(scope="session")
def airflow_e2e(tmp_path_factory: pytest.TempPathFactory, statsd: StatsdListener) -> Iterator[AirflowUnderTest]:
    """The Airflow of ``dags/e2e_axiom_dags.py`` with ``SCENARIO``, its metrics sent to ``statsd``.

    One per test process, shared by the modules that need nothing else (the triggerer, metrics and
    browser tests): each Airflow takes 35 to 50 s of both cores to start. Those tests run one at a
    time and leave no task running.
    """
    with running_airflow(
        tmp_path_factory.mktemp("airflow-e2e-home"),
        SCENARIO,
        dag_files=["e2e_axiom_dags.py"],
        dag_ids=["e2e_axiom_deferred_success", "e2e_axiom_mark_failed", "e2e_axiom_triggerer_restart"],
        env=statsd.env(),
    ) as af:
        yield af


@pytest.fixture(scope="module")
def emulator(airflow_e2e: AirflowUnderTest) -> AxiomEmulator:
    return airflow_e2e.emulator
