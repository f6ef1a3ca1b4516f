"""DAGs for the transient-burst tests: one operator each, deferrable or waiting in the worker.

They use the connection ``axiom_burst`` (``max_retries`` = 2 in its extra), which the tests point
at an emulator that answers the first looks at the run (``/run-reports``), or the first reads of a
successful run's output (``/run-data``), with 503, 429, a gateway's HTML 502 and 503. Next to them:
DAGs whose ``/run-data`` stays down after the run succeeded (``RUNDATA_DOWN_DAGS``, one retry), and
DAGs whose ``execution_timeout`` ends a ten-minute run (``TIMEOUT_DAGS``). Used by
``tests/test_transient_bursts.py`` and ``tests/test_lasting_faults.py`` (``airflow dags test``) and
``tests/e2e/test_faults_through_airflow.py`` (a real scheduler and triggerer). Parsing makes no network call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.dags._factory import one_operator_dag

BURST_TASK_ID = "run_automation"
BURST_CONN_ID = "axiom_burst"
BURST_ROWS = [["sku"], ["BURST-1"]]
#: dag id -> (automation name, deferrable)
BURST_DAGS = {
    "e2e_axiom_burst_deferred": ("E2E burst deferred", True),
    "e2e_axiom_burst_worker": ("E2E burst worker", False),
}
#: The endpoints a burst is tried on: the first looks at the run, and the first reads of its output.
BURST_ENDPOINTS = ("run-reports", "run-data")

#: dag id -> (automation name, deferrable): ``/run-data`` keeps failing after the run succeeded; one
#: retry (``RUNDATA_DOWN_RETRY_DELAY`` later), which on Airflow 3.3+ re-attaches to the run.
RUNDATA_DOWN_DAGS = {
    "e2e_axiom_rundata_down_deferred": ("E2E rundata down deferred", True),
    "e2e_axiom_rundata_down_worker": ("E2E rundata down worker", False),
}
RUNDATA_DOWN_RETRY_DELAY = timedelta(seconds=5)
#: Output reads tolerated in a row before the task fails (each one a hook call of three attempts).
RUNDATA_DOWN_MAX_ERRORS = 2

#: dag id -> (automation name, deferrable): ``execution_timeout`` (8 s), the default ``timeout``,
#: and a run of ten minutes (``TIMEOUT_RUN_SECONDS``).
TIMEOUT_DAGS = {
    "e2e_axiom_exec_timeout_deferred": ("E2E exec timeout deferred", True),
    "e2e_axiom_exec_timeout_worker": ("E2E exec timeout worker", False),
}
EXECUTION_TIMEOUT = timedelta(seconds=8)
TIMEOUT_RUN_SECONDS = 600


def _dag(dag_id: str, automation_name: str, deferrable: bool, **kwargs: Any) -> Any:
    return one_operator_dag(
        dag_id,
        BURST_TASK_ID,
        automation_name,
        data=BURST_ROWS,
        axiom_conn_id=BURST_CONN_ID,
        deferrable=deferrable,
        **kwargs,
    )


#: What ``/run-reports`` answers right after the trigger (or ``/run-data`` right after the run
#: succeeded): more failures in a row than one hook call retries (``max_retries`` = 2 gives three
#: attempts), so the first look at the run (or read of its output) fails as a whole.
BURST_FAULTS: list[object] = [{"status": 503}, {"status": 429}, "html", {"status": 503}]
#: The emulator's labels of those faults in its request log.
BURST_LABELS = ["status:503", "status:429", "html", "status:503"]


for _dag_id, (_name, _deferrable) in BURST_DAGS.items():
    globals()[_dag_id] = _dag(_dag_id, _name, _deferrable, timeout_minutes=5)

for _dag_id, (_name, _deferrable) in RUNDATA_DOWN_DAGS.items():
    globals()[_dag_id] = _dag(
        _dag_id,
        _name,
        _deferrable,
        default_args={"retries": 1, "retry_delay": RUNDATA_DOWN_RETRY_DELAY},
        timeout_minutes=5,
        max_consecutive_errors=RUNDATA_DOWN_MAX_ERRORS,
    )

for _dag_id, (_name, _deferrable) in TIMEOUT_DAGS.items():
    globals()[_dag_id] = _dag(_dag_id, _name, _deferrable, timeout_minutes=360, execution_timeout=EXECUTION_TIMEOUT)
