"""Testing helpers: the API emulator (``testing.emulator``), its opt-in pytest plugin, and Airflow set-up."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def use_isolated_airflow(dags_folder: str | os.PathLike[str], home: str | os.PathLike[str] | None = None) -> Path:
    """Point Airflow at a throwaway home (a new temporary folder unless ``home``), sqlite, and ``dags_folder``.

    Call it at the top of the root ``conftest.py``, before anything imports Airflow (Airflow reads
    its settings when it is imported). ``dags_folder`` must hold the DAG files the tests run:
    ``dag.test()`` runs each task from the DAG's file, found through it ("the dag is not
    serialized" otherwise). Example DAGs are not loaded. Returns the home.
    """
    if "airflow" in sys.modules:
        raise RuntimeError("use_isolated_airflow() must run before anything imports airflow (top of conftest.py)")
    folder = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="airflow-test-home-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        AIRFLOW_HOME=str(folder),
        AIRFLOW__CORE__DAGS_FOLDER=str(Path(dags_folder).resolve()),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{folder / 'airflow.db'}",
    )
    return folder
