#!/usr/bin/env python3
"""Task runner that needs nothing but Python >= 3.10: ``python3 dev.py <command>``.

Commands:
  test       the contributor's loop: ruff, ruff format --check, mypy and every test that starts no
             Airflow process (pytest -m "not e2e and not airflow_db", in two processes at once) on the
             default Airflow; its time is printed (the times measured: docs/measured.md)
  e2e        every test that runs Airflow itself, on the default Airflow: the `airflow dags test`
             runs and the airflow CLI (three processes), and the real scheduler, dag-processor,
             triggerer and api-server tests (the soak, the fan-out, the asset watcher, the shared
             key, and the triggerer, metrics and browser tests on one shared Airflow), in pytest
             processes three at a time; each one's output and time are printed as it ends.
             `--with-oldest` adds the e2e tests that differ between minors on the oldest Airflow.
             Other arguments make it one pytest run of them all, e.g. `e2e -m "e2e and not soak"`
  lint       ruff check and ruff format --check
  typecheck  mypy
  unit       pytest (extra arguments are passed on)
  bench      the benchmarks (they print figures; arguments go to waiting_scale.py, e.g. `bench --quick`)
  emulator   an emulator on http://127.0.0.1:8099/api/v3 with the demo scenario
  docs       the documentation site (MkDocs, docs/ and mkdocs.yml), served with live reload on
             http://127.0.0.1:8000; `docs build` builds it strictly into site/ as CI does (a broken
             link or anchor, or a docstring reference that does not resolve, fails it). Installs the
             `docs` extra into .venv the first time. Other arguments go to mkdocs
  venv       create or update .venv only
  venvs      also the matrix venvs named, e.g. `venvs 3.0 3.1-py3.13` (CI makes them before its lanes)
  matrix     the suite on every supported Airflow minor, each in its own venv, in legs, each timed: unit
             (what `test` runs but lint), dags (-m airflow_db), e2e (-m "e2e and not soak"), soak
             (-m soak). `matrix 3.0 3.3` runs only those minors; `matrix 3.0-py3.12` picks the
             Python; `matrix 3.0 --legs unit,dags` only those legs (default: unit,dags,e2e).
             Arguments after `--` go to pytest. `matrix --newest [3.0 ...]` is the drift report
             instead: each minor with the newest of every dependency (its caps lifted), what is
             newer than its lock, its unit leg (or `--legs`), and which newer releases break it;
             it only reports (CI never runs it)
  lock       compile locks/airflow-<minor>-py<python>.txt, the exact sets every venv and CI
             install, from locks/airflow-<minor>.in and pyproject.toml; `lock --upgrade` renews
             every version (one command, one commit); `lock 3.0` only that minor
  package    build the wheel and sdist, check their metadata (twine), install the wheel into a clean
             venv beside the oldest supported Airflow, and check that Airflow finds the provider

With AXIOM_RECORD_FIGURES=1, a command that passes writes its time (and `bench` its figures) into
docs/figures.json, the one home of measured figures (docs/measured.md); commit the file after such a
run. Without it nothing is written.

The first command creates .venv (the newest Airflow on the Python running dev.py) and installs its
lock, the project and its extras (uv, from PyPI, makes that take seconds) and compiles them to
bytecode; later commands reinstall only when the lock has changed, and stop when a lock is older
than pyproject.toml or its .in file (`dev.py lock` renews it). The matrix venvs live in .venvs/.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.figures import record_time

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENVS = ROOT / ".venvs"
BIN_DIR = "Scripts" if os.name == "nt" else "bin"
BIN = VENV / BIN_DIR
UV = BIN / "uv"
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

#: uv, pinned: it makes every venv and compiles the locks.
UV_VERSION = "0.13.9"
#: What each Airflow minor installs is in locks/: ``airflow-<minor>.in`` names the release tested and
#: what it needs beyond its own requirements (each with why), and ``airflow-<minor>-py<python>.txt``
#: is the whole set compiled from it and pyproject.toml by ``dev.py lock``: every venv here (and CI)
#: installs exactly that set. Airflow minor -> (the Python of its matrix leg, the Pythons it is locked for).
LOCKS = ROOT / "locks"
AIRFLOWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "3.0": ("3.10", ("3.10", "3.11", "3.12")),  # Airflow 3.0 does not support Python 3.13
    "3.1": ("3.11", ("3.10", "3.11", "3.12", "3.13")),
    "3.2": ("3.12", ("3.10", "3.11", "3.12", "3.13")),
    "3.3": ("3.13", ("3.10", "3.11", "3.12", "3.13")),
}
DEFAULT_AIRFLOW = "3.3"
OLDEST_AIRFLOW = min(AIRFLOWS, key=lambda minor: tuple(int(p) for p in minor.split(".")))
#: The platform the locks are compiled for (CI's and the Airflow images'); a lock pins versions only,
#: so it serves as a constraints file elsewhere too.
LOCK_PLATFORM = "x86_64-manylinux_2_28"

#: The suite's parts, by pytest marker (pyproject.toml): name -> the marker expression that selects it.
LEGS: dict[str, str] = {
    # no Airflow process at all: `dev.py test` (in two processes at once, see UNIT_SHARDS)
    "unit": "not e2e and not airflow_db",
    # `airflow dags test` and the airflow CLI against a migrated DB: each run is a process of about
    # 25 s of CPU, so they run with the e2e tests (in three processes at once, see DAGS_SHARDS)
    "dags": "airflow_db",
    # a real Airflow's components in subprocesses; the browser test skips without Chromium
    "e2e": "e2e and not soak",
    # the soak and the shared key: minutes of load each, nothing version-specific beyond `e2e`
    "soak": "soak",
}
DEFAULT_LEGS = ("unit", "dags", "e2e")
#: The unit leg in two pytest processes at once (2 cores): the tests that start subprocesses or a
#: hypothesis search, and the rest; balanced by time (about 85 s each on an idle machine).
_SHARD_A = (
    "tests/emulator",
    "tests/test_provider.py",
    "tests/test_properties.py",
    "tests/test_waiting.py",
    "tests/test_dag_test_recipe.py",
)
UNIT_SHARDS: tuple[tuple[str, ...], ...] = (
    (*_SHARD_A, "-m", LEGS["unit"]),
    ("tests", *(f"--ignore={path}" for path in _SHARD_A), "-m", LEGS["unit"]),
)
#: The dags leg in three pytest processes at once, each with its own metadata DB: an `airflow dags
#: test` process spends much of its time waiting for the emulator's runs and for backoff, so three
#: share 2 cores well (one process: 12.5 minutes; these three: about 5).
#: Shards select by file (or marker), never by test name: renaming a test must not move it to
#: another shard. The transient bursts and the lasting faults are about a third of the leg each.
_BURSTS = "tests/test_transient_bursts.py"
_LASTING = "tests/test_lasting_faults.py"
DAGS_SHARDS: tuple[tuple[str, ...], ...] = (
    (_BURSTS, "-m", LEGS["dags"]),
    (_LASTING, "-m", LEGS["dags"]),
    ("tests", f"--ignore={_BURSTS}", f"--ignore={_LASTING}", "-m", LEGS["dags"]),
)
#: Legs that run as shards; the others are one pytest process.
SHARDED_LEGS = {"unit": UNIT_SHARDS, "dags": DAGS_SHARDS}

#: `dev.py e2e`: every test that runs Airflow itself, as pytest processes run a few at a time, longest
#: first (a real Airflow mostly waits: for its runs, its ticks, real backoff). Each e2e process starts
#: the Airflows its modules ask for; the last one runs every module not named before it, so a new
#: module is never left out, with the modules that share one Airflow (``airflow_e2e``).
_E2E_ALONE = {
    "soak": "tests/e2e/test_soak.py",
    "faults": "tests/e2e/test_faults_through_airflow.py",
    "fan-out": "tests/e2e/test_fan_out.py",
    "asset watcher": "tests/e2e/test_asset_watcher.py",
    "shared key": "tests/e2e/test_shared_key.py",
}


def _e2e_but(*parts: str) -> tuple[str, ...]:
    """Every e2e module but those of ``parts`` (keys of ``_E2E_ALONE``)."""
    return ("tests/e2e", *(f"--ignore={_E2E_ALONE[part]}" for part in parts), "-m", "e2e")


E2E_JOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("e2e: soak", (_E2E_ALONE["soak"],)),
    ("e2e: fan-out", (_E2E_ALONE["fan-out"],)),
    # the burst, retry and timeout tests mostly wait out real backoff
    ("e2e: bursts, retry, timeout", (_E2E_ALONE["faults"],)),
    *((f"dags: {i + 1} of {len(DAGS_SHARDS)}", shard) for i, shard in enumerate(DAGS_SHARDS)),
    ("e2e: asset watcher", (_E2E_ALONE["asset watcher"],)),
    ("e2e: shared key", (_E2E_ALONE["shared key"],)),
    ("e2e: triggerer, metrics, UI", _e2e_but(*_E2E_ALONE)),
)
#: What `dev.py e2e --with-oldest` also runs on the oldest Airflow: what differs between minors (the
#: triggerer's cancel and restart, trigger-side metrics, the connection form, asset watchers without
#: the asset state store, the held fan-out's triggerer, per-task trigger logs) in one process, and the
#: fan-out in another (the run-id readings through real task processes and two triggerers; there its
#: DAGs run one after another: 160 tasks at once lock 3.0's dag-processor out of sqlite). The soak,
#: the shared key, the burst tests and the `dags test` runs exercise the provider's own code, the same
#: on every minor (`dev.py matrix` runs them anywhere).
OLDEST_E2E = _e2e_but("soak", "faults", "fan-out", "shared key")
OLDEST_E2E_ALONE = (_E2E_ALONE["fan-out"],)
#: At most this many test processes at once, and a new one only this long after the last started:
#: each Airflow takes both cores for 20 to 40 s to start.
E2E_AT_ONCE = 3
E2E_START_GAP = 30.0


def sh(*cmd: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> int:
    shown = [("<script>" if "\n" in str(c) else str(c)) for c in cmd]
    print("+", " ".join(shown), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=cwd, env=env)


def airflow_inputs(minor: str) -> Path:
    """locks/airflow-<minor>.in: the release tested and the caps the minor needs, each with why."""
    return LOCKS / f"airflow-{minor}.in"


def requirement_lines(path: Path) -> list[str]:
    """The requirements of a requirements file, without comments and blank lines."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _requirement_name(requirement: str) -> str:
    name = requirement
    for stop in "<>=!~[; ":
        name = name.split(stop, 1)[0]
    return normalise(name)


