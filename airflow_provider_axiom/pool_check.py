"""``axiom-pool-check``: the pools your DAGs use that the deployment does not have.

A task whose pool does not exist is never scheduled, and nothing on the task says why: it stays
``scheduled`` while the scheduler's log repeats ``Tasks using non-existent pool '<name>' will not
be scheduled``. ``airflow dags test`` and ``dag.test()`` ignore pools, so no DAG test catches it.
This command parses the DAGs folder (as the dag-processor does), reads the pools from the metadata
database, and lists every pool a task names that does not exist, with the command that creates it.
It also says when a pool used by axiom.ai tasks does not count deferred tasks: such a pool does not
keep one run of an automation at a time (a deferred task frees its slot).

Run it where Airflow is configured (``AIRFLOW_HOME``, the metadata database)::

    axiom-pool-check                        # the configured [core] dags_folder
    axiom-pool-check --dags-folder ./dags   # another folder

Exit status: 0 when every pool exists, 1 when some do not (or a DAG file failed to import), 2 when
the check could not run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PoolUse", "check", "main", "pools_used"]

#: The tasks that start axiom.ai runs and may wait deferred (by ``task_type``).
AXIOM_TASK_TYPES = frozenset({"AxiomTriggerAutomationOperator", "AxiomRunSensor"})


@dataclass
class PoolUse:
    """One pool and the tasks that name it (``dag_id.task_id``)."""

    pool: str
    tasks: list[str] = field(default_factory=list)
    axiom_tasks: list[str] = field(default_factory=list)


def pools_used(dags: Iterable[Any]) -> dict[str, PoolUse]:
    """``{pool: PoolUse}`` over every task of ``dags`` (mapped tasks included)."""
    used: dict[str, PoolUse] = {}
    for dag in dags:
        for task in dag.tasks:
            pool = getattr(task, "pool", None) or "default_pool"
            use = used.setdefault(pool, PoolUse(pool))
            name = f"{dag.dag_id}.{task.task_id}"
            use.tasks.append(name)
            if getattr(task, "task_type", None) in AXIOM_TASK_TYPES:
                use.axiom_tasks.append(name)
    return used


def check(used: dict[str, PoolUse], existing: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The report's problems and notes: ``(missing, warnings)``, one line each.

    ``existing`` maps a pool's name to a value with ``slots`` and ``include_deferred``.
    """
    missing: list[str] = []
    warnings: list[str] = []
    for name in sorted(used):
        use = used[name]
        tasks = ", ".join(use.tasks[:5]) + (f" and {len(use.tasks) - 5} more" if len(use.tasks) > 5 else "")
        pool = existing.get(name)
        if pool is None:
            missing.append(
                f"pool {name!r} does not exist; its tasks will never be scheduled ({tasks}). "
                f'Create it: airflow pools set {name} 1 "" --include-deferred'
            )
        elif use.axiom_tasks and not getattr(pool, "include_deferred", False):
            warnings.append(
                f"pool {name!r} ({pool.slots} slots) does not count deferred tasks, so a deferred axiom.ai "
                f"task frees its slot and the pool does not limit runs at once ({', '.join(use.axiom_tasks[:5])}). "
                f'If it is meant to: airflow pools set {name} {pool.slots} "" --include-deferred'
            )
    return missing, warnings


def _dag_bag(folder: str) -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    return DagBag(dag_folder=folder)


def _existing_pools() -> dict[str, Any]:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        pools = session.query(Pool).all()
        for pool in pools:
            session.expunge(pool)
    return {str(pool.pool): pool for pool in pools}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="axiom-pool-check",
        description="List the pools the DAGs use that do not exist (their tasks would never be scheduled).",
    )
    parser.add_argument("--dags-folder", help="the DAGs folder to parse (default: Airflow's [core] dags_folder)")
    args = parser.parse_args(argv)
    try:
        from airflow.configuration import conf

        folder = args.dags_folder or conf.get("core", "dags_folder")
        bag = _dag_bag(folder)
        existing = _existing_pools()
    except Exception as err:
        print(f"axiom-pool-check: could not run: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    used = pools_used(bag.dags.values())
    missing, warnings = check(used, existing)
    print(f"{len(bag.dags)} DAGs in {folder}; pools used: {', '.join(sorted(used)) or 'none'}")
    for line in missing:
        print(f"MISSING  {line}")
    for line in warnings:
        print(f"note     {line}")
    for path, error in sorted(bag.import_errors.items()):
        first = str(error).strip().splitlines()[-1] if str(error).strip() else ""
        print(f"IMPORT ERROR  {path}: {first} (its pools are not checked)")
    if not missing and not bag.import_errors:
        print("every pool exists")
    return 1 if missing or bag.import_errors else 0


if __name__ == "__main__":
    sys.exit(main())
