"""What the ``airflow dags test`` runs of the burst, output-down and timeout DAGs share.

The DAGs are in ``tests/e2e/dags/e2e_axiom_burst_dags.py``; their tests are
``tests/test_transient_bursts.py`` and ``tests/test_lasting_faults.py``.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests.dags_cli import REPO, dags_test
from tests.e2e.dags.e2e_axiom_burst_dags import BURST_CONN_ID
from tests.scenarios import burst_automations, scenario

DAGS = REPO / "tests" / "e2e" / "dags"

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
