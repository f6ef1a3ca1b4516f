"""``axiom-contract-check``: check the readings of the API docs this package rests on, against your account.

Read-only by default (``/list-automations``, ``/remaining-runtime``, ``/run-reports`` with counts
of 5, 100 and 2,500, ``/run-data`` of one automation): about 6 calls. With ``--trigger NAME`` it
also runs one full cycle on a test automation: trigger, watch ``/run-reports`` until the run is
listed and finished, read ``/run-data`` (a real, billed run); when ``/trigger`` returned a run id,
each by-id request the package may send is tried on that run (``/run-data`` with the name and an id
no run has, ``/stop`` with such an id; where the API reads ids, the same with the run's own id), and
said to read run ids, ignore them or refuse them. Each assumption is printed with what
the API answered and ``matches`` or ``differs``; the exit code is 1 when a difference breaks an
assumption the package relies on, 2 when the check could not run, else 0. The key is never printed.

The key comes from an Airflow connection (``--conn-id``, default ``axiom_default``), or from the
``AXIOM_API_KEY`` environment variable with ``--base-url`` (no Airflow connection needed).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_axiom._connection import DEFAULT_BASE_URL, AxiomSettings, build_base_url
from airflow_provider_axiom._contract_run_ids import run_id_checks
from airflow_provider_axiom._protocol import (
    DOCUMENTED_STATUSES,
    ApiRequest,
    list_automations_request,
    parse_run_data,
    parse_run_reports,
    redact,
    remaining_runtime_request,
    run_data_request,
    run_reports_request,
    run_state,
    trigger_request,
)
from airflow_provider_axiom._protocol.requests import VIEWER_LINK_KEY
from airflow_provider_axiom._ratelimit import key_fingerprint
from airflow_provider_axiom._report_window import MAX_REPORT_WINDOW
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom._transport import client_options

#: The counts asked of ``/run-reports``: the widest is the widest read the poller makes.
COUNTS = (5, 100, MAX_REPORT_WINDOW)
#: How soon a started run must be listed: at once (a couple of seconds) is the docs' reading;
#: up to the lost-trigger check window (10 s by default) the package copes.
LISTED_AT_ONCE = 2.0


@dataclass
class Finding:
    assumption: str
    answered: str
    matches: bool
    breaking: bool = True  # a difference that breaks what the package relies on

    def line(self) -> str:
        verdict = "matches" if self.matches else ("DIFFERS" if self.breaking else "differs (handled)")
        return f"[{verdict}] {self.assumption}\n           API: {self.answered}"


class Api:
    """Sends one request and returns (HTTP status, parsed JSON or None); the key never leaves this object."""

    def __init__(self, settings: AxiomSettings, transport: Any = None) -> None:
        self._key = settings.api_key
        self.client = httpx.Client(transport=transport, **client_options(settings))
        self.calls = 0

    def post(self, request: ApiRequest) -> tuple[int, Any]:
        self.calls += 1
        try:
            response = self.client.post(request.path, content=request.encode(self._key))
        except httpx.HTTPError as err:
            raise CheckError(f"{request.endpoint}: {type(err).__name__}: {self.redact(str(err))}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def redact(self, text: str) -> str:
        return redact(text, self._key)


class CheckError(Exception):
    """The check could not go on (no answer, a refused key)."""


def _ok(api: Api, request: ApiRequest) -> Any:
    status, body = api.post(request)
    if status != 200 or not isinstance(body, dict) or body.get("status") == "error":
        message = body.get("message") if isinstance(body, dict) else body
        raise CheckError(f"{request.endpoint} answered HTTP {status}: {api.redact(str(message))[:200]}")
    return body


def _statuses(values: Sequence[str]) -> Finding:
    seen = sorted(set(values))
    unknown = [s for s in seen if run_state(s) is RunState.UNKNOWN]
    exact = all(s in DOCUMENTED_STATUSES for s in seen)
    return Finding(
        "run statuses are Running, Success or Failure (capitalised); the package reads any case",
        f"statuses seen: {', '.join(seen) or 'none (no runs to look at)'}",
        matches=exact,
        breaking=bool(unknown),
    )


def read_only_checks(api: Api, automation: str | None) -> tuple[list[Finding], str | None]:
    findings: list[Finding] = []
    names = _ok(api, list_automations_request()).get("data", {}).get("names")
    findings.append(
        Finding(
            "/list-automations answers {status: success, data: {names: [...]}}",
            f"{len(names)} automation names" if isinstance(names, list) else f"data.names is {type(names).__name__}",
            matches=isinstance(names, list) and all(isinstance(n, str) for n in names),
        )
    )
    runtime = _ok(api, remaining_runtime_request()).get("data")
    fields = ("used", "allowance", "remaining")
    numeric = isinstance(runtime, dict) and all(isinstance(runtime.get(f), (int, float)) for f in fields)
    findings.append(
        Finding(
            "/remaining-runtime answers data.used, data.allowance, data.remaining in minutes",
            f"remaining {runtime.get('remaining')} of {runtime.get('allowance')}"
            if numeric
            else f"data: {runtime!r}"[:200],
            matches=numeric,
        )
    )
    got: dict[int, int] = {}
    statuses: list[str] = []
    ordered, shaped, problem = True, True, ""
    fields_ = {"task_name", "status", "description", "created_at", "updated_at"}
    for count in COUNTS:
        body = _ok(api, run_reports_request(count))
        try:
            parse_run_reports(body)
        except Exception as err:  # an AxiomError naming the shape
            raise CheckError(f"/run-reports: {api.redact(str(err))[:200]}") from None
        raw = [r for r in body["data"]["reports"] if isinstance(r, dict)]
        got[count] = len(raw)
        statuses += [str(r.get("status")) for r in raw]
        stamps = [str(r.get("created_at")) for r in raw]
        ordered &= stamps == sorted(stamps, reverse=True)
        if missing := next((fields_ - set(r) for r in raw if fields_ - set(r)), None):
            shaped, problem = False, f"a report without {sorted(missing)}"
    findings.append(
        Finding(
            "/run-reports answers data.reports of {task_name, status, description, created_at, updated_at}",
            problem or "every report has those fields",
            matches=shaped,
            breaking=False,  # only task_name, status and created_at are needed
        )
    )
    findings.append(_count_finding(got))
    findings.append(
        Finding(
            "/run-reports lists the newest run first (by created_at); the package sorts them anyway",
            "newest first" if ordered else "another order",
            matches=ordered,
            breaking=False,
        )
    )
    findings.append(_statuses(statuses))
    name = automation or (names[0] if isinstance(names, list) and names else None)
    if name is not None:
        status, body = api.post(run_data_request(name))
        if status == 200 and isinstance(body, dict) and "status" in body:
            try:
                data = parse_run_data(body)
                answered = f"status {data.status!r}, {len(data.data)} output tables"
                shaped = True
            except Exception as err:  # an AxiomError naming the shape
                answered, shaped = api.redact(str(err))[:200], False
        else:
            answered, shaped = f"HTTP {status}: {api.redact(str(body))[:200]}", status == 404
        findings.append(
            Finding(
                f"/run-data of {name!r} answers {{status, data: {{token: rows}}}} for its latest run",
                answered,
                matches=shaped,
            )
        )
    return findings, name


def _count_finding(got: dict[int, int]) -> Finding:
    """Whether ``count`` is honoured: a larger count never returns fewer runs than exist."""
    answered = ", ".join(f"count={c}: {n} reports" for c, n in got.items())
    capped = next(
        (
            (small, got[small])
            for small, big in itertools.pairwise(COUNTS)
            if got[small] == small and got[big] == got[small]
        ),
        None,
    )
    if capped is None and any(n > c for c, n in got.items()):
        return Finding("/run-reports returns at most `count` reports", answered + " (more than asked)", False)
    if capped is not None:
        return Finding(
            f"/run-reports honours `count` up to {MAX_REPORT_WINDOW:,} (a silent cap would read as 'no older runs')",
            answered + f": capped at {capped[1]} (or the account has exactly {capped[1]} runs)",
            matches=False,
        )
    return Finding(
        f"/run-reports honours `count` up to {MAX_REPORT_WINDOW:,} (a silent cap would read as 'no older runs')",
        answered
        + ("" if got[MAX_REPORT_WINDOW] == MAX_REPORT_WINDOW else f": the account has {got[MAX_REPORT_WINDOW]} runs"),
        matches=True,
    )


def trigger_cycle(
    api: Api,
    name: str,
    *,
    wait: float,
    window: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Finding]:
    """One billed run of ``name``: how the trigger answers, how soon the run is listed, how it ends."""
    findings: list[Finding] = []
    before = {str(r.get("created_at")) for r in _ok(api, run_reports_request(20))["data"]["reports"]}
    status, body = api.post(trigger_request(name))
    started = clock()
    if status != 200 or not isinstance(body, dict):
        raise CheckError(f"/trigger answered HTTP {status}: {api.redact(str(body))[:200]}")
    queued = str(body.get("status", "")).lower() == "queued"
    viewer = body.get(VIEWER_LINK_KEY)
    findings.append(
        Finding(
            f"/trigger answers {{{VIEWER_LINK_KEY!r}: <viewer url>}} when started, "
            "{status: queued, message} when queued",
            "queued" if queued else (f"started, viewer link {'present' if viewer else 'absent'}"),
            matches=queued or bool(viewer),
        )
    )
    run_id = body.get("run_id") or body.get("runId")
    findings.append(
        Finding(
            "/trigger returns no run id (runs are recognised by name and start time)",
            "a run id (recorded and reported; the run-id findings below say whether requests use it)"
            if run_id
            else "no run id",
            matches=not run_id,
            breaking=False,  # the package shapes requests by it only where the API has shown that it reads it
        )
    )
    if queued:
        status, data = api.post(run_data_request(name))
        findings.append(
            Finding(
                "/run-data of a name whose run is queued answers status Running",
                f"HTTP {status}, status {data.get('status') if isinstance(data, dict) else data!r}",
                matches=isinstance(data, dict) and run_state(str(data.get("status"))) is RunState.RUNNING,
            )
        )
    listed_after: float | None = None
    report: dict[str, Any] | None = None
    while clock() - started < wait:
        reports = _ok(api, run_reports_request(20))["data"]["reports"]
        mine = [r for r in reports if r.get("task_name") == name and str(r.get("created_at")) not in before]
        if mine:
            report = mine[-1]
            if listed_after is None:
                listed_after = clock() - started
            if run_state(str(report.get("status"))).over:
                break
        sleep(1.0 if listed_after is None and clock() - started < window + 5 else 3.0)  # within the budget
    if not queued:
        findings.append(
            Finding(
                "a started run is listed in /run-reports at once "
                f"(the package watches {window:g} s after a lost /trigger answer)",
                "not listed within the wait" if listed_after is None else f"listed after {listed_after:.1f} s",
                matches=listed_after is not None and listed_after <= LISTED_AT_ONCE,
                breaking=listed_after is None or listed_after > window,
            )
        )
    if report is not None and run_state(str(report.get("status"))).over:
        findings.append(_statuses([str(report.get("status"))]))
        status, data = api.post(run_data_request(name))
        try:
            parsed = parse_run_data(data)
            answered, ok = (
                f"status {parsed.status!r}, tables {sorted(parsed.data)}",
                run_state(parsed.status) is not RunState.UNKNOWN,
            )
        except Exception as err:
            answered, ok = api.redact(str(err))[:200], False
        findings.append(Finding("/run-data of a finished run answers its status and output rows", answered, ok))
        ended: RunState | None = run_state(str(report.get("status")))
    else:
        ended = None
        findings.append(
            Finding(
                f"the test run of {name!r} finishes within the wait ({wait:g} s)",
                f"last status {report.get('status') if report else 'not listed'}",
                matches=False,
                breaking=False,
            )
        )
    if run_id:
        findings += [Finding(*check) for check in run_id_checks(api.post, name, str(run_id), ended)]
    return findings


def settings_for(args: argparse.Namespace) -> AxiomSettings:
    key = os.environ.get("AXIOM_API_KEY", "").strip()
    if key:
        return AxiomSettings(api_key=key, base_url=build_base_url(args.base_url) if args.base_url else DEFAULT_BASE_URL)
    from airflow_provider_axiom.hooks.axiom import AxiomHook

    return AxiomHook(args.conn_id).settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axiom-contract-check",
        description="Check the API behaviour this provider assumes against your axiom.ai account "
        "(read-only unless --trigger is given). Key: the Airflow connection --conn-id, or AXIOM_API_KEY.",
    )
    parser.add_argument(
        "--conn-id", default="axiom_default", help="Airflow connection with the key (default axiom_default)"
    )
    parser.add_argument("--base-url", default=None, help="API base URL when the key comes from AXIOM_API_KEY")
    parser.add_argument(
        "--automation", default=None, help="automation whose /run-data is read (default: the first listed)"
    )
    parser.add_argument(
        "--trigger",
        metavar="TEST_AUTOMATION",
        default=None,
        help="also trigger this automation once (a real, billed run) and follow it to its output",
    )
    parser.add_argument("--wait", type=float, default=180.0, help="seconds to follow the triggered run (default 180)")
    return parser


def main(argv: Sequence[str] | None = None, *, transport: Any = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_for(args)
    except Exception as err:
        print(f"axiom-contract-check: {err}", file=sys.stderr)
        return 2
    api = Api(settings, transport)
    print(f"axiom.ai API contract check: {settings.base_url} (key {key_fingerprint(settings.api_key)})")
    findings: list[Finding] = []
    try:
        read, _ = read_only_checks(api, args.automation)
        findings += read
        if args.trigger:
            findings += trigger_cycle(api, args.trigger, wait=args.wait, window=settings.trigger_check_window)
    except CheckError as err:
        for finding in findings:
            print(finding.line())
        print(f"axiom-contract-check: could not finish: {err}", file=sys.stderr)
        return 2
    finally:
        api.client.close()
    for finding in findings:
        print(finding.line())
    differs = [f for f in findings if not f.matches]
    breaking = [f for f in differs if f.breaking]
    print(
        f"{len(findings)} assumptions checked in {api.calls} calls: "
        f"{len(findings) - len(differs)} match, {len(differs)} differ, {len(breaking)} of them break an assumption"
        + (" (see the README, 'Check the API contract')" if differs else "")
    )
    return 1 if breaking else 0


if __name__ == "__main__":
    sys.exit(main())
