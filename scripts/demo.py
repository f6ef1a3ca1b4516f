"""The main job: run an example DAG through Airflow against the bundled axiom.ai emulator.

Starts the emulator, runs ``airflow dags test example_axiom_trigger_and_wait`` (the deferred
wait runs in-line), prints the automation's output rows and the viewer link, stops the emulator,
and exits non-zero if the DAG run failed. No axiom.ai account is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "example_axiom_trigger_and_wait"
TASK_ID = "scrape_prices"
HOME = REPO / ".demo" / "airflow"

os.environ.update(
    AIRFLOW_HOME=str(HOME),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "example_dags"),
    AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
)

from airflow_provider_axiom.testing.emulator import AxiomEmulator  # noqa: E402


def airflow(*args: str, env: dict[str, str], log: Path) -> int:
    exe = Path(sys.executable).with_name("airflow")
    with log.open("w") as out:
        return subprocess.run([str(exe), *args], env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def output_of_task() -> dict | None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter(XComModel.dag_id == DAG_ID, XComModel.task_id == TASK_ID, XComModel.key == "return_value")
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        return row.value if row is not None else None


def main() -> int:
    HOME.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # speed 30: the demo automation's 45 emulated seconds pass in 1.5 real seconds
    with AxiomEmulator("demo", speed=30) as emulator:
        print(f"axiom.ai emulator listening at {emulator.base_url}")
        env = {**os.environ, "AIRFLOW_CONN_AXIOM_DEFAULT": emulator.connection_json()}
        if airflow("db", "migrate", env=env, log=HOME / "db-migrate.log") != 0:
            print(f"airflow db migrate failed; see {HOME / 'db-migrate.log'}")
            return 1
        print(f"Running `airflow dags test {DAG_ID}` ...")
        log = HOME / "dags-test.log"
        rc = airflow("dags", "test", DAG_ID, env=env, log=log)
        runs = [r for r in emulator.runs() if not r.get("history")]
    result = output_of_task()
    print()
    if rc != 0 or result is None:
        print(f"The DAG run FAILED (exit code {rc}); the log is in {log}")
        return rc or 1
    print(f"DAG {DAG_ID} succeeded in {time.monotonic() - started:.1f}s ({len(runs)} run started on the emulator)")
    print(f"Automation: {result['automation_name']}  status: {result['status']}")
    print(f"Viewer link: {result['viewer_url']}")
    for token, rows in (result["data"] or {}).items():
        print(f"Output rows written to {token!r}:")
        for row in rows:
            print("    " + " | ".join(row))
    print(f"\nFull Airflow log: {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
