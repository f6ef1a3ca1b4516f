"""``axiom-contract-check`` against the emulator: all "matches", or exactly the differences it is set to show."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_axiom.contract_check import main
from airflow_provider_axiom.testing.emulator import AxiomEmulator

KEY = "contract-key-7f3a"
HISTORY = [{"name": "Export leads", "status": "Success", "minutes_ago": 300 - i} for i in range(150)]


def scenario(**overrides: Any) -> dict[str, Any]:
    return {
        "api_key": KEY,
        "speed": 1,
        "automations": [{"name": "Export leads", "duration": 2, "output": {"leads": [["name"], ["Ada"]]}}],
        "history": HISTORY,
        **overrides,
    }


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
