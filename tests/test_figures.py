"""Measured figures have one home: ``docs/figures.json``, written by the commands, shown by the docs hook."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from scripts.figures import load, record_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from mkdocs_figures import render

REPO = Path(__file__).resolve().parent.parent


def test_nothing_is_written_unless_a_run_records(tmp_path, monkeypatch):
    monkeypatch.delenv("AXIOM_RECORD_FIGURES", raising=False)
    path = tmp_path / "figures.json"
    assert record_time("dev.py test", 91.2, by="`dev.py test`", path=path) is False
    assert not path.exists()


def test_a_figure_replaces_the_one_of_the_same_conditions_only(tmp_path, monkeypatch):
    monkeypatch.setenv("AXIOM_RECORD_FIGURES", "1")
    path = tmp_path / "figures.json"
    monkeypatch.setenv("AXIOM_FIGURES_CONTEXT", "2 cores, idle")
    record_time("dev.py test", 95.0, by="`dev.py test`", path=path)
    record_time("dev.py test", 91.24, by="`dev.py test`", path=path)
    monkeypatch.setenv("AXIOM_FIGURES_CONTEXT", "in CI")
    record_time("dev.py test", 340.0, by="`dev.py test`", path=path)
    entries = load(path)["times"]["dev.py test"]
    assert [(e["seconds"], e["context"]) for e in entries] == [(91.2, "2 cores, idle"), (340.0, "in CI")]
    table = render("<!-- figures: times -->", load(path))
    assert "| `dev.py test` | 1 min 31 s | 2 cores, idle," in table and "| 5 min 40 s | in CI," in table


def test_every_marker_in_the_docs_renders_from_the_committed_file():
    data = json.loads((REPO / "docs" / "figures.json").read_text())
    pages = [p for p in (REPO / "docs").glob("*.md") if "<!-- figures:" in p.read_text()]
    assert {p.name for p in pages} >= {"measured.md", "waiting-at-scale.md"}
    for page in pages:
        rendered = render(page.read_text(), data)
        assert "<!-- figures:" not in rendered and "no figures recorded yet" not in rendered, page.name
    with pytest.raises(ValueError, match="unknown figures section"):
        render("<!-- figures: nope -->", data)


def test_no_page_types_a_benchmark_figure_by_hand():
    """The waiting-at-scale page's tables come from the file: its prose holds none of their rows."""
    page = (REPO / "docs" / "waiting-at-scale.md").read_text()
    assert "| N | poller |" not in page and "| storm |" not in page
    readme = (REPO / "README.md").read_text()
    assert " s, 51 s and 76 s" not in readme  # the demo's times, once copied into the Quickstart


def test_the_benchmarks_name_their_figures_as_the_committed_file_does(tmp_path, monkeypatch):
    """A benchmark that renamed a case would start a second row beside the recorded one: the names it
    records are the committed file's."""
    import argparse

    import figures

    sys.path.insert(0, str(REPO / "benchmarks"))
    from waiting_scale import record_figures

    path = tmp_path / "figures.json"
    real_record = figures.record
    monkeypatch.setenv("AXIOM_RECORD_FIGURES", "1")
    monkeypatch.setattr(figures, "record", lambda *args, **kwargs: real_record(*args, **kwargs, path=path))

    def result(n: int) -> dict:
        return {
            "n": n,
            "calls_per_min": {"run-reports": 8.0, "run-data": 70.0},
            "correct": n,
            "rate_limited": 0,
            "max_in_60s": 85,
            "p50": 2.0,
            "p95": 5.0,
            "detect_p50": 1.0,
            "detect_p95": 4.0,
            "rss_kib_per_run": 50.0,
        }

    def cases(*sizes: int, one_name: int = 0, naive: bool = True) -> list[dict]:
        named = [{"case": "N names", "provider": result(n), **({"naive": result(n)} if naive else {})} for n in sizes]
        return named + ([{"case": "one name", "provider": result(one_name)}] if one_name else [])

    def storm(procs: int, share: int = 0) -> dict:
        return {"procs": procs, "share": share, "calls": 200, "started": 200, "errors": {}, "duplicates": 0}

    storms = [
        {**storm(1), "time_to_start_all": 140, "rate_limited": 0, "max_in_60s": 85},
        {**storm(4), "time_to_start_all": 144, "rate_limited": 20, "max_in_60s": 120},
        {**storm(4, 25), "time_to_start_all": 139, "rate_limited": 0, "max_in_60s": 88},
    ]
    args = argparse.Namespace(speed=1.0, quick=False, fetch_output=True)
    assert record_figures(cases(10, 50, 200, 1000, one_name=50), storms, args, [])
    args.fetch_output = False
    assert record_figures(cases(1000, naive=False), [], args, [])  # measured without the naive rows
    recorded, committed = load(path), load()
    for section in ("waiting_scale", "trigger_storm"):
        assert set(recorded[section]) == set(committed[section]), section
