"""Property tests of the rows rule: whatever the reads show, a run's rows are kept only when they are its own.

One implementation (``_completion.rows``) serves the waiting tasks and the asset watchers; these drive
its :class:`RowsRead` with any sequence of ``/run-reports`` reads (when sent, what they list),
``/run-data`` answers (which outcome) and failures, and check the rule against a plain statement of it:

- rows are kept only if ``/run-data`` answered with the run's outcome, and a read of the reports sent
  after that answer lists the run (its start, to the second) and no run of its name started after
  that second;
- a read sent before the answer never confirms;
- a read that lists a newer run of the name never lets the rows through;
- the machine always ends (rows, or a reason), within the failures and misses it allows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pendulum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_axiom._completion.rows import (
    CONFIRM_READS,
    UNREACHED_READS,
    Listing,
    RowsRead,
    newer_listed,
    shows_newest,
)
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.exceptions import AxiomApiError, AxiomServerError
from airflow_provider_axiom.results import RunData, RunReport

SETTINGS = settings(
    max_examples=int(os.environ.get("AXIOM_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NAME = "Scrape product prices"
T0 = pendulum.datetime(2026, 1, 5, 9, 0, 0, tz="UTC")
MINE = T0.add(seconds=100)
ROWS = {"google-sheet-data": [["mine"]]}


def report(name: str, offset: float, status: str = "Success") -> RunReport:
    """A report of a run of ``name`` started ``offset`` seconds after this run (whole seconds, as the API)."""
    created = MINE.add(seconds=offset).replace(microsecond=0)
    return RunReport(name, status, "", created, created.add(seconds=5))


#: Runs other reads may list: this run, runs of its name a little before or after it (the same second
#: or not), and runs of other names.
offsets = st.sampled_from([-30.0, -2.0, -1.0, -0.4, 0.0, 0.3, 0.9, 1.0, 1.5, 2.0, 60.0])
listed = st.lists(st.tuples(st.sampled_from([NAME, NAME, "Other"]), offsets), max_size=5)


@dataclass(frozen=True)
class Reports:
    sent: float
    runs: tuple[tuple[str, float], ...]

    def reports(self) -> list[RunReport]:
        return [report(name, offset) for name, offset in self.runs]


@dataclass(frozen=True)
class Answer:
    at: float
    status: str


@dataclass(frozen=True)
class Failure:
    retryable: bool


events = st.lists(
    st.one_of(
        st.builds(Reports, st.floats(0, 100), listed.map(tuple)),
        st.builds(Answer, st.floats(0, 100), st.sampled_from(["Success", "Failure", "Finished", "Running"])),
        st.builds(Failure, st.booleans()),
    ),
    max_size=25,
)


def drive(rows: RowsRead, script: list[Reports | Answer | Failure]) -> list[tuple[str, object, str, str]]:
    """Feed ``script`` to ``rows`` as the poller would (an answer or a failure only while a read is out);
    returns what happened, in order, with the machine's state before and after each step."""
    seen: list[tuple[str, object, str, str]] = []
    tick = 0
    for step in script:
        if rows.done:
            break
        if isinstance(step, Reports):
            tick += 1
            before = rows.state
            rows.reports(step.reports(), step.sent)
            seen.append(("reports", step, before, rows.state))
            continue
        if rows.state == "queued" and rows.after_tick <= tick:
            rows.sending()
        if rows.state != "reading":
            continue
        if isinstance(step, Answer):
            rows.answered(RunData(step.status, ROWS), step.at)
            seen.append(("answer", step, "reading", rows.state))
        else:
            err = AxiomServerError("boom", status_code=502) if step.retryable else AxiomApiError("no", status_code=400)
            rows.failed(err, tick)
            seen.append(("failure", step, "reading", rows.state))
    return seen


@SETTINGS
@given(events)
def test_rows_are_kept_only_when_a_later_read_lists_the_run_as_the_newest_of_its_name(script):
    rows = RowsRead(NAME, MINE, RunState.SUCCESS, max_failures=3)
    seen = drive(rows, script)
    if rows.done and rows.unavailable is None:
        assert rows.rows == ROWS
        answers = [s for kind, s, _, _ in seen if kind == "answer"]
        assert answers, "rows without an answer"
        answer = answers[-1]
        assert isinstance(answer, Answer) and answer.status in ("Success", "Finished")
        later = [s for kind, s, _, _ in seen if kind == "reports" and s.sent >= answer.at]  # type: ignore[attr-defined]
        assert later, "confirmed without a read sent after the answer"
        confirming = later[-1]
        assert isinstance(confirming, Reports)
        assert shows_newest(NAME, MINE, confirming.reports())
        # and no read seen since the answer showed a newer run of the name
        assert not any(newer_listed(NAME, MINE, s.reports()) for s in later)  # type: ignore[attr-defined]
    elif rows.done:
        assert rows.rows is None  # given up: nothing is handed on


@SETTINGS
@given(events)
def test_a_read_that_lists_a_newer_run_of_the_name_ends_it_superseded(script):
    rows = RowsRead(NAME, MINE, RunState.SUCCESS, max_failures=3)
    for kind, step, before, after in drive(rows, script):
        if kind == "reports" and before in ("queued", "confirming"):
            assert isinstance(step, Reports)
            if newer_listed(NAME, MINE, step.reports()):
                assert after == "done" and rows.unavailable == "superseded" and rows.rows is None


