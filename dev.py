#!/usr/bin/env python3
"""Task runner that needs nothing but Python >= 3.10: ``python3 dev.py <command>``.

Commands:
  demo       the main job: emulator + example DAG through `airflow dags test`, output rows printed
  test       everything CI runs: ruff, ruff format --check, mypy, the whole pytest suite
  lint       ruff check and ruff format --check
  typecheck  mypy
  unit       pytest (extra arguments are passed on)
  bench      the benchmarks (they print figures)
  emulator   an emulator on http://127.0.0.1:8099/api/v3 with the demo scenario
  venv       create or update .venv only

The first command creates .venv and installs the project with its dev extras (uv, from PyPI, makes
that take seconds); later commands reinstall only when pyproject.toml has changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def sh(*cmd: str | Path) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    steps = [
        (sys.executable, "-m", "venv", VENV),
        (BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"),
        (BIN / "uv", "pip", "install", "--python", BIN / "python", "--quiet", "-e", ".[dev]"),
    ]
    for step in steps:
        if sh(*step) != 0:
            sys.exit(f"dev.py: setting up {VENV.name} failed")
    STAMP.write_text(wanted + "\n")


def lint() -> int:
    return sh(BIN / "ruff", "check", ".") or sh(BIN / "ruff", "format", "--check", ".")


def typecheck() -> int:
    return sh(BIN / "mypy")


def unit(*args: str) -> int:
    return sh(BIN / "python", "-m", "pytest", *args)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 -- say so instead of failing obscurely
        sys.exit("dev.py: Python >= 3.10 is needed")
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    commands = {
        "venv": lambda: 0,
        "demo": lambda: sh(BIN / "python", "scripts/demo.py"),
        "test": lambda: lint() or typecheck() or unit(*args),
        "lint": lint,
        "typecheck": typecheck,
        "unit": lambda: unit(*args),
        "bench": lambda: (
            sh(BIN / "python", "benchmarks/emulator_load.py") or sh(BIN / "python", "benchmarks/trigger_fanout.py")
        ),
        "emulator": lambda: sh(BIN / "axiom-emulator", "--port", "8099", "--scenario", "demo"),
    }
    if command not in commands:
        print(__doc__)
        return 0 if command in ("help", "-h", "--help") else 2
    ensure_venv()
    return commands[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
