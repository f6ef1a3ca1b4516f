"""How waiting scales on one API key: N deferred runs in one triggerer process, and a trigger storm.

A documented command, not a timed test: it prints figures and one Markdown table.

    python benchmarks/waiting_scale.py                     # N = 10 50 200 1000, same-name 50, storm 200
    python benchmarks/waiting_scale.py --quick             # a smoke run (about two minutes)
    python benchmarks/waiting_scale.py --sizes 200 --durations 30 300 --speed 1 --no-storm

What runs
---------
* **Waiting, N runs of N automations.** The emulator (its own process) holds N automations whose runs
  end spread over ``--durations`` emulated seconds (about one in seven fails). Each run is started
  through ``AxiomHook.trigger_automation`` and handed to an ``AxiomRunTrigger`` built as the operator
  builds it (``not_before`` = the trigger's ``sent_at`` minus the operator's 2 s tolerance, 6 h
  deadline, ``poll_interval`` 5 s). All N triggers are then driven with
  ``async for event in trigger.run()`` concurrently in one event loop of one process, as a triggerer
  holds them. Setup (the triggers) happens with the emulator's clock paused and its limit lifted, in a
  separate process, so the measured phase starts with N runs waiting and a fresh rate-limit window.
* **Waiting, many runs of one automation** (``--same-name``): the same, with runs of one name (cloud
  concurrency allowed), started 3 emulated seconds apart so their start times tell them apart.
* **Naive comparison**, beside each case (same inputs, its own emulator, run at the same time at a
  lower CPU priority): the pattern of other providers, one ``/run-reports`` call per waiting run per
  5 s interval, each through a new ``httpx`` client, and one ``/run-data`` call for a successful run.
* **Storm**: ``--storm`` ``/trigger`` calls through ``AxiomHook.trigger_automation``, one per thread,
  from threads of one process, and from ``--storm-procs`` processes, on one key at once.

The API's limit is on (100 calls per rolling minute per key) in its strict reading: a server that
stamps requests on arrival and counts refused (429) calls against the window too
(``rate_limit_counts_refused``).

Time: real speed by default, and why
------------------------------------
The client's rate limiter counts a rolling window of 60 *real* seconds, and nothing public can
shorten that window. Running the emulator faster than real time therefore cannot be made
rate-limit faithful: scaling the client's ``rate_limit_per_minute`` by the speed scales the budget but
not the window, so the client may burst a whole real minute's budget into one emulated minute; not
scaling it leaves the client ``speed`` times slower than the server. So the default is ``--speed 1``
(emulated = real time; every figure faithful) and the cases run side by side instead of one after
another, each with its own emulator process, key and triggerer process (``--sequential`` runs them one
at a time: cleaner CPU figures, longer). The whole default run takes about the longest run plus the
grace plus setup, 7-8 minutes.

``--speed S`` (used by ``--quick``) compresses time for smoke runs: the emulator then counts its rolling
minute in emulated seconds (``rate_limit_clock: emulated``, also set at speed 1, where the two agree),
the triggers get ``poll_interval = 5 / S`` real seconds, and the
connection ``rate_limit_per_minute = 100 x S``. Cadence and budget then match in emulated time, the
window does not: expect 429s and "most calls in 60 s" above 100 that speed 1 would not show. HTTP
round trips and event-loop delays also look ``S`` times longer in emulated seconds.

Figures per case: calls per emulated minute per endpoint, 429s, the most calls in any 60 s, status
detection latency after each run ends (p50/p95, emulated seconds; a run with no event by the end of
the phase is counted under "no event"), events correct (status, start time and output of the right
run; for runs of one name an output reported as unreadable counts as correct), CPU seconds of the
waiting process, and its peak RSS beyond the baseline before the triggers were built, per waiting run.
Each phase ends ``--grace`` emulated seconds after the last run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-key"
START = "2026-01-05T09:00:00Z"
SAME_NAME = "Shared nightly scrape"
SAME_NAME_SPACING = 7.0  # emulated seconds between runs of one name (> the 6 s one process spaces them)
OPERATOR_TOLERANCE = timedelta(seconds=2)  # the operator's default clock_tolerance
POLL_INTERVAL = 5.0  # the operator's default poll_interval (emulated seconds here)
LIMIT = 100  # calls per rolling minute per key
HERE = Path(__file__).resolve()
GOLDEN = 0.6180339887498949


# --------------------------------------------------------------------------- shared helpers


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def durations(n: int, low: float, high: float) -> list[float]:
    """``n`` durations spread over [low, high], in an order unrelated to the index."""
    if n == 1:
        return [low]
    return [round(low + (high - low) * ((i * GOLDEN) % 1.0), 1) for i in range(n)]


def _rss_kib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024


def _airflow_env() -> None:
    home = os.path.join(tempfile.gettempdir(), "axiom-bench-home")
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def _set_connection(base_url: str, **extra: Any) -> None:
    conn: dict[str, Any] = {"conn_type": "axiom", "password": KEY, "host": base_url}
    if extra:
        conn["extra"] = extra
    os.environ["AIRFLOW_CONN_AXIOM_DEFAULT"] = json.dumps(conn)


def _run_child(args: list[str], *, nice: int = 0, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(HERE), *args]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class EmulatorProcess:
    """The emulator CLI in a child process on a free loopback port; admin helpers."""

    def __init__(self, scenario: dict[str, Any], *, nice: int = 0) -> None:
        self.scenario = scenario
        self.nice = nice

    def __enter__(self) -> EmulatorProcess:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(self.scenario, handle)
        self.path = handle.name
        cmd = [sys.executable, "-m", "airflow_provider_axiom.testing.emulator", "--port", "0", "--scenario", self.path]
        if self.nice:
            cmd = ["nice", "-n", str(self.nice), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        for _ in range(20):
            line = self.proc.stdout.readline()
            if line.startswith("export AIRFLOW_CONN_AXIOM_DEFAULT="):
                self.base_url = json.loads(line.split("=", 1)[1].strip().strip("'"))["host"]
                break
        else:
            self.__exit__()
            raise RuntimeError("the emulator did not start")
        self.admin = self.base_url.rsplit("/api/v3", 1)[0] + "/_emulator"
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.unlink(self.path)


def admin(url: str, route: str, body: Any = None, **params: Any) -> Any:
    if body is None:
        response = httpx.get(f"{url}/{route}", params=params or None, timeout=120)
    else:
        response = httpx.post(f"{url}/{route}", json=body, timeout=120)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------- scenarios


def waiting_scenario(n: int, low: float, high: float, same_name: bool) -> dict[str, Any]:
    base: dict[str, Any] = {
        "api_key": KEY,
        "speed": 0,  # paused during setup; the measuring process starts the clock
        "start_time": START,
        "rate_limit_per_minute": LIMIT,
        "rate_limit_counts_refused": True,
        "rate_limit_clock": "emulated",
        "plan": {"concurrency": max(1, n), "allowance_minutes": 10_000_000},
    }
    if same_name:
        base["automations"] = [{"name": SAME_NAME, "allow_cloud_concurrency": True, "echo_input": True}]
        return base
    base["automations"] = [
        {
            "name": f"Job {i:04d}",
            "duration": d,
            "outcome": "Failure" if i % 7 == 3 else "Success",
            "output": {"google-sheet-data": [["job", str(i)]]},
            "failure_message": f"Error: job {i} failed",
        }
        for i, d in enumerate(durations(n, low, high))
    ]
    return base


def storm_scenario(count: int) -> dict[str, Any]:
    return {
        "api_key": KEY,
        "speed": 1,
        "rate_limit_per_minute": LIMIT,
        "rate_limit_counts_refused": True,
        "plan": {"concurrency": max(1, count * 2), "allowance_minutes": 10_000_000},
        # one automation per trigger: triggers of one name from one process are spaced 6 s apart by design
        "automations": [{"name": f"Storm {i:04d}", "duration": 3600} for i in range(count)],
    }


# --------------------------------------------------------------------------- role: setup (child process)


def role_setup(args: argparse.Namespace) -> dict[str, Any]:
    """Trigger every run through the hook with the emulator paused and its limit lifted."""
    _airflow_env()
    _set_connection(args.base_url, rate_limit_per_minute=1_000_000)
    import pendulum

    from airflow_provider_axiom._transport import Clock
    from airflow_provider_axiom.hooks.axiom import AxiomHook

    admin(args.admin, "rate-limit", {"per_minute": None})
    results = []
    # The emulated clock jumps SAME_NAME_SPACING between same-name triggers; the hook's clock follows,
    # so the process's spacing of same-name triggers sees that time pass instead of waiting for it.
    shift = [0.0]
    clock = Clock(
        now=lambda: pendulum.now("UTC").add(microseconds=int(shift[0] * 1e6)),
        monotonic=lambda: time.monotonic() + shift[0],
        sleep=time.sleep,
        asleep=asyncio.sleep,
    )
    with AxiomHook(clock=clock) as hook:
        if args.same_name:
            spread = durations(args.n, args.low, args.high)
            measure_at = _parse(START) + SAME_NAME_SPACING * args.n
            for k in range(args.n):
                created = _parse(admin(args.admin, "health")["now"])
                duration = round(measure_at - created + spread[k], 3)
                admin(
                    args.admin,
                    "automations",
                    {"name": SAME_NAME, "duration": duration, "allow_cloud_concurrency": True, "echo_input": True},
                )
                results.append(hook.trigger_automation(SAME_NAME, [[f"run {k}"]]))
                admin(args.admin, "clock", {"advance": SAME_NAME_SPACING})
                shift[0] += SAME_NAME_SPACING
        else:
            results = [hook.trigger_automation(f"Job {i:04d}") for i in range(args.n)]
    out = [
        {
            "automation_name": r.automation_name,
            "sent_at": r.sent_at.isoformat(),
            "triggered_at": r.triggered_at.isoformat(),
            "viewer_url": r.viewer_url,
            "run_id": r.run_id,
        }
        for r in results
    ]
    return {"results": out}


# --------------------------------------------------------------------------- roles: wait / naive (child process)


def _start_clock(args: argparse.Namespace) -> tuple[float, float]:
    """Turn the limit on (strict) and start the clock; returns (emulated start, monotonic start)."""
    admin(args.admin, "rate-limit", {"per_minute": LIMIT, "counts_refused": True})
    answer = admin(args.admin, "clock", {"speed": args.speed})
    return _parse(answer["now"]), time.monotonic()


class RssSampler:
    def __init__(self) -> None:
        self.peak = _rss_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, _rss_kib())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_kib())


def _phase_cap(args: argparse.Namespace) -> float:
    """Emulated seconds a phase may last: every run ends within ``high`` of its start, plus the grace."""
    return args.high + args.grace


async def _drive_all(coros: list[Any], cap_real: float) -> None:
    tasks = [asyncio.ensure_future(c) for c in coros]
    _done, pending = await asyncio.wait(tasks, timeout=cap_real)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def role_wait(args: argparse.Namespace) -> dict[str, Any]:
    """N AxiomRunTriggers, built as the operator builds them, in one event loop."""
    _airflow_env()
    _set_connection(args.base_url, rate_limit_per_minute=int(LIMIT * args.speed))
    import pendulum

    from airflow_provider_axiom._run_ref import RunRef
    from airflow_provider_axiom.results import TriggerResult
    from airflow_provider_axiom.triggers.axiom import AxiomRunTrigger

    started = json.loads(Path(args.results).read_text())["results"]
    gc.collect()
    baseline = _rss_kib()
    events: dict[int, tuple[float, dict[str, Any]]] = {}
    deadline = pendulum.now("UTC").add(hours=6)
    triggers = [
        AxiomRunTrigger(
            run=RunRef.from_trigger(
                TriggerResult(
                    r["automation_name"],
                    "started",
                    r["viewer_url"],
                    None,
                    triggered_at=pendulum.parse(r["triggered_at"]),
                    sent_at=pendulum.parse(r["sent_at"]),
                    run_id=r["run_id"],
                ),
                OPERATOR_TOLERANCE,
            ),
            deadline=deadline,
            axiom_conn_id="axiom_default",
            poll_interval=POLL_INTERVAL / args.speed,
            fetch_output=args.fetch_output,
        )
        for r in started
    ]

    async def drive(i: int, trigger: Any) -> None:
        async for event in trigger.run():
            events[i] = (time.monotonic(), dict(event.payload))
            break

    cap = _phase_cap(args)
    with RssSampler() as rss:
        emu0, mono0 = _start_clock(args)
        cpu0 = time.process_time()
        asyncio.run(_drive_all([drive(i, t) for i, t in enumerate(triggers)], cap / args.speed))
        cpu = time.process_time() - cpu0
    return _measure(args, started, events, emu0, mono0, cpu, (rss.peak - baseline) / max(1, len(started)))


async def _naive_one(args: argparse.Namespace, r: dict[str, Any], count: int) -> tuple[float, dict[str, Any]] | None:
    not_before = _parse(r["sent_at"]) - OPERATOR_TOLERANCE.total_seconds()
    interval = POLL_INTERVAL / args.speed
    while True:
        await asyncio.sleep(interval)
        try:
            async with httpx.AsyncClient(base_url=args.base_url, timeout=30) as client:
                answer = await client.post("/run-reports", json={"key": KEY, "count": count})
                if answer.status_code != 200:
                    continue
                mine = [
                    rep
                    for rep in answer.json()["data"]["reports"]
                    if rep["task_name"] == r["automation_name"] and _parse(rep["created_at"]) >= not_before
                ]
                if not mine:
                    continue
                report = min(mine, key=lambda rep: rep["created_at"])
                if report["status"] not in ("Success", "Failure"):
                    continue
                data = None
                if report["status"] == "Success":
                    out = await client.post("/run-data", json={"key": KEY, "name": r["automation_name"]})
                    data = out.json().get("data") if out.status_code == 200 else None
                payload = {
                    "status": report["status"].lower(),
                    "summary": {"started_at": report["created_at"], "data": data},
                }
                return time.monotonic(), payload
        except (httpx.HTTPError, ValueError, KeyError):
            continue


def role_naive(args: argparse.Namespace) -> dict[str, Any]:
    """The per-trigger poller of other providers: a new client per poll, one /run-reports per run."""
    started = json.loads(Path(args.results).read_text())["results"]
    gc.collect()
    baseline = _rss_kib()
    events: dict[int, tuple[float, dict[str, Any]]] = {}

    async def drive(i: int, r: dict[str, Any]) -> None:
        found = await _naive_one(args, r, max(5, len(started)))
        if found is not None:
            events[i] = found

    cap = _phase_cap(args)
    with RssSampler() as rss:
        emu0, mono0 = _start_clock(args)
        cpu0 = time.process_time()
        asyncio.run(_drive_all([drive(i, r) for i, r in enumerate(started)], cap / args.speed))
        cpu = time.process_time() - cpu0
    return _measure(args, started, events, emu0, mono0, cpu, (rss.peak - baseline) / max(1, len(started)))


def _measure(
    args: argparse.Namespace,
    started: list[dict[str, Any]],
    events: dict[int, tuple[float, dict[str, Any]]],
    emu0: float,
    mono0: float,
    cpu: float,
    rss_kib_per_run: float,
) -> dict[str, Any]:
    admin(args.admin, "clock", {"speed": 0})
    emu_end = _parse(admin(args.admin, "health")["now"])
    runs = {run["viewer_url"]: run for run in admin(args.admin, "runs")}
    stats = admin(args.admin, "calls", since=_iso(emu0))
    # Status detection: the first answered /run-reports call at or after a run ended saw it ended
    # (one call covers every waiting run when it is wide enough: the provider's). Event latency
    # adds the output read, which waits its turn in the key's budget.
    polls = sorted(
        _parse(r["time"]) for r in admin(args.admin, "requests", endpoint="run-reports") if r["status"] == 200
    )
    correct, latencies, wrong, detections = 0, [], [], []
    for i, r in enumerate(started):
        run = runs.get(r["viewer_url"])
        if i not in events or run is None:
            continue
        mono, payload = events[i]
        seen_at = emu0 + (mono - mono0) * args.speed
        if run["finished_at"] is not None:
            ended = _parse(run["finished_at"])
            latencies.append(seen_at - ended)
            seen = next((t for t in polls if t >= ended), None)
            if seen is not None:
                detections.append(seen - ended)
        problem = _event_problem(payload, run, args.same_name, args.fetch_output)
        if problem is None:
            correct += 1
        else:
            wrong.append({"run": run["name"], "problem": problem})
    minutes = max(emu_end - emu0, 1e-9) / 60.0
    # The budget's use while reads queue: from the first answered /run-data to the last, how many
    # reads and polls a minute, and the reads' share of what the poll leaves of the API's limit.
    reads = sorted(_parse(r["time"]) for r in admin(args.admin, "requests", endpoint="run-data") if r["status"] == 200)
    backlog: dict[str, Any] = {}
    if len(reads) >= 2 and reads[-1] > reads[0]:
        span = (reads[-1] - reads[0]) / 60.0
        reads_pm = (len(reads) - 1) / span
        poll_pm = sum(1 for t in polls if reads[0] <= t <= reads[-1]) / span
        backlog = {
            "reads_per_min": round(reads_pm, 1),
            "poll_per_min": round(poll_pm, 1),
            "read_share": round(reads_pm / (LIMIT - poll_pm), 3),
            "minutes": round(span, 1),
        }
    return {
        "backlog": backlog,
        "n": len(started),
        "events": len(events),
        "correct": correct,
        "wrong_examples": wrong[:3],
        "no_event": len(started) - len(events),
        "calls_per_min": {k: round(v / minutes, 1) for k, v in sorted(stats["counts"].items())},
        "calls": stats["total"],
        "rate_limited": stats["rate_limited"],
        "max_in_60s": stats["max_in_window"],
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "detect_p50": percentile(detections, 50),
        "detect_p95": percentile(detections, 95),
        "cpu_s": round(cpu, 2),
        "rss_kib_per_run": round(rss_kib_per_run, 1),
        "emulated_s": round(emu_end - emu0, 1),
    }


def _event_problem(payload: dict[str, Any], run: dict[str, Any], same_name: bool, fetch_output: bool) -> str | None:
    """None when the event is right for ``run``, else what is wrong with it (without ``fetch_output``,
    a succeeded run's event is right with no rows and ``data_unavailable`` 'not_requested')."""
    if payload.get("status") != run["status"].lower():
        return f"status {payload.get('status')!r}, run {run['status']}"
    summary = payload.get("summary") or {}
    started_at = summary.get("started_at")
    if started_at and run["created_at"] and abs(_parse(started_at) - _parse(run["created_at"])) >= 1.0:
        return f"started_at {started_at}, run started {run['created_at']}"
    if run["status"] != "Success":
        return None
    data = summary.get("data")
    if not fetch_output:
        why = summary.get("data_unavailable")
        return None if data is None and why == "not_requested" else f"data {str(data)[:60]}, data_unavailable {why!r}"
    if data == run["output"] or (same_name and data is None):
        return None
    return f"data {str(data)[:60]}, run output {str(run['output'])[:60]}"


# --------------------------------------------------------------------------- role: storm worker (child process)


def role_storm(args: argparse.Namespace) -> dict[str, Any]:
    _airflow_env()
    if args.share:  # each process configured with its share of the key, as the README advises
        _set_connection(args.base_url, rate_limit_per_minute=args.share)
    else:
        _set_connection(args.base_url)
    from airflow_provider_axiom.hooks.axiom import AxiomHook

    outcomes: list[str] = []
    lock = threading.Lock()

    names = iter(f"Storm {args.offset + i:04d}" for i in range(args.n))

    def one() -> None:
        with lock:
            name = next(names)
        try:
            with AxiomHook() as hook:
                result = hook.trigger_automation(name)
            outcome = "ok:" + str(result.viewer_url)
        except Exception as exc:
            outcome = "error:" + type(exc).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(args.n)]
    time.sleep(max(0.0, args.go - time.time()))
    for thread in threads:
        thread.start()
    end = time.monotonic() + args.cap
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    with lock:
        return {"outcomes": list(outcomes), "unfinished": args.n - len(outcomes)}