@SETTINGS
@given(st.lists(st.booleans(), max_size=12), st.lists(listed.map(tuple), max_size=8))
def test_it_always_ends_within_the_failures_and_misses_it_allows(failures, reads):
    """Failures in a row up to ``max_failures``, then later reads up to ``CONFIRM_READS``: it has ended."""
    rows = RowsRead(NAME, MINE, RunState.SUCCESS, max_failures=3)
    for tick, retryable in enumerate(failures, start=1):
        if rows.done:
            break
        if rows.state == "queued" and rows.after_tick <= tick:
            rows.sending()
            err = AxiomServerError("boom", status_code=502) if retryable else AxiomApiError("no", status_code=400)
            rows.failed(err, tick)
    assert rows.failures <= 3
    if not rows.done:
        rows.sending()
        rows.answered(RunData("Success", ROWS), 0.0)
        for _ in range(CONFIRM_READS):
            rows.reports([report("Other", 0.0)], 1.0)  # lists neither the run nor a newer one
    assert rows.done
    assert (rows.rows is None) == (rows.unavailable is not None)


@SETTINGS
@given(listed.map(tuple), st.sampled_from(["Success", "Failure", "Finished", "Running"]))
def test_an_answer_by_run_id_is_the_runs_own_and_needs_no_confirming_read(runs, status):
    rows = RowsRead(NAME, None, RunState.SUCCESS, by_id=True)
    rows.sending()
    rows.answered(RunData(status, ROWS), 0.0)
    assert rows.done and rows.rows == ROWS
    rows.reports([report(n, o) for n, o in runs], 1.0)
    assert rows.rows == ROWS


def test_the_rule_compares_start_times_to_the_second():
    """A run listed in the same second as this one is this one (the API's times are whole seconds);
    one listed a second later is newer, and a read that does not list this run confirms nothing."""
    same = [report(NAME, 0.0), report(NAME, 0.9)]
    assert shows_newest(NAME, MINE, same) and not newer_listed(NAME, MINE, same)
    assert newer_listed(NAME, MINE, [report(NAME, 0.0), report(NAME, 1.0)])
    assert not shows_newest(NAME, MINE, [report("Other", 0.0)])
    assert not shows_newest(NAME, MINE, [])


def test_a_run_beyond_the_widest_read_is_confirmed_by_a_later_read_without_its_name():
    rows = RowsRead(NAME, MINE, RunState.SUCCESS, beyond=True)
    rows.sending()
    rows.answered(RunData("Success", ROWS), 5.0)
    rows.reports([report("Other", 0.0)], 4.0)  # sent before the answer: confirms nothing
    assert rows.state == "confirming"
    rows.reports([report("Other", 0.0)], 6.0)
    assert rows.done and rows.rows == ROWS
    newer = RowsRead(NAME, MINE, RunState.SUCCESS, beyond=True)
    newer.sending()
    newer.answered(RunData("Success", ROWS), 5.0)
    newer.reports([report(NAME, 60.0)], 6.0)
    assert newer.done and newer.unavailable == "superseded"


def test_a_full_read_that_stops_short_of_the_run_is_not_a_miss():
    """Other runs of the key pushed the run out of the latest reports read: such reads say nothing of it
    (the poller widens its reads to reach it), so they never give its rows up as unreadable by
    themselves; the first read that reaches back decides, and a bound still ends the wait."""
    rows = RowsRead(NAME, MINE, RunState.SUCCESS)
    rows.sending()
    rows.answered(RunData("Success", ROWS), 5.0)
    short = Listing([report("Other", 1.0), report("Other", 30.0)], full=True)
    for _ in range(CONFIRM_READS * 2):
        rows.reports(short, 6.0)
    assert rows.state == "confirming" and rows.misses == 0
    rows.reports(Listing([report(NAME, 0.0), report("Other", 1.0)], full=True), 6.0)
    assert rows.done and rows.rows == ROWS

    missed = RowsRead(NAME, MINE, RunState.SUCCESS)  # a read that reaches back without it: a miss
    missed.sending()
    missed.answered(RunData("Success", ROWS), 5.0)
    for _ in range(CONFIRM_READS):
        missed.reports(Listing([report("Other", -1.0)], full=True), 6.0)
    assert missed.done and missed.unavailable == "unreadable"

    never = RowsRead(NAME, MINE, RunState.SUCCESS)
    never.sending()
    never.answered(RunData("Success", ROWS), 5.0)
    for _ in range(UNREACHED_READS):
        never.reports(short, 6.0)
    assert never.done and never.unavailable == "unreadable"


def test_a_full_read_that_stops_short_of_the_run_still_ends_it_superseded_by_a_newer_one():
    rows = RowsRead(NAME, MINE, RunState.SUCCESS)
    rows.sending()
    rows.answered(RunData("Success", ROWS), 5.0)
    rows.reports(Listing([report(NAME, 60.0)], full=True), 6.0)
    assert rows.done and rows.unavailable == "superseded"
