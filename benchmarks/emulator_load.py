"""Load benchmark of the axiom.ai API emulator: many concurrent polling clients on loopback.

Starts the emulator as a separate process (``python -m airflow_provider_axiom.testing.emulator``) with the
rate limit disabled, triggers a few runs, then lets ``--clients`` keep-alive ``httpx.AsyncClient``s poll
``/run-reports`` and ``/run-data`` for ``--duration`` seconds (or until ``--max-requests``), and prints
requests/s, latency percentiles and errors. ``--client-procs N`` spreads the clients over N processes so
that the client side is not the bottleneck; ``--in-process`` runs the emulator in this process instead.

    python benchmarks/emulator_load.py --clients 200 --duration 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-key"
NAMES = ["Scrape product prices", "Export leads", "Broken checkout flow", "Nightly sync"]
SCENARIO = {
    "api_key": KEY,
    "speed": 10,
    "rate_limit_per_minute": None,
    "plan": {"concurrency": 4},
    "automations": [
        {"name": "Scrape product prices", "duration": 30, "echo_input": True},
        {"name": "Export leads", "duration": 60, "output": {"google-sheet-data": [["name"], ["Ada"], ["Grace"]]}},
        {"name": "Broken checkout flow", "duration": 20, "outcome": "Failure", "failure_message": "selector"},
        {"name": "Nightly sync", "duration": 3600},
    ],
    "history": [
        {"name": n, "status": "Success", "minutes_ago": m, "output": {"google-sheet-data": [["old"]]}}
        for m in range(1, 40)
        for n in NAMES[:2]
    ],
}


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _client(
    client: httpx.AsyncClient, index: int, deadline: float, budget: list[int], out: dict[str, Any]
) -> None:
    i = index
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        if i % 2:
            path, body = "/run-reports", {"key": KEY, "count": 5}
        else:
            path, body = "/run-data", {"key": KEY, "name": NAMES[i % len(NAMES)]}
        i += 1
        began = time.perf_counter()
        try:
            response = await client.post(path, json=body)
            response.json()
            if response.status_code != 200:
                out["errors"][f"HTTP {response.status_code}"] += 1
                continue
        except Exception as exc:
            out["errors"][type(exc).__name__] += 1
            continue
        out["latencies"].append(time.perf_counter() - began)


async def _run_clients(base_url: str, clients: int, duration: float, max_requests: int) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "errors": Counter()}
    # Build the clients (TLS context set-up is synchronous CPU work) and open their keep-alive
    # connections before the measured window, so it measures polling, not client start-up.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) for _ in range(clients)]
    began = time.monotonic()
    await asyncio.gather(*(c.post("/list-automations", json={"key": KEY}) for c in pool))
    out["connect"] = time.monotonic() - began
    budget = [max_requests]
    began = time.monotonic()
    deadline = began + duration
    try:
        await asyncio.gather(*(_client(c, i, deadline, budget, out) for i, c in enumerate(pool)))
    finally:
        out["elapsed"] = time.monotonic() - began
        await asyncio.gather(*(c.aclose() for c in pool))
    return out


def _client_process(args: tuple[str, int, float, int]) -> dict[str, Any]:
    out = asyncio.run(_run_clients(*args))
    out["errors"] = dict(out["errors"])
    return out


def _start_subprocess(scenario_path: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_axiom.testing.emulator", "--port", "0", "--scenario", scenario_path],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    base_url = first.strip().rsplit(" ", 1)[-1]
    if not base_url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {first!r}")
    return proc, base_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of load (default 8)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many (default 200000)")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes (default 1)")
    parser.add_argument("--in-process", action="store_true", help="run the emulator in this process")
    args = parser.parse_args(argv)

    emulator: Any = None
    proc: subprocess.Popen[str] | None = None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(SCENARIO, handle)
        scenario_path = handle.name
    try:
        if args.in_process:
            from airflow_provider_axiom.testing.emulator import AxiomEmulator

            emulator = AxiomEmulator(SCENARIO).start()
            base_url = emulator.base_url
        else:
            proc, base_url = _start_subprocess(scenario_path)
        with httpx.Client(base_url=base_url, timeout=10) as setup:
            for name in NAMES:
                setup.post("/trigger", json={"key": KEY, "name": name, "data": [["url"], ["https://example.com"]]})
                setup.post("/trigger", json={"key": KEY, "name": name})  # queued behind it

        procs = max(1, args.client_procs)
        print(
            f"emulator at {base_url}: {args.clients} clients in {procs} process(es), "
            f"{args.duration:g} s or {args.max_requests} requests, /run-reports + /run-data, rate limit off",
            flush=True,
        )
        shares = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
        jobs = [(base_url, n, args.duration, args.max_requests // procs) for n in shares]
        if procs == 1:
            results = [_client_process(jobs[0])]
        else:
            with multiprocessing.get_context("spawn").Pool(procs) as pool:
                results = pool.map(_client_process, jobs)

        latencies = sorted(x for r in results for x in r["latencies"])
        errors: Counter[str] = Counter()
        for r in results:
            errors.update(r["errors"])
        elapsed = max(r["elapsed"] for r in results)
        total = len(latencies) + sum(errors.values())
        connect = max(r["connect"] for r in results)
        print(f"connect:    {args.clients} keep-alive connections opened (one call each) in {connect:.2f} s")
        print(f"requests:   {total} in {elapsed:.2f} s")
        print(f"throughput: {len(latencies) / elapsed:,.0f} ok req/s")
        if latencies:
            ms = {q: percentile(latencies, q) * 1000 for q in (50, 95, 99)}
            mean, worst = statistics.fmean(latencies) * 1000, latencies[-1] * 1000
            print(
                f"latency:    p50 {ms[50]:.1f} ms, p95 {ms[95]:.1f} ms, p99 {ms[99]:.1f} ms, "
                f"mean {mean:.1f} ms, max {worst:.1f} ms"
            )
        print(f"errors:     {sum(errors.values())} {dict(errors) if errors else ''}".rstrip())
        if latencies:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
            from figures import record  # AXIOM_RECORD_FIGURES=1: docs/figures.json

            if record(
                "emulator_load",
                f"{args.clients} keep-alive pollers",
                {
                    "throughput": round(len(latencies) / elapsed),
                    "p50_ms": round(ms[50], 1),
                    "p99_ms": round(ms[99], 1),
                    "errors": sum(errors.values()),
                },
                by="`dev.py bench` (`benchmarks/emulator_load.py`)",
            ):
                print("(recorded in docs/figures.json)")
        return 0 if not errors else 1
    finally:
        if emulator is not None:
            emulator.stop()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        os.unlink(scenario_path)


if __name__ == "__main__":
    sys.exit(main())
