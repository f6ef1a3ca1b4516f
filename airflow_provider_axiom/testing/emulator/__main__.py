"""Command line: ``axiom-emulator --port 8099 --scenario demo`` (or ``python -m ...testing.emulator``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import AxiomEmulator
from ._faults import FaultSpecError
from ._scenario import ScenarioError
from ._state import key_fingerprint


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
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="calls per rolling minute per key (default: the scenario's, 100); 0 turns the limit off",
    )
    parser.add_argument(
        "--strict-rate-limit",
        action="store_true",
        help="count refused (429) calls against the window too, as a server that stamps calls on arrival",
    )
    return parser


def banner(emulator: AxiomEmulator) -> str:
    """What the command prints at start: where it listens and how to point Airflow at it, never the key."""
    sc = emulator.scenario
    names = ", ".join(repr(a.name) for a in sc.automations)
    limit = "off" if sc.rate_limit_per_minute is None else f"{sc.rate_limit_per_minute}/min"
    strict = " (strict: refused calls count)" if sc.rate_limit_counts_refused else ""
    placeholder = f"<api_key of {sc.source}>"
    connection = json.dumps({"conn_type": "axiom", "password": placeholder, "host": emulator.base_url})
    return "\n".join(
        [
            f"axiom.ai API emulator listening on {emulator.base_url}",
            f"  scenario: {sc.source}; API key: the scenario's api_key (fingerprint "
            f"{key_fingerprint(sc.api_key)}; never printed); automations: {names}",
            f"  speed: {sc.speed:g}x; rate limit: {limit}{strict}; admin: {emulator.url}/_emulator/health",
            f"export AIRFLOW_CONN_AXIOM_DEFAULT='{connection}'",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        emulator = AxiomEmulator(args.scenario, host=args.host, port=args.port, speed=args.speed)
    except (ScenarioError, FaultSpecError, OSError, ValueError) as exc:
        print(f"axiom-emulator: {exc}", file=sys.stderr)
        return 2
    if args.rate_limit is not None or args.strict_rate_limit:
        per_minute = emulator.scenario.rate_limit_per_minute if args.rate_limit is None else args.rate_limit or None
        emulator.set_rate_limit(per_minute, counts_refused=True if args.strict_rate_limit else None)
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

    print(banner(emulator), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("axiom-emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
