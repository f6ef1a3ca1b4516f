"""``axiom-contract-check`` against the emulator: all "matches", or exactly the differences it is set to show."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_axiom._run_ids import IMPOSSIBLE_RUN_ID
from airflow_provider_axiom.contract_check import main
from airflow_provider_axiom.testing.emulator import AxiomEmulator
from tests import scenarios

KEY = "contract-key-7f3a"
HISTORY = [{"name": "Export leads", "status": "Success", "minutes_ago": 300 - i} for i in range(150)]


def scenario(**fields: Any) -> dict[str, Any]:
    return scenarios.scenario(
        KEY,
        [{"name": "Export leads", "duration": 2, "output": {"leads": [["name"], ["Ada"]]}}],
        rate_limit_per_minute=100,  # the API's limit (the emulator's default)
        concurrency=1,
        history=HISTORY,
        **fields,
    )


def check(emulator: AxiomEmulator, monkeypatch: pytest.MonkeyPatch, capsys: Any, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("AXIOM_API_KEY", KEY)
    code = main(["--base-url", emulator.base_url, *args])
    out = capsys.readouterr()
    text = out.out + out.err
    print(text)
    assert KEY not in text
    return code, text


def verdicts(text: str) -> dict[str, int]:
    found = re.findall(r"^\[(matches|DIFFERS|differs \(handled\))\]", text, flags=re.M)
    return {v: found.count(v) for v in set(found)}


def test_the_installed_command_finds_everything_as_assumed_read_only():
    command = Path(sys.executable).with_name("axiom-contract-check")
    with AxiomEmulator(scenario(), port=0) as emulator:
        env = {**os.environ, "AXIOM_API_KEY": KEY}
        result = subprocess.run(
            [str(command), "--base-url", emulator.base_url], env=env, capture_output=True, text=True, timeout=60
        )
        calls = emulator.call_counts()
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    assert verdicts(result.stdout) == {"matches": 7}
    assert "count=2500: 150 reports: the account has 150 runs" in result.stdout
    assert calls == {"list-automations": 1, "remaining-runtime": 1, "run-reports": 3, "run-data": 1}  # no trigger
    assert KEY not in result.stdout + result.stderr


def test_a_full_cycle_matches(monkeypatch, capsys):
    with AxiomEmulator(scenario(), port=0) as emulator:
        code, text = check(emulator, monkeypatch, capsys, "--trigger", "Export leads", "--wait", "30")
        assert len([r for r in emulator.runs("Export leads") if not r["history"]]) == 1
    assert code == 0
    assert verdicts(text) == {"matches": 12}
    assert "no run id" in text and "tables ['leads']" in text


def test_a_capped_count_is_the_one_difference_and_fails_the_check(monkeypatch, capsys):
    with AxiomEmulator(scenario(report_count_cap=100), port=0) as emulator:
        code, text = check(emulator, monkeypatch, capsys)
    assert code == 1
    assert verdicts(text) == {"matches": 6, "DIFFERS": 1}
    assert "count=2500: 100 reports: capped at 100" in text


def test_a_run_listed_late_is_the_one_difference(monkeypatch, capsys):
    with AxiomEmulator(scenario(registration_delay=5), port=0) as emulator:
        code, text = check(emulator, monkeypatch, capsys, "--trigger", "Export leads", "--wait", "30")
    assert code == 0  # within the 10 s the lost-trigger check watches: handled
    assert verdicts(text) == {"matches": 11, "differs (handled)": 1}
    listed = float(re.search(r"listed after ([\d.]+) s", text)[1])  # type: ignore[index]
    assert 4.5 <= listed <= 7, listed


def said(text: str, request: str) -> str:
    """What the check said of ``request`` (``/run-data {name, run_id}`` or ``/stop {run_id}``) with an impossible id."""
    found = re.search(re.escape(request) + r" with an id no run has.*\n\s+API: (the API \w+ (?:run ids|them))", text)
    assert found, text
    return found[1]


@pytest.mark.parametrize(
    ("reading", "run_data", "stop", "checks"),
    [
        ("by_id", "the API reads run ids", "the API reads run ids", 16),
        ("name_required", "the API ignores them", "the API refuses them", 14),
        ("ignored", "the API ignores them", "the API refuses them", 14),
    ],
)
def test_each_run_id_reading_is_named_per_request(monkeypatch, capsys, reading, run_data, stop, checks):
    with AxiomEmulator(scenario(run_ids=reading), port=0) as emulator:
        code, text = check(emulator, monkeypatch, capsys, "--trigger", "Export leads", "--wait", "30")
        [run] = [r for r in emulator.runs("Export leads") if not r["history"]]
    assert code == 0  # the package relies on no reading the account does not give
    assert said(text, "/run-data {name, run_id}") == run_data and said(text, "/stop {run_id}") == stop
    # the run id itself is a (handled) difference from the documented pages; the rest matches
    assert verdicts(text) == {"matches": checks - 1, "differs (handled)": 1}
    if reading == "by_id":  # the run's own id was tried where the API reads ids
        assert "of the test run answers for that run" in text and not run["stopped"]


def test_an_api_that_reads_ids_but_not_the_runs_own_fails_the_check(monkeypatch, capsys):
    """The proof says the API reads run ids, but the test run's own id is refused: the package would rely on it."""
    with AxiomEmulator(scenario(run_ids="by_id"), port=0) as emulator:
        forward = httpx.Client(base_url=emulator.base_url)

        def expiring(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content or b"{}")
            if body.get("run_id") not in (None, IMPOSSIBLE_RUN_ID):  # every real id has expired at once
                return httpx.Response(404, json={"status": "error", "message": "Run not found"})
            path = request.url.path.removeprefix("/api/v3")
            answer = forward.post(path, content=request.content, headers={"Content-Type": "application/json"})
            return httpx.Response(answer.status_code, content=answer.content, headers={"Date": answer.headers["Date"]})

        monkeypatch.setenv("AXIOM_API_KEY", KEY)
        code = main(
            ["--base-url", emulator.base_url, "--trigger", "Export leads", "--wait", "30"],
            transport=httpx.MockTransport(expiring),
        )
        forward.close()
    out = capsys.readouterr()
    text = out.out
    print(text, out.err)
    assert code == 1
    assert verdicts(text)["DIFFERS"] == 2  # /run-data and /stop by the run's own id
    assert said(text, "/run-data {name, run_id}") == "the API reads run ids"
