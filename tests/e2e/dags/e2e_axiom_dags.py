"""DAGs for the end-to-end tests (``tests/e2e``): one deferrable operator each, run by a real Airflow.

Parsed by the dag-processor of the Airflow that ``tests/e2e/conftest.py`` starts; the connection
``axiom_default`` points at the emulator through ``AIRFLOW_CONN_AXIOM_DEFAULT``. Parsing makes no
network call. The automation names must match the emulator scenario in ``tests/e2e/airflow_kit.py``.
"""

from __future__ import annotations

from tests.e2e.dags._factory import one_operator_dag

TASK_ID = "run_automation"
INPUT_ROWS = [["sku", "qty"], ["A-100", "3"], ["B-200", "7"]]

# A run of a few seconds: defers, the triggerer sees it finish, execute_complete returns the rows.
e2e_axiom_deferred_success = one_operator_dag(
    "e2e_axiom_deferred_success", TASK_ID, "E2E quick scrape", deferrable=True, data=INPUT_ROWS
)

# A run of an emulated hour: the test marks the deferred task failed; the trigger's on_kill stops it.
e2e_axiom_mark_failed = one_operator_dag("e2e_axiom_mark_failed", TASK_ID, "E2E long export", deferrable=True)

# A run of an emulated hour: the test restarts the triggerer, then moves the emulator's clock on.
e2e_axiom_triggerer_restart = one_operator_dag("e2e_axiom_triggerer_restart", TASK_ID, "E2E long sync", deferrable=True)