# --------------------------------------------------------------------------- orchestration


def _common(args: argparse.Namespace, emu: EmulatorProcess, n: int, same: bool, results: str) -> list[str]:
    return [
        "--base-url", emu.base_url, "--admin", emu.admin, "--n", str(n), "--speed", str(args.speed),
        "--low", str(args.low), "--high", str(args.high), "--grace", str(args.grace), "--results", results,
        *(["--same-name-case"] if same else []), *([] if args.fetch_output else ["--no-output"]),
    ]  # fmt: skip


def run_case(args: argparse.Namespace, n: int, same: bool, ready: threading.Event | None = None) -> dict[str, Any]:
    scenario = waiting_scenario(n, args.low, args.high, same)
    label = f"{'one name' if same else 'N names'}, N={n}"
    print(f"-- {label}: setting up", flush=True)
    with contextlib.ExitStack() as stack:
        emu = stack.enter_context(EmulatorProcess(scenario))
        naive_emu = None if args.no_naive else stack.enter_context(EmulatorProcess(scenario, nice=10))
        files = []
        for target in [emu] + ([naive_emu] if naive_emu else []):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
                pass
            stack.callback(os.unlink, out.name)
            setup = _run_child(["--role", "setup", *_common(args, target, n, same, out.name)], timeout=900)
            Path(out.name).write_text(json.dumps(setup))
            files.append(out.name)
        if ready is not None:
            ready.set()
        print(f"-- {label}: waiting (up to {_phase_cap(args) / args.speed:.0f} s)", flush=True)
        budget = _phase_cap(args) / args.speed + 300
        procs: dict[str, Any] = {}
        runners = [("provider", emu, files[0], 0)]
        if naive_emu is not None:
            runners.append(("naive", naive_emu, files[1], 10))
        threads = []
        for name, target, path, nice in runners:
            role = "wait" if name == "provider" else "naive"
            child_args = ["--role", role, *_common(args, target, n, same, path)]

            def go(name: str = name, child_args: list[str] = child_args, nice: int = nice) -> None:
                try:
                    procs[name] = _run_child(child_args, nice=nice, timeout=budget)
                except Exception as exc:  # report, do not hide the other figures
                    procs[name] = {"error": str(exc)[-500:]}

            thread = threading.Thread(target=go)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
    return {"case": "one name" if same else "N names", "n": n, **procs}


