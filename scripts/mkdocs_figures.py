"""MkDocs hook: a page's ``<!-- figures: SECTION -->`` line becomes a table of ``docs/figures.json``.

The figures are written by the commands that measure them (``scripts/figures.py``); the pages hold
only the markers, so no figure is ever copied into prose. An unknown section fails the build.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import FILE, load

MARKER = re.compile(r"^<!-- figures: ([a-z_]+) -->$", re.M)


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{seconds:.1f} s" if seconds < 60 else f"{minutes} min {rest:02d} s"


def _where(entry: dict[str, Any]) -> str:
    python = f", Python {entry['python']}" if entry.get("python") else ""
    return f"{entry.get('context', '')}{python}, {entry.get('measured', '?')}"


def _times(section: dict[str, Any]) -> list[str]:
    lines = ["| command | time | conditions | measured by |", "|---|---:|---|---|"]
    for name in sorted(section):
        for entry in section[name]:
            lines.append(f"| `{name}` | {_duration(entry['seconds'])} | {_where(entry)} | {entry.get('by', '')} |")
    return lines


def _pair(entry: dict[str, Any], a: str, b: str) -> str:
    if entry.get(a) is None and entry.get(b) is None:
        return "—"
    return f"{_num(entry.get(a))} / {_num(entry.get(b))}"


def _waiting_scale(section: dict[str, Any]) -> list[str]:
    lines = [
        "| N | poller | events correct | calls/min: run-reports / run-data | 429s | most calls in 60 s "
        "| status detection p50 / p95 (s) | event p50 / p95 (s) | peak RSS per waiting run | conditions |",
        "|---:|---|---:|---|---:|---:|---|---|---:|---|",
    ]
    rows = [(name, entry) for name, entries in section.items() for entry in entries]
    rows.sort(key=lambda r: (r[1].get("poller") != "provider", r[1].get("variant", ""), r[1].get("n", 0)))
    for _name, e in rows:
        n = f"{_num(e['n'])}{', ' + e['variant'] if e.get('variant') else ''}"
        rss = e.get("rss_kb_per_run")
        rss_text = "—" if rss is None else (f"{rss / 1024:.1f} MB" if rss >= 1024 else f"{rss:.0f} KB")
        lines.append(
            f"| {n} | {e['poller']} | {_num(e['correct'])}/{_num(e['n'])} "
            f"| {_num(e.get('calls_per_min_reports'), 0)} / {_num(e.get('calls_per_min_data'), 0)} "
            f"| {_num(e.get('rate_limited'))} | {_num(e.get('max_in_60s'))} "
            f"| {_pair(e, 'detect_p50', 'detect_p95')} "
            f"| {_pair(e, 'event_p50', 'event_p95') if e.get('event_p50') is not None else 'no events'} "
            f"| {rss_text} | {_where(e)}; {e.get('by', '')} |"
        )
    return lines


def _trigger_storm(section: dict[str, Any]) -> list[str]:
    lines = [
        "| storm | started | errors reaching callers | duplicates | time to start all | 429s | most calls in 60 s "
        "| conditions |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in sorted(section):
        for e in section[name]:
            lines.append(
                f"| {name} | {_num(e['started'])} | {_num(e['errors'])} | {_num(e['duplicates'])} "
                f"| {_num(e['time_to_start_all'], 0)} s | {_num(e['rate_limited'])} | {_num(e['max_in_60s'])} "
                f"| {_where(e)}; {e.get('by', '')} |"
            )
    return lines


def _emulator_load(section: dict[str, Any]) -> list[str]:
    lines = ["| load | requests/s | p50 | p99 | errors | conditions |", "|---|---:|---:|---:|---:|---|"]
    for name in sorted(section):
        for e in section[name]:
            lines.append(
                f"| {name} | {_num(e['throughput'], 0)} | {_num(e['p50_ms'])} ms | {_num(e['p99_ms'])} ms "
                f"| {_num(e['errors'])} | {_where(e)}; {e.get('by', '')} |"
            )
    return lines


def _queued_wait(section: dict[str, Any]) -> list[str]:
    lines = [
        "| mode | tasks (waiting for a slot) | added wait p50 / p95 / max (s) | wanted to started p50 / p95 (s) "
        "| queued by the API | wrong rows | conditions |",
        "|---|---:|---|---|---:|---:|---|",
    ]
    for name in sorted(section, reverse=True):
        for e in section[name]:
            lines.append(
                f"| {name} | {_num(e['tasks'])} ({_num(e['contended'])}) "
                f"| {_num(e['added_p50'], 0)} / {_num(e['added_p95'], 0)} / {_num(e['added_max'], 0)} "
                f"| {_num(e['start_p50'], 0)} / {_num(e['start_p95'], 0)} | {_num(e['queued'])} | {_num(e['wrong'])} "
                f"| {_where(e)}; {e.get('by', '')} |"
            )
    return lines


RENDER = {
    "queued_wait": _queued_wait,
    "times": _times,
    "waiting_scale": _waiting_scale,
    "trigger_storm": _trigger_storm,
    "emulator_load": _emulator_load,
}


def render(markdown: str, data: dict[str, Any]) -> str:
    def table(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in RENDER:
            raise ValueError(f"unknown figures section {name!r} (known: {', '.join(RENDER)})")
        section = data.get(name) or {}
        if not section:
            return f"*(no figures recorded yet in `docs/{FILE.name}`, section `{name}`)*"
        return "\n".join(RENDER[name](section))

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- figures:" not in markdown:
        return markdown
    return render(markdown, load())
