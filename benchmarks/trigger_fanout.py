"""How the triggerer side scales: N deferred AxiomRunTriggers in one event loop against the emulator.

The emulator runs in its own process (so the CPU figures are the triggerer side's only). N runs
are started (one automation each), then N triggers run concurrently in one asyncio loop, as in a
triggerer, and the script prints wall time, API calls, CPU per call and memory. Bounded: every
trigger has a deadline; the script stops the emulator when done.

    python benchmarks/trigger_fanout.py [N ...]      (default: 50 200)

The figures show why polling sits behind RunWatcher: today every waiting run reads /run-reports
on its own, so N waiters cost N calls per tick against a 100 calls/minute/key budget.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import httpx

os.environ.setdefault("AIRFLOW_HOME", os.path.join(os.path.dirname(__file__), "..", ".demo", "bench-home"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pendulum

from airflow_provider_axiom.hooks.axiom import AxiomHook
from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

RUN_SECONDS = 4.0  # each run lasts this long (emulated = real, speed 1)
POLL = 0.5


def scenario(n: int) -> dict:
    return {
        "api_key": "bench-key",
        "rate_limit_per_minute": None,
        "plan": {"concurrency": 99, "queue_retry_seconds": 1},
        "automations": [{"name": f"Job {i:03d}", "duration": RUN_SECONDS} for i in range(n)],
    }


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class EmulatorProcess:
    """The emulator CLI in a child process, on a free loopback port."""

    def __init__(self, scenario_data: dict) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(scenario_data, handle)
        self.file = handle

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_axiom.testing.emulator",
                "--port",
                "0",
                "--scenario",
                self.file.name,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        for _ in range(20):
            line = self.proc.stdout.readline()
            if line.startswith("export AIRFLOW_CONN_AXIOM_DEFAULT="):
                self.conn = json.loads(line.split("=", 1)[1].strip().strip("'"))
                break
        else:
            raise RuntimeError("the emulator did not start")
        self.admin = self.conn["host"].rsplit("/api/v3", 1)[0] + "/_emulator"
        return self

    def request_count(self) -> int:
        return len(httpx.get(self.admin + "/requests", timeout=30).json())

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        os.unlink(self.file.name)


async def bench(n: int) -> dict:
    with EmulatorProcess(scenario(n)) as emulator:
        conn = dict(emulator.conn)
        conn["extra"] = {"rate_limit_per_minute": 1_000_000}
        os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = json.dumps(conn)
        async with AxiomHook() as hook:
            results = await asyncio.gather(*(hook.atrigger_automation(f"Job {i:03d}") for i in range(n)))
        deadline = pendulum.now("UTC") + timedelta(minutes=2)
        triggers = [
            AxiomRunTrigger(
                automation_name=r.automation_name,
                not_before=r.sent_at.subtract(seconds=2),
                deadline=deadline,
                triggered_at=r.triggered_at,
                viewer_url=r.viewer_url,
                poll_interval=POLL,
                max_poll_interval=POLL,
            )
            for r in results
        ]
        calls_before = emulator.request_count()
        gc.collect()
        rss0 = _rss_mib()
        cpu0, t0 = time.process_time(), time.perf_counter()
        events = await asyncio.gather(*(t.run().__anext__() for t in triggers))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rss_growth = _rss_mib() - rss0
        calls = emulator.request_count() - calls_before
    for e in events:
        if e.payload["status"] != "success" and os.environ.get("BENCH_DEBUG"):
            print(e.payload)
    statuses = {}
    for e in events:
        statuses[e.payload["status"]] = statuses.get(e.payload["status"], 0) + 1
    return {
        "waiters": n,
        "events": statuses,
        "wall_s": round(wall, 2),
        "api_calls": calls,
        "calls_per_run": round(calls / n, 1),
        "calls_per_minute_at_this_poll_rate": round(calls / wall * 60),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_call": round(cpu / max(calls, 1) * 1000, 2),
        "rss_growth_kib_per_waiter": round(rss_growth * 1024 / n, 1),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [50, 200]
    print(f"runs of {RUN_SECONDS:g}s, every waiter polling every {POLL:g}s (emulator on loopback, rate limit off)")
    for n in sizes:
        print(json.dumps(asyncio.run(bench(n))))
    print(
        "A real key allows 100 calls/minute across all endpoints: with per-run polling the limiter "
        "spreads those calls, so each waiter's effective poll interval is about N * 0.6 s."
    )


if __name__ == "__main__":
    main()
