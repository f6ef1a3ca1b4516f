"""pytest plugin of the axiom.ai API emulator: the ``axiom_emulator`` fixture and its marker.

It is opt-in: installing the package does not load it. Enable it with ``pytest -p
airflow_provider_axiom.testing.pytest_plugin`` (also in ``addopts``), or with
``pytest_plugins = ["airflow_provider_axiom.testing.pytest_plugin"]`` in the root ``conftest.py``.

Usage::

    @pytest.mark.axiom_scenario({"automations": [{"name": "Scrape", "duration": 2}]})
    def test_scrape(axiom_emulator):
        ...  # AIRFLOW_CONN_AXIOM_DEFAULT points at the emulator for this test

The marker takes a scenario mapping, a path to a JSON/YAML file (relative paths are tried next to the
test module first) or a bundled name (``"demo"``), plus optional keyword overrides of top-level keys.
Without the marker the default scenario is used. Importing this module is cheap: no Airflow, no server.

To run whole DAGs in a test (``dag.test()``), call :func:`use_isolated_airflow` at the top of the
root ``conftest.py``, before anything imports Airflow, and use the ``axiom_dag_test`` fixture: it
migrates a throwaway metadata database once per session, starts the emulator, runs the DAG and
reads its task states and XComs back. docs/emulator.md has the whole recipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_axiom.testing import use_isolated_airflow

if TYPE_CHECKING:
    from airflow_provider_axiom.testing.emulator import AxiomEmulator

__all__ = ["DagTestResult", "use_isolated_airflow"]

MARKER = "axiom_scenario"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(scenario=None, **overrides): scenario (mapping, file path or bundled name) "
        "for the axiom_emulator fixture",
    )


def _scenario_for(request: pytest.FixtureRequest) -> Any:
    from airflow_provider_axiom.testing.emulator._scenario import scenario_dict

    marker = request.node.get_closest_marker(MARKER)
    if marker is None:
        return None
    source: Any = marker.args[0] if marker.args else None
    if isinstance(source, (str, Path)):
        local = Path(request.node.path).parent / source
        if local.is_file():
            source = local
    if not marker.kwargs:
        return source
    merged = scenario_dict(source)
    merged.update(marker.kwargs)
    return merged


@pytest.fixture
def axiom_emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[AxiomEmulator]:
    """A running axiom.ai API emulator; ``AIRFLOW_CONN_AXIOM_DEFAULT`` points at it for the test.

    What earlier tests' emulators showed about run ids is forgotten (a port may be reused).
    """
    from airflow_provider_axiom._run_ids import forget_all
    from airflow_provider_axiom.testing.emulator import AxiomEmulator

    forget_all()
    with AxiomEmulator(_scenario_for(request)) as emulator:
        monkeypatch.setenv("AIRFLOW_CONN_AXIOM_DEFAULT", emulator.connection_json())
        yield emulator


# -- whole DAGs in a test (use_isolated_airflow lives in the testing package, so that a conftest.py
# can call it without importing this module before pytest registers it as a plugin)


@pytest.fixture(scope="session")
def axiom_airflow_db() -> None:
    """``airflow db migrate`` once per session, for the Airflow that ``AIRFLOW_HOME`` points at."""
    if "AIRFLOW_HOME" not in os.environ:
        pytest.fail("set up Airflow first: call use_isolated_airflow(dags_folder) at the top of conftest.py")
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


@dataclass(frozen=True)
class DagTestResult:
    """A DAG run made by ``dag.test()``: its state, and its task states and XComs read back.

    Mapped tasks (``.partial().expand()``) have one task instance per copy, told apart by their map
    index: :meth:`task_states` gives such a task a list of states, one per copy in map-index order,
    and :meth:`xcom` all the copies' values, or one copy's with ``map_index``.
    """

    dag_id: str
    run_id: str
    state: str

    def task_states(self) -> dict[str, str | list[str | None] | None]:
        """``{task_id: state}``; a mapped task's value is the list of its copies' states, by map index.

        For example ``{"urls": "success", "scrape": ["success", "success", "failed"], "report": "success"}``.
        """
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = (
                session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state)
                .filter(TaskInstance.dag_id == self.dag_id, TaskInstance.run_id == self.run_id)
                .order_by(TaskInstance.task_id, TaskInstance.map_index)
                .all()
            )
        states: dict[str, str | list[str | None] | None] = {}
        for task_id, map_index, state in rows:
            value = None if state is None else str(getattr(state, "value", state))
            if map_index is None or map_index < 0:
                states[task_id] = value
            else:
                copies = states.setdefault(task_id, [])
                assert isinstance(copies, list)
                copies.append(value)
        return states

    def map_states(self, task_id: str) -> dict[int, str | None]:
        """``{map_index: state}`` of a mapped task's copies (empty for a task that is not mapped)."""
        states = self.task_states().get(task_id)
        return dict(enumerate(states)) if isinstance(states, list) else {}

    def xcom(self, task_id: str, key: str = "return_value", *, map_index: int | None = None) -> Any:
        """An XCom of a task of this run (the operator's output rows are in ``return_value``), or None.

        For a mapped task: with ``map_index``, that copy's value; without it, the list of every copy's
        value in map-index order (None where a copy pushed none), as ``xcom_pull`` of a mapped task gives.
        """
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = session.query(XComModel.map_index, XComModel.value).filter(
                XComModel.dag_id == self.dag_id,
                XComModel.run_id == self.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
            if map_index is not None:
                row = query.filter(XComModel.map_index == map_index).first()
                return None if row is None else row.value
            values = dict(query.all())
        copies = self.map_states(task_id)
        if not copies:
            return values.get(-1)
        return [values.get(index) for index in sorted(copies)]


@pytest.fixture
def axiom_dag_test(axiom_emulator: AxiomEmulator, axiom_airflow_db: None) -> Callable[..., DagTestResult]:
    """``run(dag_or_dag_id, **dag_test_kwargs)``: ``dag.test()`` against the emulator; a :class:`DagTestResult`.

    A DAG id is looked up in the DAGs folder. Deferred waits run in-line, as ``airflow dags test`` does.
    """

    def run(dag: Any, **kwargs: Any) -> DagTestResult:
        if isinstance(dag, str):
            dag = _dag_from_folder(dag)
        dag_run = dag.test(**kwargs)
        state = getattr(dag_run.state, "value", dag_run.state)
        return DagTestResult(dag_id=dag_run.dag_id, run_id=dag_run.run_id, state=str(state))

    return run


def _dag_from_folder(dag_id: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    dag = bag.get_dag(dag_id)
    if dag is None:
        pytest.fail(f"no DAG {dag_id!r} in the DAGs folder; import errors: {bag.import_errors}")
    return dag
