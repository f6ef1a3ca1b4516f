"""The wait a queued trigger adds: tasks on a plan of one concurrent run, with and without the hold.

A documented command, not a timed test: it prints figures.

    python benchmarks/queued_wait.py               # 20 tasks, each mode
    python benchmarks/queued_wait.py --tasks 50 --seed 7

What runs: an emulator on loopback with a plan of one concurrent run, the automation ``Job`` (30 s,
cloud concurrency off, echoes its input) and ``Other``. Tasks run one after another in the worker
(``deferrable=False``), as a DAG scheduled often would: before each, with probability one half,
another client starts a run of ``Other`` lasting 30 to 240 s, so the slot is taken when the task
wants it. Each task runs twice, on the same draws: with ``wait_for_slot=False`` (a trigger sent at
once is queued by the API, retried every five minutes, and matched once ``Job`` has been idle for
``queue_idle_window``, 600 s) and with the hold (the default; the connection's ``concurrent_runs``
is 1). Time is emulated (the operator's clock moves the emulator's), so hours take seconds.

Figures: per mode, the added wait of each task (from its own run's end to the task's end, emulated
seconds) p50/p95/max, the time from wanting the run to its start (p50/p95), how many triggers the
API queued, and every task's rows checked against its own input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import pendulum

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from figures import record

from airflow_provider_axiom._transport import Clock
from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.operators.axiom import AxiomTriggerAutomationOperator
from airflow_provider_axiom.testing.emulator import AxiomEmulator

SCENARIO = {
    "api_key": "queued-wait-key",
    "plan": {"concurrency": 1, "queue_retry_seconds": 300},
    "rate_limit_clock": "emulated",
    "automations": [{"name": "Job", "duration": 30, "echo_input": True}, {"name": "Other", "duration": 60}],
}


class EmulatedClock:
    """The provider's clock, moving the emulator's with every sleep."""

    def __init__(self, emulator: AxiomEmulator) -> None:
        self.emulator = emulator
        self.now = pendulum.now("UTC")

    def sleep(self, seconds: float) -> None:
        self.now = self.now.add(microseconds=int(seconds * 1e6))
        self.emulator.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    def clock(self) -> Clock:
        return Clock(now=lambda: self.now, monotonic=lambda: self.now.timestamp(), sleep=self.sleep, asleep=self.asleep)


class _TI:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


def run_mode(hold: bool, draws: list[float | None]) -> dict[str, Any]:
    with AxiomEmulator(SCENARIO, port=0) as emulator:
        conn = json.loads(emulator.connection_json())
        conn["extra"] = {**conn.get("extra", {}), "concurrent_runs": 1}
        os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = json.dumps(conn)
        time = EmulatedClock(emulator)
        added, to_start, wrong = [], [], 0
        for i, other in enumerate(draws):
            if other is not None:
                emulator.start_run("Other", duration=other)
            wanted = time.now
            op = AxiomTriggerAutomationOperator(
                task_id=f"t{i}", automation_name="Job", data=[["task"], [f"t{i}"]], wait_for_slot=hold, poll_interval=5
            )
            op.hook = AxiomHook(op.axiom_conn_id, clock=time.clock())
            result = op.execute({"ti": _TI()})
            [run] = [r for r in emulator.runs("Job") if r["input_data"] == [["task"], [f"t{i}"]]]
            wrong += (result.get("data") or {}).get("google-sheet-data") not in (None, [["task"], [f"t{i}"]])
            added.append((time.now - pendulum.parse(run["finished_at"])).total_seconds())
            to_start.append((pendulum.parse(run["created_at"]) - wanted).total_seconds())
        queued = sum(bool(r["was_queued"]) for r in emulator.runs("Job"))
        return {"added": added, "to_start": to_start, "queued": queued, "wrong": wrong}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    draws = [rng.uniform(30, 240) if rng.random() < 0.5 else None for _ in range(args.tasks)]
    print(f"{args.tasks} tasks, one slot, {sum(d is not None for d in draws)} wanting it while another run holds it")
    print(
        "| mode | added wait p50 / p95 / max (s) | wanted to started p50 / p95 (s) | queued by the API | wrong rows |"
    )
    print("|---|---|---|---:|---:|")
    for hold in (False, True):
        with contextlib.redirect_stdout(io.StringIO()):  # the tasks' own log lines
            r = run_mode(hold, draws)
        a, s = r["added"], r["to_start"]
        mode = "hold (default)" if hold else "wait_for_slot=False"
        figures = {
            "tasks": args.tasks,
            "contended": sum(d is not None for d in draws),
            "added_p50": statistics.median(a),
            "added_p95": pct(a, 0.95),
            "added_max": max(a),
            "start_p50": statistics.median(s),
            "start_p95": pct(s, 0.95),
            "queued": r["queued"],
            "wrong": r["wrong"],
        }
        if record("queued_wait", f"`{mode}`" if not hold else mode, figures, by="`dev.py bench` (queued_wait.py)"):
            print("(recorded in docs/figures.json)")
        print(
            f"| {mode} | {statistics.median(a):.0f} / {pct(a, 0.95):.0f} / {max(a):.0f} "
            f"| {statistics.median(s):.0f} / {pct(s, 0.95):.0f} | {r['queued']} | {r['wrong']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
