"""The README's "Without a clone" Quickstart, run as written: the docs cannot drift from what works.

The commands are read from the README's own text (the bash block after the
``<!-- quickstart: wheel`` comment) and run in bash, in an empty folder, with none of this session's
Airflow settings: the wheel built from this checkout is installed into a new venv, the block makes
``AIRFLOW_HOME`` and its DAGs folder, migrates the database, starts the emulator and runs the
example DAG. Two things differ from a user's shell, both outside the block's text: ``pip install``
is uv's (the same install, from the uv cache) with this checkout's wheel for the package name, and
the emulator's port is a free one instead of 8099 (another process may hold 8099).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.figures import record_time

REPO = Path(__file__).resolve().parent.parent
MARK = "<!-- quickstart: wheel"


def quickstart_block(readme: str) -> str:
    """The bash block that follows the ``<!-- quickstart: wheel`` comment."""
    after = readme[readme.index(MARK) :]
    match = re.search(r"```bash\n(.*?)\n```", after, re.S)
    assert match, "no bash block after the quickstart mark"
    return match.group(1)


def test_the_block_is_the_one_the_readme_shows():
    block = quickstart_block((REPO / "README.md").read_text())
    for needed in (
        'pip install airflow-provider-axiom "apache-airflow==',
        'export AIRFLOW_HOME="$PWD/airflow-home"',
        'mkdir -p "$AIRFLOW_HOME/dags"',
        "airflow db migrate",
        "axiom-emulator --port 8099 --scenario demo &",
        "airflow dags test example_axiom_trigger_and_wait",
    ):
        assert needed in block


def test_the_readme_stays_a_front_page():
    """What it is, install, Quickstart, one example, links: the rest lives in docs/ (about 15 KB at most)."""
    assert len((REPO / "README.md").read_bytes()) <= 15_500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.airflow_db
def test_the_wheel_quickstart_runs_as_written(tmp_path: Path):
    started = time.monotonic()
    # uv beside this Python (.venv has it), else the checkout's .venv's (a matrix venv installs only its lock)
    uv = next((p for p in (Path(sys.executable).with_name("uv"), REPO / ".venv" / "bin" / "uv") if p.exists()), None)
    assert uv is not None, "uv is installed in .venv by dev.py; run `python3 dev.py venv` first"
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    built = subprocess.run(
        [str(uv), "build", "--wheel", "--quiet", "--out-dir", str(dist)], cwd=REPO, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    made = subprocess.run([str(uv), "venv", "--quiet", "-p", sys.executable, str(venv)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-3000:]

    block = quickstart_block((REPO / "README.md").read_text())
    port = _free_port()
    prelude = f"""
set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
pip() {{  # the README's `pip install`, through uv, with this checkout's wheel for the package
    [ "$1" = install ] || {{ echo "pip $1: not in the quickstart" >&2; return 1; }}
    shift
    local args=() a
    for a in "$@"; do [ "$a" = airflow-provider-axiom ] && args+=("{wheel}") || args+=("$a"); done
    "{uv}" pip install --quiet --python "$VIRTUAL_ENV/bin/python" "${{args[@]}}"
}}
"""
    script = prelude + block.replace("8099", str(port)) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "AXIOM"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout[-6000:] + result.stderr[-6000:]
    assert result.returncode == 0, output

    # what the user sees: the example DAG's run succeeded, in the AIRFLOW_HOME the block made
    db = work / "airflow-home" / "airflow.db"
    with sqlite3.connect(db) as conn:
        states = conn.execute("select state from dag_run where dag_id = 'example_axiom_trigger_and_wait'").fetchall()
    assert states == [("success",)], output
    assert "Scrape product prices: Success, 8 rows" in result.stdout + result.stderr  # what the README says it prints
    assert (work / "airflow-home" / "dags" / "example_axiom_trigger_and_wait.py").is_file()
    elapsed = time.monotonic() - started
    print(f"the wheel Quickstart ran in {elapsed:.0f} s")
    record_time("wheel Quickstart test", elapsed, by="`tests/test_quickstart.py` (build, venv, the block)")
    shutil.rmtree(venv, ignore_errors=True)