def normalise(name: str) -> str:
    """A distribution's name as PyPI compares them."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


def airflow_release(minor: str) -> str:
    for requirement in requirement_lines(airflow_inputs(minor)):
        name, sep, version = requirement.partition("==")
        if sep and normalise(name) == "apache-airflow":
            return version.strip()
    sys.exit(f"dev.py: {airflow_inputs(minor).relative_to(ROOT)} names no apache-airflow==<release>")


def airflow_caps(minor: str) -> list[str]:
    """What the minor needs beyond its own requirements (the README's install advice)."""
    return [r for r in requirement_lines(airflow_inputs(minor)) if _requirement_name(r) != "apache-airflow"]


def lock_path(minor: str, python: str) -> Path:
    return LOCKS / f"airflow-{minor}-py{python}.txt"


LOCK_STAMP = "# inputs: "


def _lock_inputs(minor: str, python: str) -> str:
    """A digest of what a lock is compiled from: the minor's inputs, the project's dependencies, the Python."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    parts = [python, LOCK_PLATFORM, *requirement_lines(airflow_inputs(minor))]
    parts.append(
        json.dumps([project.get("dependencies", []), project.get("optional-dependencies", {})], sort_keys=True)
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def checked_lock(minor: str, python: str) -> Path:
    """The lock of ``minor`` on ``python``; exits when there is none or it is older than its inputs."""
    path = lock_path(minor, python)
    if python not in AIRFLOWS[minor][1]:
        sys.exit(f"dev.py: Airflow {minor} is not locked for Python {python} (locked: {', '.join(AIRFLOWS[minor][1])})")
    stamp = path.read_text().splitlines()[0] if path.exists() else ""
    if stamp != LOCK_STAMP + _lock_inputs(minor, python):
        why = "is missing" if not path.exists() else "is older than pyproject.toml or its .in file"
        sys.exit(f"dev.py: {path.relative_to(ROOT)} {why}: run `python3 dev.py lock` and commit locks/")
    return path


def locked_versions(path: Path) -> dict[str, str]:
    """name -> version of a lock (or of `uv pip freeze`'s output)."""
    pinned = (r.partition("==") for r in requirement_lines(path))
    return {_requirement_name(name): version.strip() for name, sep, version in pinned if sep}


def ensure_uv() -> None:
    """.venv with uv (UV_VERSION) in it: uv makes every other venv (and .venv's own install)."""
    if UV.exists():
        out = subprocess.run([str(UV), "--version"], capture_output=True, text=True)
        if out.stdout.split()[1:2] == [UV_VERSION]:
            return
    steps = [(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"uv=={UV_VERSION}")]
    if not (BIN / "python").exists():
        steps.insert(0, (sys.executable, "-m", "venv", VENV))
    for step in steps:
        if sh(*step) != 0:
            sys.exit(f"dev.py: setting up {VENV.name} failed")


def install(venv: Path, minor: str, python: str, *, editable: bool = True) -> None:
    """Install exactly the lock of ``minor`` on ``python``, and the project, into ``venv``, unless done.

    The installed files are compiled to bytecode once, here: uv does not do it by default, and where
    ``PYTHONDONTWRITEBYTECODE`` is set no process ever caches it, so every Airflow process (each
    component, ``airflow dags test``, a fresh interpreter in a test) would compile Airflow again:
    about 4 s of CPU more per process (an ``import airflow.models``: 7 s instead of 3).
    """
    lock = checked_lock(minor, python)
    stamp = venv / ".installed"
    wanted = hashlib.sha256(lock.read_bytes() + f"{editable} compiled".encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    project = ("-e", ".") if editable else (".",)
    python_exe = venv / BIN_DIR / "python"
    # --no-deps: the lock is the whole set (the project's dev extras included); nothing is resolved anew
    if sh(UV, "pip", "install", "--python", python_exe, "--quiet", "--no-deps", "-r", lock, *project) != 0:
        sys.exit(f"dev.py: installing {lock.relative_to(ROOT)} into {venv.relative_to(ROOT)} failed")
    compile_site_packages(python_exe)
    stamp.write_text(wanted + "\n")


def compile_site_packages(python: Path) -> None:
    # A few files in site-packages are not meant to compile (templates): compile_dir's result is ignored.
    sh(python, "-c", _COMPILE_SITE_PACKAGES)


_COMPILE_SITE_PACKAGES = (
    "import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()['purelib'], quiet=2, workers=0)"
)


def ensure_venv() -> None:
    ensure_uv()
    install(VENV, DEFAULT_AIRFLOW, THIS_PYTHON)


# ---------------------------------------------------------------------------------------- pythons


def _python_version(exe: str | Path) -> str | None:
    try:
        out = subprocess.run(
            [str(exe), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python(version: str) -> str:
    """An interpreter of ``version`` (e.g. "3.10"): this one, one on PATH, or one of pyenv's."""
    if version == THIS_PYTHON:
        return sys.executable
    candidates: list[str] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            pyenv_root = out.stdout.strip()
    found = glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", f"python{version}"))
    candidates.extend(sorted(found, key=lambda p: [int(x) for x in Path(p).parts[-3].split(".") if x.isdigit()])[::-1])
    for candidate in candidates:  # a pyenv shim on PATH fails when that version is not selected
        if _python_version(candidate) == version:
            return candidate
    return version  # uv's own discovery is the last resort


# ---------------------------------------------------------------------------------------- matrix


def parse_leg_spec(spec: str) -> tuple[str, str]:
    """ "3.0" -> ("3.0", the minor's Python); "3.0-py3.12" -> ("3.0", "3.12")."""
    minor, _, python = spec.partition("-py")
    if minor not in AIRFLOWS:
        sys.exit(f"dev.py: unknown Airflow minor {minor!r}; known: {', '.join(AIRFLOWS)}")
    return minor, python or AIRFLOWS[minor][0]


def matrix_venv(minor: str, python: str) -> Path:
    venv = VENVS / f"airflow-{minor}-py{python}"
    interpreter = find_python(python)
    fresh = (venv / BIN_DIR / "python").exists() and _python_version(venv / BIN_DIR / "python") == python
    if not fresh and sh(UV, "venv", "--quiet", "--clear", "-p", interpreter, venv) != 0:
        sys.exit(f"dev.py: no Python {python} for {venv.relative_to(ROOT)} (try `pyenv install {python}`)")
    install(venv, minor, python)
    return venv


def fmt(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def matrix(args: list[str]) -> int:
    pytest_args: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, pytest_args = args[:at], args[at + 1 :]
    legs = list(DEFAULT_LEGS)
    if "--legs" in args:
        at = args.index("--legs")
        legs = args[at + 1].split(",")
        args = args[:at] + args[at + 2 :]
        unknown = set(legs) - set(LEGS)
        if unknown:
            sys.exit(f"dev.py: unknown legs {sorted(unknown)}; known: {', '.join(LEGS)}")
    newest_mode = "--newest" in args
    args = [a for a in args if a != "--newest"]
    specs = [parse_leg_spec(a) for a in args] or [parse_leg_spec(m) for m in AIRFLOWS]
    if newest_mode:
        return newest(specs, legs if "--legs" in sys.argv else ["unit"], pytest_args)
    results: list[tuple[str, str, int, float]] = []
    started = time.monotonic()
    for minor, python in specs:
        release = airflow_release(minor)
        label = f"Airflow {release} / Python {python}"
        print(f"\n=== {label}: venv", flush=True)
        t0 = time.monotonic()
        venv = matrix_venv(minor, python)
        results.append((label, "venv", 0, time.monotonic() - t0))
        for leg in legs:
            print(f"\n=== {label}: {leg}", flush=True)
            t0 = time.monotonic()
            rc = run_leg(venv / BIN_DIR / "python", leg, pytest_args)
            elapsed = time.monotonic() - t0
            results.append((label, leg, rc, elapsed))
            print(f"=== {label}: {leg} {'passed' if rc == 0 else f'FAILED (exit {rc})'} in {fmt(elapsed)}", flush=True)
    print("\n=== matrix summary")
    for label, leg, rc, elapsed in results:
        print(f"  {label:<32} {leg:<5} {'ok    ' if rc == 0 else 'FAILED'} {fmt(elapsed):>9}")
    print(f"  total {fmt(time.monotonic() - started)}", flush=True)
    return 1 if any(rc for _, _, rc, _ in results) else 0


# ---------------------------------------------------------------------------------------- locks


def lock(args: list[str]) -> int:
    """Compile locks/airflow-<minor>-py<python>.txt from its .in file and pyproject.toml (every extra).

    uv keeps the versions a lock already has where they still fit; ``--upgrade`` takes the newest
    of everything instead (renewing the locks: one command, one commit). ``lock 3.0`` only that minor.
    """
    upgrade = "--upgrade" in args
    minors = [a for a in args if a != "--upgrade"] or list(AIRFLOWS)
    for minor in minors:
        if minor not in AIRFLOWS:
            sys.exit(f"dev.py: unknown Airflow minor {minor!r}; known: {', '.join(AIRFLOWS)}")
    targets = [(minor, python) for minor in minors for python in AIRFLOWS[minor][1]]
    started = time.monotonic()

    def compile_one(target: tuple[str, str]) -> tuple[str, int, str]:
        minor, python = target
        out = lock_path(minor, python).relative_to(ROOT)
        cmd = [str(UV), "pip", "compile", "--quiet", "pyproject.toml", "--all-extras"]
        cmd += [str(airflow_inputs(minor).relative_to(ROOT)), "--python-version", python]
        cmd += ["--python-platform", LOCK_PLATFORM, "--output-file", str(out)]
        cmd += ["--custom-compile-command", "python3 dev.py lock", *(["--upgrade"] if upgrade else [])]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode == 0:
            path = ROOT / out
            path.write_text(LOCK_STAMP + _lock_inputs(minor, python) + "\n" + path.read_text())
        return str(out), done.returncode, done.stderr

    import concurrent.futures  # only here: the other commands need none of it

    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # uv mostly waits for the package index
        outcomes = list(pool.map(compile_one, targets))
    for out, rc, err in outcomes:
        print(f"  {out:<34} {'written' if rc == 0 else 'FAILED: ' + err.strip()[-600:]}")
    print(f"=== lock: {len(targets)} locks in {fmt(time.monotonic() - started)}", flush=True)
    return 1 if any(rc for _, rc, _ in outcomes) else 0


def newest(specs: list[tuple[str, str]], legs: list[str], pytest_args: list[str]) -> int:
    """The drift report: each minor with the newest of everything (its caps lifted), against its lock.

    For each minor it installs the release tested and the newest of every other package into a fresh
    venv, lists what is newer than the lock, and runs ``legs`` (default the unit leg). When they fail,
    it finds which newer releases break it: with the lock's versions the failing tests pass, so it
    brings the newer releases in by halves (``uv pip install --no-deps``) and reruns only those tests
    until one release is left; then again with that one held back, until the tests pass. It reports;
    it never gates anything, and it changes no lock.
    """
    report: list[str] = []
    started = time.monotonic()
    for minor, python in specs:
        release, lock = airflow_release(minor), checked_lock(minor, python)
        label = f"Airflow {release} / Python {python}"
        venv = VENVS / f"newest-airflow-{minor}-py{python}"
        print(f"\n=== {label}: the newest of everything", flush=True)
        if sh(UV, "venv", "--quiet", "--clear", "-p", find_python(python), venv) != 0:
            return 2
        py = venv / BIN_DIR / "python"
        extras = ",".join(_extras())
        if sh(UV, "pip", "install", "--quiet", "--python", py, "-e", f".[{extras}]", f"apache-airflow=={release}") != 0:
            report.append(f"{label}: the newest releases do not install together with Airflow {release} (above)")
            continue
        compile_site_packages(py)
        locked = locked_versions(lock)
        frozen = subprocess.run([str(UV), "pip", "freeze", "--python", str(py)], capture_output=True, text=True)
        installed = {
            _requirement_name(n): v.strip()
            for n, sep, v in (r.partition("==") for r in frozen.stdout.splitlines())
            if sep
        }
        newer = {
            name: (locked[name], v) for name, v in sorted(installed.items()) if name in locked and locked[name] != v
        }
        listed = ", ".join(f"{n} {old} -> {new}" for n, (old, new) in newer.items()) or "none"
        print(f"=== {label}: newer than {lock.relative_to(ROOT)}: {listed}", flush=True)
        with tempfile.TemporaryDirectory(prefix="axiom-newest-") as tmp:
            failing: list[str] = []
            for leg in legs:
                rc = run_leg(py, leg, [*pytest_args, f"--junitxml={tmp}/{leg}-{{shard}}.xml"])
                failing += _failed_tests(Path(tmp)) if rc else []
                if rc and not failing:
                    failing = ["tests", "-m", LEGS[leg]]  # no test named (a collection error): the whole leg
            if not failing:
                report.append(f"{label}: passes with the newest of everything; newer than the lock: {listed}")
                continue
            found, unresolved = _find_breakers(py, newer, failing[:30])
            for name, old, new in found:
                cap = next((c for c in airflow_caps(minor) if _requirement_name(c) == name), None)
                held = f" (held back by `{cap}`)" if cap else " (NEW: not held back by the locks' inputs)"
                report.append(f"{label}: {name} {new} breaks it{held}; the lock has {old}")
            if unresolved:
                report.append(f"{label}: {unresolved}")
    print("\n=== newest-dependency report (reports only; the locks are what CI installs)")
    for line in report:
        print(f"  {line}")
    print(f"  total {fmt(time.monotonic() - started)}", flush=True)
    return 0


def _extras() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
    return sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("optional-dependencies", {}))


def _failed_tests(junit_dir: Path) -> list[str]:
    """The node ids of the tests that failed or erred in the JUnit files of ``junit_dir``."""
    import xml.etree.ElementTree as ET

    ids: list[str] = []
    for path in sorted(junit_dir.glob("*.xml")):
        for case in ET.parse(path).iter("testcase"):
            if case.find("failure") is None and case.find("error") is None:
                continue
            parts, name = case.get("classname", "").split("."), case.get("name", "")
            for cut in range(len(parts), 0, -1):  # tests.test_x.TestY -> tests/test_x.py::TestY
                if (ROOT / Path(*parts[:cut])).with_suffix(".py").is_file():
                    ids.append("::".join([str(Path(*parts[:cut]).with_suffix(".py")), *parts[cut:], name]))
                    break
    return ids


def _find_breakers(
    python: Path, newer: dict[str, tuple[str, str]], tests: list[str]
) -> tuple[list[tuple[str, str, str]], str]:
    """Which of the ``newer`` releases make ``tests`` fail, one at a time (see ``newest``)."""

    def fails(brought_in: set[str]) -> bool:
        pins = [f"{n}=={new if n in brought_in else old}" for n, (old, new) in newer.items()]
        if pins and sh(UV, "pip", "install", "--quiet", "--no-deps", "--python", python, *pins) != 0:
            return True
        done = subprocess.run(
            [str(python), "-m", "pytest", "-q", "-x", *tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print(
            f"    with the newer {sorted(brought_in) or 'none'}: {'fails' if done.returncode else 'passes'}", flush=True
        )
        return done.returncode != 0

    print(f"=== finding the releases that break {len(tests)} failing tests", flush=True)
    if fails(set()):
        return [], "the failing tests fail with the lock's versions too: not (only) a newer release"
    found: list[tuple[str, str, str]] = []
    left = set(newer)
    while left and fails(left):
        suspects = sorted(left)
        while len(suspects) > 1:
            half = suspects[: len(suspects) // 2]
            suspects = half if fails(set(half)) else suspects[len(half) :]
        if not fails({suspects[0]}):
            return found, f"the tests fail only with several newer releases together: {sorted(left)}"
        # with --no-deps, the one newer release may not fit the lock's versions of the others: say so
        check = subprocess.run([str(UV), "pip", "check", "--python", str(python)], capture_output=True, text=True)
        clash = [line.strip() for line in check.stdout.splitlines() if suspects[0] in line.lower()]
        note = f" (beside the lock's other versions: {'; '.join(clash)})" if clash else ""
        found.append((suspects[0], newer[suspects[0]][0], newer[suspects[0]][1] + note))
        left.discard(suspects[0])
    if not found:
        return found, "the failing tests pass when rerun alone: a flaky test, not a newer release"
    return found, ""


# ---------------------------------------------------------------------------------------- package


def package() -> int:
    """Build, check metadata, install the wheel beside the oldest Airflow, and see Airflow find it."""
    started = time.monotonic()
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    if sh(UV, "build", "--quiet", "--out-dir", dist) != 0:
        return 1
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"dev.py: expected one wheel and one sdist in dist/, found {[p.name for p in dist.iterdir()]}")
        return 1
    if sh(BIN / "twine", "check", "--strict", *wheels, *sdists) != 0:
        return 1
    if sh(BIN / "python", "-c", _CHECK_ARTIFACTS, wheels[0], sdists[0]) != 0:
        return 1

    minor = OLDEST_AIRFLOW
    release, python = airflow_release(minor), AIRFLOWS[minor][0]
    with tempfile.TemporaryDirectory(prefix="axiom-wheel-check-") as tmp:
        venv = Path(tmp) / "venv"
        home = Path(tmp) / "airflow-home"
        if sh(UV, "venv", "--quiet", "-p", find_python(python), venv) != 0:
            return 1
        py = venv / BIN_DIR / "python"
        # The wheel and the oldest supported Airflow, as the README tells users to install it: the
        # wheel's own dependencies resolve from PyPI, within the lock CI tests with (as constraints).
        lock = checked_lock(minor, python)
        if (
            sh(UV, "pip", "install", "--quiet", "--python", py, wheels[0], f"apache-airflow=={release}", "-c", lock)
            != 0
        ):
            return 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
        listed = subprocess.run(
            [str(venv / BIN_DIR / "airflow"), "providers", "list", "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=300,
        )
        print(f"+ airflow providers list (Airflow {release}, Python {python}): exit {listed.returncode}")
        try:  # the JSON table is one line among Airflow's log lines
            table = next(line for line in listed.stdout.splitlines() if line.startswith("[{"))
            providers = {p["package_name"]: p for p in json.loads(table)}
        except (StopIteration, ValueError):
            print(listed.stdout[-3000:], listed.stderr[-3000:])
            return 1
        ours = providers.get("airflow-provider-axiom")
        if not ours:
            print(f"dev.py: airflow providers list does not show airflow-provider-axiom: {sorted(providers)}")
            print(listed.stderr[-3000:])
            return 1
        print(f"  found {ours}")
        if sh(venv / BIN_DIR / "axiom-emulator", "--help", cwd=Path(tmp)) != 0:
            return 1
        # The installed copy is the one imported, with its type marker.
        if sh(py, "-c", _CHECK_INSTALLED, cwd=Path(tmp), env=env) != 0:
            return 1
    print(f"=== package checked in {fmt(time.monotonic() - started)}: {wheels[0].name}, {sdists[0].name}", flush=True)
    return 0


_CHECK_ARTIFACTS = """
import sys, tarfile, zipfile, re
wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
init = open("airflow_provider_axiom/__init__.py").read()
version = re.search(r'__version__ = "([^"]+)"', init).group(1)
assert f"-{version}-" in wheel, (wheel, version)
for needed in (
    "airflow_provider_axiom/py.typed",
    "airflow_provider_axiom/testing/emulator/scenarios/demo.yaml",
    "airflow_provider_axiom/example_dags/example_axiom_trigger_and_wait.py",
):
    assert needed in names, f"{needed} is not in the wheel"
assert not [n for n in names if n.startswith(("tests/", "example_dags/"))], "tests in the wheel"
meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
assert f"Version: {version}" in meta
members = tarfile.open(sdist).getnames()
for needed in ("py.typed", "README.md", "pyproject.toml", "example_dags/", "locks/airflow-3.0-py3.10.txt"):
    assert any(needed in m for m in members), f"{needed} is not in the sdist"
junk = [m for m in members if any(part in m for part in ("/.venv", "/.artifacts", "__pycache__", "/dist/", "/.git/"))]
assert not junk, junk
print(f"wheel: {len(names)} files, version {version}, py.typed present; sdist: {len(members)} members")
"""

_CHECK_INSTALLED = """
import importlib, importlib.metadata, importlib.resources, airflow, airflow_provider_axiom as pkg
assert "site-packages" in pkg.__file__, pkg.__file__
assert importlib.resources.files(pkg).joinpath("py.typed").is_file()
assert importlib.metadata.version("airflow-provider-axiom") == pkg.__version__
for kind in ("hooks", "operators", "sensors", "triggers"):
    importlib.import_module(f"airflow_provider_axiom.{kind}.axiom")
print(f"imported {pkg.__version__} from the wheel beside Airflow {airflow.__version__}")
"""


# ---------------------------------------------------------------------------------------- main


def docs(args: list[str]) -> int:
    """``docs [serve|build] [mkdocs arguments]``: serve the site (default), or build it strictly."""
    # the docs extra is in every lock, so .venv has the tools already
    action, rest = (args[0], args[1:]) if args and args[0] in ("serve", "build") else ("serve", args)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about its successor, every build
    if action == "build":
        return timed("docs build", lambda: sh(BIN / "mkdocs", "build", "--strict", "--clean", *rest, env=env))
    return sh(BIN / "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", *rest, env=env)


def lint() -> int:
    return sh(BIN / "ruff", "check", ".") or sh(BIN / "ruff", "format", "--check", ".")


def typecheck() -> int:
    return sh(BIN / "mypy")


def unit(*args: str) -> int:
    return sh(BIN / "python", "-m", "pytest", *args)


def run_leg(python: Path, leg: str, pytest_args: list[str]) -> int:
    """One leg of the suite with this ``python``: its shards at once, or one pytest process."""
    if leg != "unit":  # where the minutes of the slow legs go, for whoever shortens them next
        pytest_args = ["--durations=10", *pytest_args]
    if leg in SHARDED_LEGS:
        return pytest_shards(python, SHARDED_LEGS[leg], pytest_args)
    return sh(python, "-m", "pytest", "tests", "-m", LEGS[leg], *(a.replace("{shard}", "0") for a in pytest_args))


def timed(name: str, run: Callable[[], int]) -> int:
    """Run one command of this file and print its outcome and wall time."""
    t0 = time.monotonic()
    rc = run()
    elapsed = time.monotonic() - t0
    label = f"Airflow {airflow_release(DEFAULT_AIRFLOW)} / Python {THIS_PYTHON}"
    print(f"=== {name} ({label}) {'passed' if rc == 0 else 'FAILED'} in {fmt(elapsed)}", flush=True)
    if rc == 0 and record_time(f"dev.py {name}", elapsed, by=f"`dev.py {name}`, {label}"):  # AXIOM_RECORD_FIGURES=1
        print("    (recorded in docs/figures.json)", flush=True)
    return rc


def pytest_shards(python: Path, shards: tuple[tuple[str, ...], ...], args: list[str]) -> int:
    """Run pytest once per shard, all at once; the last streams, the others' output follows it.

    ``{shard}`` in an argument becomes the shard's number (a JUnit file per shard, say).
    """

    def shard_args(i: int) -> list[str]:
        return [a.replace("{shard}", str(i)) for a in args]

    with contextlib.ExitStack() as stack:
        background: list[tuple[tuple[str, ...], subprocess.Popen[bytes], Any]] = []
        for i, shard in enumerate(shards[:-1]):
            out = stack.enter_context(tempfile.TemporaryFile())
            print("+ (alongside)", python.name, "-m pytest", *shard, *shard_args(i), flush=True)
            cmd = [str(python), "-m", "pytest", *shard, *shard_args(i)]
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out)
            background.append((shard, proc, out))
        rc = sh(python, "-m", "pytest", *shards[-1], *shard_args(len(shards) - 1))
        for shard, proc, out in background:
            rc = proc.wait() or rc
            out.seek(0)
            print(f"\n=== output of the pytest alongside ({' '.join(shard)}):", flush=True)
            sys.stdout.buffer.write(out.read())
            sys.stdout.flush()
    return rc


def test(args: list[str]) -> int:
    """The fast loop: ruff, mypy, and the unit leg in two pytest processes at once."""
    return timed("test", lambda: lint() or typecheck() or pytest_shards(BIN / "python", UNIT_SHARDS, args))


@dataclasses.dataclass
class Job:
    """One command of a parallel run, with its outcome once it ended."""

    name: str
    cmd: list[str]
    elapsed: float = 0.0
    rc: int | None = None


def run_jobs(jobs: list[Job], at_once: int, gap: float) -> int:
    """Run ``jobs`` in order, ``at_once`` at a time and ``gap`` seconds apart; print each one's output as it ends."""
    pending = list(jobs)
    running: list[tuple[Job, subprocess.Popen[bytes], Any, float]] = []
    last_start = -gap
    with contextlib.ExitStack() as stack:
        while pending or running:
            if pending and len(running) < at_once and time.monotonic() - last_start >= gap:
                job = pending.pop(0)
                out = stack.enter_context(tempfile.TemporaryFile())
                print(f"=== {job.name}: started ({' '.join(job.cmd[1:])})", flush=True)
                proc = subprocess.Popen(job.cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
                last_start = time.monotonic()
                running.append((job, proc, out, last_start))
            for entry in [e for e in running if e[1].poll() is not None]:
                running.remove(entry)
                job, proc, out, started = entry
                job.rc, job.elapsed = proc.returncode, time.monotonic() - started
                out.seek(0)
                sys.stdout.buffer.write(out.read())
                outcome = "passed" if job.rc == 0 else f"FAILED (exit {job.rc})"
                print(f"=== {job.name}: {outcome} in {fmt(job.elapsed)}", flush=True)
                if job.rc == 0:
                    record_time(f"dev.py e2e part: {job.name}", job.elapsed, by="`dev.py e2e`")
            time.sleep(0.5)
    print("\n=== summary")
    for job in jobs:
        print(f"  {job.name:<40} {'ok    ' if job.rc == 0 else 'FAILED'} {fmt(job.elapsed):>9}")
    return next((job.rc or 1 for job in jobs if job.rc), 0)


def e2e(args: list[str]) -> int:
    """Every test that runs Airflow itself, as E2E_JOBS a few at a time (one pytest run when given arguments)."""
    with_oldest = "--with-oldest" in args
    args = [a for a in args if a != "--with-oldest"]
    if args:
        return timed("e2e", lambda: unit("tests", "-m", "airflow_db or e2e", *args))
    python = str(BIN / "python")
    jobs = [Job(name, [python, "-m", "pytest", *paths, "--durations=5"]) for name, paths in E2E_JOBS]
    if with_oldest:
        oldest = matrix_venv(OLDEST_AIRFLOW, AIRFLOWS[OLDEST_AIRFLOW][0]) / BIN_DIR / "python"
        release = airflow_release(OLDEST_AIRFLOW)
        jobs.insert(2, Job(f"Airflow {release}: e2e", [str(oldest), "-m", "pytest", *OLDEST_E2E, "--durations=5"]))
        fan_out = [str(oldest), "-m", "pytest", *OLDEST_E2E_ALONE, "--durations=5"]
        jobs.insert(4, Job(f"Airflow {release}: fan-out", fan_out))
    return timed("e2e", lambda: run_jobs(jobs, E2E_AT_ONCE, E2E_START_GAP))


def venvs(args: list[str]) -> int:
    """.venv (done by main) and the matrix venvs of ``args`` (e.g. ``3.0 3.1-py3.13``), one after another."""
    for minor, python in (parse_leg_spec(a) for a in args):
        matrix_venv(minor, python)
    return 0


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 10):  # noqa: UP036 -- say so instead of failing obscurely
        sys.exit("dev.py: Python >= 3.10 is needed")
    command, args = (argv[0], argv[1:]) if argv else ("help", [])
    commands = {
        "venv": lambda: 0,
        "venvs": lambda: venvs(args),
        "demo": lambda: timed("demo", lambda: sh(BIN / "python", "scripts/demo.py")),
        "test": lambda: test(args),
        "e2e": lambda: e2e(args),
        "lint": lint,
        "typecheck": typecheck,
        "unit": lambda: unit(*args),
        "bench": lambda: (
            sh(BIN / "python", "benchmarks/emulator_load.py")
            or sh(BIN / "python", "benchmarks/queued_wait.py")
            or sh(BIN / "python", "benchmarks/waiting_scale.py", *args)
        ),
        "emulator": lambda: sh(BIN / "axiom-emulator", "--port", "8099", "--scenario", "demo"),
        "docs": lambda: docs(args),
        "matrix": lambda: matrix(args),
        "lock": lambda: lock(args),
        "package": lambda: timed("package", package),
    }
    if command not in commands:
        print(__doc__)
        return 0 if command in ("help", "-h", "--help") else 2
    if command == "lock":  # the locks are what the venvs install: only uv is needed to make them
        ensure_uv()
    else:
        ensure_venv()
    return commands[command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
