"""Command line: ``axiom-emulator --port 8099 --scenario demo`` (or ``python -m ...testing.emulator``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import AxiomEmulator
from ._faults import FaultSpecError
from ._scenario import ScenarioError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axiom-emulator",
        description="Serve a local emulator of the axiom.ai REST API v3 until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port (default 8099; 0 picks a free one)")
    parser.add_argument(
        "--scenario",
        default=None,
        help="scenario file (.yaml/.yml/.json) or bundled name ('demo'); default: the built-in default",
    )
    parser.add_argument("--speed", type=float, default=None, help="emulated seconds per real second")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        emulator = AxiomEmulator(args.scenario, host=args.host, port=args.port, speed=args.speed)
    except (ScenarioError, FaultSpecError, OSError, ValueError) as exc:
        print(f"axiom-emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emulator.start()
    except OSError as exc:
        print(f"axiom-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    names = ", ".join(repr(a.name) for a in emulator.scenario.automations)
    print(f"axiom.ai API emulator listening on {emulator.base_url}", flush=True)
    print(f"  scenario: {emulator.scenario.source}; API key: {emulator.api_key}; automations: {names}")
    print(f"  speed: {emulator.scenario.speed:g}x; admin: {emulator.url}/_emulator/health")
    print(f"export AIRFLOW_CONN_AXIOM_DEFAULT='{emulator.connection_json()}'", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("axiom-emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
