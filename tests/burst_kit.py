"""What the ``airflow dags test`` runs of the burst, output-down and timeout DAGs share.

The DAGs are in ``tests/e2e/dags/e2e_axiom_burst_dags.py``; their tests are
``tests/test_transient_bursts.py`` and ``tests/test_lasting_faults.py``, and through a real Airflow
``tests/e2e/test_faults_through_airflow.py`` (which takes ``burst_automations`` only).
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import REPO, dags_test
from tests.e2e.dags.e2e_axiom_burst_dags import (
    BURST_CONN_ID,
    BURST_DAGS,
    RUNDATA_DOWN_DAGS,
    TIMEOUT_DAGS,
    TIMEOUT_RUN_SECONDS,
)
from tests.scenarios import scenario

DAGS = REPO / "tests" / "e2e" / "dags"


def burst_automations() -> list[dict[str, Any]]:
    """The automations of the burst, output-down and timeout DAGs."""
    return [
        *({"name": name, "duration": 3, "echo_input": True} for name, _ in BURST_DAGS.values()),
        *({"name": name, "duration": 3, "echo_input": True} for name, _ in RUNDATA_DOWN_DAGS.values()),
        *({"name": name, "duration": TIMEOUT_RUN_SECONDS} for name, _ in TIMEOUT_DAGS.values()),
    ]


SCENARIO = scenario("burst-key", burst_automations())


def burst_connection(emulator: AxiomEmulator) -> str:
    """The emulator's connection with ``max_retries`` = 2."""
    return json.dumps({**json.loads(emulator.connection_json()), "extra": {"max_retries": 2}})


def run_dag(emulator: AxiomEmulator, dag_id: str) -> Any:
    env = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        f"AIRFLOW_CONN_{BURST_CONN_ID.upper()}": burst_connection(emulator),
    }
    return dags_test(dag_id, env)