def run_storm(args: argparse.Namespace, procs: int, share: int = 0) -> dict[str, Any]:
    count = args.storm
    print(f"-- storm: {count} triggers from {'threads of one process' if procs == 1 else f'{procs} processes'}")
    with EmulatorProcess(storm_scenario(count)) as emu:
        go = time.time() + 15.0  # every worker has imported by then
        shares = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
        results: list[dict[str, Any]] = [{} for _ in range(procs)]

        def worker(i: int) -> None:
            child = ["--role", "storm", "--base-url", emu.base_url, "--admin", emu.admin, "--n", str(shares[i])]
            child += ["--go", str(go), "--cap", str(args.storm_cap), "--share", str(share)]
            child += ["--offset", str(sum(shares[:i]))]
            try:
                results[i] = _run_child(child, timeout=args.storm_cap + 120)
            except Exception as exc:
                results[i] = {"outcomes": [], "unfinished": shares[i], "error": str(exc)[-300:]}

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(procs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        runs = admin(emu.admin, "runs")
        stats = admin(emu.admin, "calls")
    outcomes = [o for r in results for o in r["outcomes"]]
    claimed = [o[3:] for o in outcomes if o.startswith("ok:")]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.startswith("error:"):
            errors[o[6:]] = errors.get(o[6:], 0) + 1
    created = sorted(_parse(r["created_at"]) for r in runs if r["created_at"])
    viewer_urls = {r["viewer_url"] for r in runs}
    return {
        "procs": procs,
        "share": share,
        "calls": count,
        "started": len(runs),
        "ok": len(claimed),
        "errors": errors,
        "unfinished": sum(r["unfinished"] for r in results),
        "duplicates": max(0, len(runs) - count),
        "unclaimed_runs": len(viewer_urls - set(claimed)),
        "time_to_start_all": round(created[-1] - go, 1) if len(created) >= count else None,
        "rate_limited": stats["rate_limited"],
        "max_in_60s": stats["max_in_window"],
    }


# --------------------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def table(cases: list[dict[str, Any]], storms: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Waiting runs on one key (limit {LIMIT}/min, refused calls counted), runs ending {args.low:g}-{args.high:g} s "
        f"after the phase starts, emulator speed {args.speed:g}x; times in emulated seconds.",
        "",
        "| case | poller | N | events correct | no event | calls/min: run-reports / run-data / other | 429s "
        "| most calls in 60 s | status detection p50 / p95 (s) | event p50 / p95 (s) | CPU s "
        "| peak RSS per run (KB) |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|---:|---:|",
    ]
    for case in cases:
        for poller in ("provider", "naive"):
            r = case.get(poller)
            if r is None:
                continue
            if "error" in r:
                lines.append(f"| {case['case']} | {poller} | {case['n']} | failed: {r['error'][-80:]!r} |||||||||")
                continue
            cpm = r["calls_per_min"]
            other = sum(v for k, v in cpm.items() if k not in ("run-reports", "run-data"))
            lines.append(
                f"| {case['case']} | {poller} | {r['n']} | {r['correct']}/{r['n']} | {r['no_event']} "
                f"| {cpm.get('run-reports', 0):.0f} / {cpm.get('run-data', 0):.0f} / {other:.0f} "
                f"| {r['rate_limited']} | {r['max_in_60s']} "
                f"| {_fmt(r['detect_p50']) + ' / ' + _fmt(r['detect_p95']) if poller == 'provider' else 'n/a'} "
                f"| {_fmt(r['p50'])} / {_fmt(r['p95'])} "
                f"| {r['cpu_s']:.1f} | {r['rss_kib_per_run'] * 1.024:.1f} |"
            )
    for case in cases:
        b = (case.get("provider") or {}).get("backlog")
        # only where the reads queued behind the budget (the key at least 80 % busy) is the share telling
        if b and b["minutes"] >= 2 and b["reads_per_min"] + b["poll_per_min"] >= 0.8 * LIMIT:
            lines.append(
                f"\n{case['case']}, N = {case['n']}: from the first `/run-data` to the last ({b['minutes']:.1f} min), "
                f"reads {b['reads_per_min']:.1f} a minute and the poll {b['poll_per_min']:.1f}: the reads use "
                f"{b['read_share']:.1%} of what the poll leaves of the API's {LIMIT}."
            )
    if storms:
        lines += [
            "",
            f"Trigger storm on one key (speed 1, limit {LIMIT}/min in real seconds, refused calls counted).",
            "",
            "| storm | started | errors reaching callers | duplicates | runs no caller got | time to start all (s) "
            "| 429s | most calls in 60 s |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for s in storms:
            where = "threads, 1 process" if s["procs"] == 1 else f"{s['procs']} processes"
            if s.get("share"):
                where += f", rate_limit_per_minute {s['share']} each"
            errors = sum(s["errors"].values())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items()))
            unfinished = f"; {s['unfinished']} unfinished at {args.storm_cap:g} s" if s["unfinished"] else ""
            lines.append(
                f"| {s['calls']} x /trigger, {where} | {s['started']} | {errors}{f' ({detail})' if detail else ''}"
                f"{unfinished} | {s['duplicates']} | {s['unclaimed_runs']} | {_fmt(s['time_to_start_all'])} "
                f"| {s['rate_limited']} | {s['max_in_60s']} |"
            )
    lines += ["", *goals(cases, storms)]
    return "\n".join(lines)


