"""Measured figures in one place: ``docs/figures.json``, written by the commands that measure them.

``dev.py`` (each timed command and each part of ``dev.py e2e``), the benchmarks and the wheel
Quickstart test call :func:`record` when ``AXIOM_RECORD_FIGURES=1`` is set (a measuring run: CI, or
a developer refreshing the figures, who then commits the file); otherwise nothing is written, so an
everyday run leaves the working tree alone. ``AXIOM_FIGURES_CONTEXT`` names the conditions (default
``"<n> cores"``); a figure replaces the one of the same name and context. The docs show the file
through ``scripts/mkdocs_figures.py``; no page types a figure by hand.

Standard library only: ``dev.py`` imports it before any venv exists.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any

FILE = Path(__file__).resolve().parent.parent / "docs" / "figures.json"


def recording() -> bool:
    """Whether this run writes its figures (``AXIOM_RECORD_FIGURES=1``)."""
    return os.environ.get("AXIOM_RECORD_FIGURES", "") not in ("", "0", "false", "False")


def context() -> str:
    return os.environ.get("AXIOM_FIGURES_CONTEXT") or f"{os.cpu_count()} cores"


def load(path: Path = FILE) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(section: str, name: str, values: dict[str, Any], *, by: str, path: Path = FILE) -> bool:
    """Store ``values`` as figure ``name`` of ``section`` (replacing the one of the same context).

    ``by`` is the command that measured it. Returns False (and writes nothing) unless recording.
    """
    if not recording():
        return False
    data = load(path)
    entries = [e for e in data.setdefault(section, {}).get(name, []) if e.get("context") != context()]
    entries.append(
        {
            **values,
            "context": context(),
            "measured": datetime.date.today().isoformat(),
            "python": platform.python_version(),
            "by": by,
        }
    )
    data[section][name] = entries
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return True


def record_time(name: str, seconds: float, *, by: str, path: Path = FILE) -> bool:
    """A command's wall time, in seconds."""
    return record("times", name, {"seconds": round(seconds, 1)}, by=by, path=path)
