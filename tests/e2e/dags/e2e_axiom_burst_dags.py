"""DAGs for the transient-burst tests: one operator each, deferrable or waiting in the worker.

They use the connection ``axiom_burst`` (``max_retries`` = 2 in its extra), which the tests point
at an emulator that answers the first looks at the run with 503, 429, a gateway's HTML 502 and 503.
Used by ``tests/test_transient_bursts.py`` (``airflow dags test``) and ``tests/e2e/test_soak.py``
(a real scheduler and triggerer). Parsing makes no network call.
"""

from __future__ import annotations

from tests.e2e.dags._factory import one_operator_dag

BURST_TASK_ID = "run_automation"
BURST_CONN_ID = "axiom_burst"
BURST_ROWS = [["sku"], ["BURST-1"]]
#: dag id -> (automation name, deferrable)
BURST_DAGS = {
    "e2e_axiom_burst_deferred": ("E2E burst deferred", True),
    "e2e_axiom_burst_worker": ("E2E burst worker", False),
}

#: What ``/run-reports`` answers right after the trigger: more failures in a row than one hook call
#: retries (``max_retries`` = 2 gives three attempts), so the first look at the run fails as a whole.
BURST_FAULTS: list[object] = [{"status": 503}, {"status": 429}, "html", {"status": 503}]
#: The emulator's labels of those faults in its request log.
BURST_LABELS = ["status:503", "status:429", "html", "status:503"]


for _dag_id, (_name, _deferrable) in BURST_DAGS.items():
    globals()[_dag_id] = one_operator_dag(
        _dag_id,
        BURST_TASK_ID,
        _name,
        data=BURST_ROWS,
        axiom_conn_id=BURST_CONN_ID,
        deferrable=_deferrable,
        timeout_minutes=5,
    )