def goals(cases: list[dict[str, Any]], storms: list[dict[str, Any]]) -> list[str]:
    out = [
        "Goals (provider, N = 200 and 1000: every event correct, 0 x 429, ≤ 100 calls in any 60 s, "
        "status detection p95 ≤ tick + 1 s with tick 5 s, < 100 KB per waiting run; storm: all started, "
        "0 errors, 0 duplicates, all started within 150 s):"
    ]
    for case in cases:
        r = case.get("provider")
        if case["n"] not in (200, 1000) or not r or "error" in r:
            continue
        checks = {
            "events": r["correct"] == r["n"],
            "429s": r["rate_limited"] == 0,
            "60 s": r["max_in_60s"] <= LIMIT,
            "p95": r["detect_p95"] is not None and r["detect_p95"] <= POLL_INTERVAL + 1.0 and r["no_event"] == 0,
            "memory": r["rss_kib_per_run"] * 1.024 < 100,
        }
        out.append(
            f"- {case['case']}, N={case['n']}: "
            + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in checks.items())
        )
    for s in storms:
        met = (
            s["started"] == s["calls"]
            and not s["errors"]
            and not s["unfinished"]
            and s["duplicates"] == 0
            and s["time_to_start_all"] is not None
            and s["time_to_start_all"] <= 150
        )
        out.append(f"- storm, {s['procs']} process(es): {'met' if met else 'MISSED'}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[10, 50, 200, 1000], help="N waiting runs per case (none: skip)"
    )
    parser.add_argument("--same-name", type=int, default=50, help="runs of one automation name (0: skip)")
    parser.add_argument("--durations", type=float, nargs=2, default=[30.0, 300.0], metavar=("LOW", "HIGH"))
    parser.add_argument(
        "--speed", type=float, default=1.0, help="emulated seconds per real second (1: rate-limit faithful)"
    )
    parser.add_argument("--grace", type=float, default=90.0, help="emulated seconds after the last run ends")
    parser.add_argument("--storm", type=int, default=200, help="/trigger calls in the storm (0: skip)")
    parser.add_argument("--storm-procs", type=int, default=4)
    parser.add_argument("--storm-cap", type=float, default=180.0, help="real seconds a storm may take")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive per-trigger poller")
    parser.add_argument(
        "--no-output", dest="fetch_output", action="store_false", help="fetch_output=False: no /run-data reads"
    )
    parser.add_argument("--no-storm", action="store_true")
    parser.add_argument("--sequential", action="store_true", help="one case at a time (cleaner CPU figures, longer)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small N, short runs")
    parser.add_argument("--json", help="also write the raw figures to this file")
    # internal: the child processes
    parser.add_argument("--role", choices=("setup", "wait", "naive", "storm"), help=argparse.SUPPRESS)
    for name in ("--base-url", "--admin", "--results"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--low", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--high", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--same-name-case", dest="same_name_case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--share", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.role:
        args.same_name = args.same_name_case
        role = {"setup": role_setup, "wait": role_wait, "naive": role_naive, "storm": role_storm}[args.role]
        print(json.dumps(role(args)), flush=True)
        return 0

    if args.quick:
        args.sizes, args.same_name, args.durations = [10, 50], 10, [10.0, 40.0]
        args.speed, args.grace, args.storm, args.storm_procs, args.storm_cap = 10.0, 70.0, 20, 2, 60.0
    args.low, args.high = args.durations
    began = time.monotonic()
    plan = [(n, False) for n in args.sizes] + ([(args.same_name, True)] if args.same_name > 0 else [])
    storm_plan = (
        [1] + ([args.storm_procs] if args.storm_procs > 1 else []) if args.storm > 0 and not args.no_storm else []
    )
    storms: list[dict[str, Any]] = []

    def all_storms() -> None:
        storms.extend(run_storm(args, procs) for procs in storm_plan)
        if args.storm_procs > 1 and storm_plan:  # and with each process set to its share of the key
            storms.append(run_storm(args, args.storm_procs, share=LIMIT // args.storm_procs))

    if args.sequential:
        cases = [run_case(args, n, same) for n, same in plan]
        all_storms()
    else:  # every case has its own emulator, key and processes: they run side by side
        results: list[dict[str, Any]] = [{} for _ in plan]
        ready = [threading.Event() for _ in plan]

        def case(i: int) -> None:
            try:
                results[i] = run_case(args, *plan[i], ready=ready[i])
            finally:
                ready[i].set()

        def storms_after_setup() -> None:
            # The storm starts once every case is set up: the waiting phases are light (the naive
            # pollers run at a lower priority), the setups are not.
            for event in ready:
                event.wait(timeout=1800)
            all_storms()

        threads = [threading.Thread(target=case, args=(i,)) for i in range(len(plan))]
        threads.append(threading.Thread(target=storms_after_setup))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cases = results
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": cases, "storms": storms}, indent=2))
    print()
    print(table(cases, storms, args))
    print(f"\n(benchmark wall time {time.monotonic() - began:.0f} s)")
    if record_figures(cases, storms, args, argv):
        print("(recorded in docs/figures.json)")
    return 0


def record_figures(
    cases: list[dict[str, Any]], storms: list[dict[str, Any]], args: argparse.Namespace, argv: list[str] | None
) -> bool:
    """Write the rows into docs/figures.json (``AXIOM_RECORD_FIGURES=1``): the docs' tables are that file."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from figures import record, recording

    if not recording() or args.quick:
        return False
    by = "`dev.py bench " + " ".join(sys.argv[1:] if argv is None else argv) + "`"
    conditions = f"emulator at speed {args.speed:g}, strict {LIMIT}/min"
    for case in cases:
        for poller in ("provider", "naive"):
            r = case.get(poller)
            if not r or "error" in r:
                continue
            variant = "one automation" if case["case"] == "one name" else ""
            if not args.fetch_output:
                variant = ", ".join(v for v in (variant, "`fetch_output=False`") if v)
            cpm = r["calls_per_min"]
            events = r["p50"] is not None
            record(
                "waiting_scale",
                f"{poller}, N={r['n']}{', ' + variant if variant else ''}",
                {
                    "n": r["n"],
                    "poller": poller,
                    "variant": variant,
                    "correct": r["correct"],
                    "calls_per_min_reports": cpm.get("run-reports", 0),
                    "calls_per_min_data": cpm.get("run-data", 0),
                    "rate_limited": r["rate_limited"],
                    "max_in_60s": r["max_in_60s"],
                    "detect_p50": r.get("detect_p50") if poller == "provider" else None,
                    "detect_p95": r.get("detect_p95") if poller == "provider" else None,
                    "event_p50": r["p50"] if events else None,
                    "event_p95": r["p95"] if events else None,
                    "rss_kb_per_run": round(r["rss_kib_per_run"] * 1.024, 1),
                    **{f"backlog_{k}": v for k, v in (r.get("backlog") or {}).items() if r["n"] >= 1000},
                    "conditions": conditions,
                },
                by=by,
            )
    for s in storms:
        where = "1 process" if s["procs"] == 1 else f"{s['procs']} processes"
        where += f", rate_limit_per_minute {s['share']} each" if s.get("share") else ""
        record(
            "trigger_storm",
            f"{s['calls']} x /trigger, {where}",
            {
                "started": s["started"],
                "errors": sum(s["errors"].values()),
                "duplicates": s["duplicates"],
                "time_to_start_all": s["time_to_start_all"],
                "rate_limited": s["rate_limited"],
                "max_in_60s": s["max_in_60s"],
            },
            by=by,
        )
    return True


if __name__ == "__main__":
    sys.exit(main())
