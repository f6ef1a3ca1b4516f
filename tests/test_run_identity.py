"""Run identity: which report is a task's run, with many triggers of one automation at once. Pure, injected time.

Each report carries the true run's identity in its ``description`` (the matcher never reads it), so
every test can check the one rule that matters: a waiter gets its own run, or says "ambiguous" with
its own run among the candidates, and never another's run; nor does it end before its own run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_axiom._completion.rows import shows_newest
from airflow_provider_axiom._matching import Rules, RunObservation, match, rows_unavailable
from airflow_provider_axiom._report_window import MAX_REPORT_WINDOW, REPORT_WINDOW, narrower, reaches, wider
from airflow_provider_axiom._run_ref import DEFAULT_TOLERANCE, RunRef
from airflow_provider_axiom._run_state import RunState
from airflow_provider_axiom.results import RunReport, TriggerResult

T0 = pendulum.datetime(2026, 11, 25, 12, 0, 0, tz="UTC")
RULES = Rules()  # late 10 s, queue idle 10 min
NAME = "Scrape product prices"


def at(seconds: float) -> pendulum.DateTime:
    return T0.add(microseconds=int(seconds * 1e6))


def whole(seconds: float) -> pendulum.DateTime:
    return T0.add(seconds=math.floor(seconds))


@dataclass
class Run:
    """A run as the server knows it (the truth the matcher must recover)."""

    ident: str
    start: float  # true creation time, seconds after T0
    end: float
    outcome: str = "Success"
    listed_after: float = 0.0  # registration delay
    name: str = NAME

    def report(self, now: float) -> RunReport | None:
        if now < self.start + self.listed_after:
            return None
        status = self.outcome if now >= self.end else "Running"
        return RunReport(self.name, status, self.ident, whole(self.start), whole(min(now, self.end)))


def trigger(sent: float, rtt: float = 0.2, *, queued: bool = False, run_id: str | None = None) -> TriggerResult:
    """What the hook makes of a ``/trigger`` sent at ``sent`` (server time) answered ``rtt`` later."""
    date = whole(sent + rtt)  # the Date header: whole seconds
    return TriggerResult(
        NAME,
        "queued" if queued else "started",
        None if queued else "https://viewer",
        None,
        triggered_at=date,
        sent_at=date.subtract(microseconds=int(rtt * 1e6)),
        run_id=run_id,
    )


def reports_at(runs: list[Run], now: float) -> list[RunReport]:
    listed = [r for run in runs if (r := run.report(now)) is not None]
    return sorted(listed, key=lambda r: r.created_at, reverse=True)


def look(refs: list[RunRef], runs: list[Run], now: float, **kwargs) -> list[tuple[RunRef, RunObservation]]:
    reports = reports_at(runs, now)
    oldest = min((r.created_at for r in reports), default=None)
    return match(refs, reports, now=at(now), oldest=oldest, full=False, rules=RULES, **kwargs)


def own(obs: RunObservation) -> str | None:
    return obs.report.description if obs.report else None


# ---------------------------------------------------------------- the cases the issue names


def test_triggers_spread_over_a_minute_each_get_their_own_run():
    runs = [Run(f"run{i}", start=10 * i + 0.1, end=10 * i + 30) for i in range(6)]
    refs = [RunRef.from_trigger(trigger(10 * i)) for i in range(6)]
    seen = look(refs, runs, now=200)
    assert [own(obs) for _, obs in seen] == [f"run{i}" for i in range(6)]
    assert all(obs.state == "success" and ref.created_at == whole(10 * i + 0.1) for i, (ref, obs) in enumerate(seen))


@pytest.mark.parametrize("spread", [0.3, 1.0, 2.0])
def test_triggers_within_a_second_or_two_are_ambiguous_never_anothers(spread):
    """Four tasks on different workers trigger one automation within ``spread`` seconds."""
    sends = [spread * i / 3 for i in range(4)]
    runs = [Run(f"run{i}", start=s + 0.1, end=60 + i, outcome="Success") for i, s in enumerate(sends)]
    refs = [RunRef.from_trigger(trigger(s)) for s in sends]
    for i, (_, obs) in enumerate(look(refs, runs, now=120)):
        assert obs.report is None, "runs a second apart cannot be told apart without a run id"
        assert f"run{i}" in {c.description for c in obs.candidates}
        assert obs.state == "success" and rows_unavailable(refs[i], obs) == "ambiguous_run"


def test_ambiguous_runs_that_ended_differently_are_a_conflict_not_a_guess():
    runs = [Run("mine", 0.2, 30, "Success"), Run("theirs", 0.5, 40, "Failure")]
    refs = [RunRef.from_trigger(trigger(0)), RunRef.from_trigger(trigger(0.3))]
    for _, obs in look(refs, runs, now=100):
        assert obs.state == "conflict" and obs.state.ends_wait and obs.report is None


def test_an_ambiguous_waiter_waits_until_every_candidate_ended():
    runs = [Run("a", 0.1, 20), Run("b", 0.4, 90)]
    refs = [RunRef.from_trigger(trigger(0)), RunRef.from_trigger(trigger(0.3))]
    for now in (25, 60, 89):
        assert all(obs.state == "running" and not obs.state.ends_wait for _, obs in look(refs, runs, now=now))
    assert all(obs.state == "success" for _, obs in look(refs, runs, now=91))


def test_runs_listed_out_of_order_and_late_are_still_matched():
    runs = [Run("r0", 0.1, 50, listed_after=8), Run("r1", 7.1, 50, listed_after=0.5), Run("r2", 14.1, 50)]
    refs = [RunRef.from_trigger(trigger(s)) for s in (0, 7, 14)]
    # at 5 s nothing is final: r0 is not even listed yet, and the windows may still receive late runs
    assert all(not obs.state.ends_wait and ref.created_at is None for ref, obs in look(refs, runs, now=5))
    assert [own(obs) for _, obs in look(refs, runs, now=60)] == ["r0", "r1", "r2"]


def test_equal_timestamps_are_ambiguous_between_those_runs_only():
    runs = [Run("a", 0.1, 30), Run("b", 0.6, 30), Run("c", 7.2, 30)]
    refs = [RunRef.from_trigger(trigger(0)), RunRef.from_trigger(trigger(0.5)), RunRef.from_trigger(trigger(7))]
    seen = look(refs, runs, now=60)
    assert {c.description for c in seen[0][1].candidates} == {"a", "b"}
    assert {c.description for c in seen[1][1].candidates} == {"a", "b"}
    assert own(seen[2][1]) == "c"


def test_a_foreign_run_of_the_same_name_is_never_taken():
    """A run started outside Airflow two seconds after ours: ours is still certain once others are ruled out."""
    runs = [Run("mine", 0.1, 30), Run("schedule", 2.5, 20, outcome="Failure"), Run("later", 30, 45)]
    ref = RunRef.from_trigger(trigger(0))
    [(_, obs)] = look([ref], runs, now=100)
    # the foreign run falls inside the window (tolerance), so without more knowledge: ambiguous, conflict
    assert obs.report is None and {c.description for c in obs.candidates} == {"mine", "schedule"}
    assert obs.state == "conflict"
    # with a zero tolerance the window is the round trip alone, and ours is certain
    tight = RunRef.from_trigger(trigger(0), tolerance=pendulum.duration(seconds=0))
    [(_, obs)] = look([tight], runs, now=100)
    assert own(obs) == "mine"


def test_runs_are_assigned_together_a_run_only_one_trigger_can_own_is_struck_from_the_others():
    # W1's window holds a and b; W2's only b: so W2 owns b, and W1 must own a
    runs = [Run("a", 0.1, 30), Run("b", 4.1, 30)]
    w1 = RunRef.from_trigger(trigger(0), tolerance=pendulum.duration(seconds=5))
    w2 = RunRef.from_trigger(trigger(4), tolerance=pendulum.duration(seconds=0))
    [(_, o1), (_, o2)] = look([w1, w2], runs, now=60)
    assert own(o2) == "b" and own(o1) == "a"
    # alone, W1 cannot tell
    [(_, alone)] = look([w1], runs, now=60)
    assert alone.report is None


def test_a_run_claimed_by_a_finished_waiter_is_not_taken_again():
    runs = [Run("a", 0.1, 30), Run("b", 1.1, 30)]
    w2 = RunRef.from_trigger(trigger(1))
    [(_, obs)] = look([w2], runs, now=60, claimed=[whole(0.1)])
    assert own(obs) == "b"


def test_the_previous_run_is_never_ours_and_a_pinned_run_is_followed():
    runs = [Run("previous", -180, -170), Run("mine", 0.1, 40)]
    ref = RunRef.from_trigger(trigger(0))
    [(ref, obs)] = look([ref], runs, now=20)
    assert ref.created_at == whole(0.1) and obs.state == "running" and own(obs) == "mine"
    runs.append(Run("newer", 45, 50))
    [(_, obs)] = look([ref], runs, now=60)
    assert own(obs) == "mine" and obs.state == "success" and not obs.is_newest
    assert rows_unavailable(ref, obs) == "superseded"


def test_a_pinned_run_missing_from_the_reports_keeps_waiting():
    ref = RunRef.from_trigger(trigger(0))
    ref = RunRef.from_dict({**ref.to_dict(), "created_at": whole(0.1).isoformat()})
    [(_, obs)] = look([ref], [Run("other", 30, 40, name="B")], now=60)
    assert obs.state == "waiting" and obs.raw_status == "not in run reports"


def test_queued_triggers_wait_until_the_automation_is_idle_then_match_in_order():
    """Cloud concurrency off: run A executes, B and C are queued and start at later queue ticks."""
    runs = [Run("A", 0.1, 100), Run("B", 300, 400), Run("C", 600, 700)]
    refs = [
        RunRef.from_trigger(trigger(0)),
        RunRef.from_trigger(trigger(7, queued=True)),
        RunRef.from_trigger(trigger(14, queued=True)),
    ]
    assert refs[1].kind == "queued" and refs[1].not_after is None
    # B ended but C's run has not started: a queued waiter cannot be sure which run is its own yet
    seen = look(refs, runs, now=450)
    assert own(seen[0][1]) == "A"
    assert not seen[1][1].state.ends_wait and not seen[2][1].state.ends_wait
    # everything ended and the automation stayed idle for the queue window: the queued ones are ambiguous
    # (the API does not say which queued trigger started which run), never another's, and all succeeded
    seen = look(refs, runs, now=700 + 601)
    for (_, obs), mine in zip(seen[1:], ("B", "C"), strict=True):
        assert obs.report is None and mine in {c.description for c in obs.candidates} and obs.state == "success"


def test_a_single_queued_trigger_gets_its_run_once_the_automation_is_idle():
    runs = [Run("previous", -50, 120), Run("mine", 300, 360)]
    [(_, obs)] = look([RunRef.from_trigger(trigger(0, queued=True))], runs, now=370)
    assert not obs.state.ends_wait  # ended, but another queued run of it could still start
    [(_, obs)] = look([RunRef.from_trigger(trigger(0, queued=True))], runs, now=360 + 601)
    assert own(obs) == "mine" and obs.state == "success"


def test_a_sensor_takes_the_first_run_since_whoever_started_it():
    runs = [Run("old", -40, -30), Run("first", 5.1, 20), Run("second", 9.1, 30)]
    ref = RunRef.first_since(NAME, T0)
    [(ref, obs)] = look([ref], runs, now=25)
    assert own(obs) == "first" and ref.created_at == whole(5.1)


def test_with_more_newer_runs_than_the_window_holds_nothing_is_pinned():
    newer = [RunReport(NAME, "Success", f"n{i}", T0.add(seconds=60 + i), T0.add(seconds=61 + i)) for i in range(20)]
    ref = RunRef.from_trigger(trigger(0))
    oldest = min(r.created_at for r in newer)
    [(pinned, obs)] = match([ref], newer, now=at(200), oldest=oldest, full=True)
    assert not reaches(oldest, True, ref.not_before) and pinned.created_at is None and not obs.state.ends_wait


def test_window_sizes():
    assert wider(REPORT_WINDOW) == 100 and wider(2000) == MAX_REPORT_WINDOW
    reports = [RunReport(NAME, "Success", "x", T0.add(seconds=i), None) for i in range(10)]
    assert narrower(500, reports, [T0.add(seconds=5)]) == 100
    assert narrower(500, reports, []) == 500


def test_rows_are_confirmed_only_while_the_run_is_still_the_newest():
    mine = whole(0.1)
    assert shows_newest(NAME, mine, reports_at([Run("mine", 0.1, 10)], now=20))
    assert not shows_newest(NAME, mine, reports_at([Run("mine", 0.1, 10), Run("next", 12, 13)], now=20))
    assert not shows_newest(NAME, mine, reports_at([], now=20))  # a read that does not list the run confirms nothing


def test_the_reference_survives_its_json_round_trip():
    for ref in (
        RunRef.from_trigger(trigger(3), attempt=2),
        RunRef.from_trigger(trigger(3, queued=True, run_id="run_9")),
        RunRef.first_since(NAME, T0, viewer_url="https://v"),
    ):
        assert RunRef.from_dict(ref.to_dict()) == ref
    with pytest.raises(ValueError, match="kind"):
        RunRef.from_dict({**RunRef.first_since(NAME, T0).to_dict(), "kind": "bogus"})


# ---------------------------------------------------------------- the property, over generated fan-outs


@st.composite
def fan_outs(draw):
    """Triggers of one automation from several processes, queued or started, plus foreign runs."""
    n = draw(st.integers(1, 6))
    runs, refs = [], []
    t = 0.0
    for i in range(n):
        t += draw(st.floats(0, 8))
        rtt = draw(st.floats(0.01, 0.8))
        queued = draw(st.booleans()) and i > 0
        start = t + draw(st.floats(30, 500)) if queued else t + draw(st.floats(0, rtt))
        end = start + draw(st.floats(1, 120))
        outcome = draw(st.sampled_from(["Success", "Failure"]))
        runs.append(Run(f"w{i}", start, end, outcome, listed_after=draw(st.floats(0, 9))))
        refs.append(RunRef.from_trigger(trigger(t, rtt, queued=queued)))
    for j in range(draw(st.integers(0, 3))):  # started outside Airflow, any time
        start = draw(st.floats(-20, t + 60))
        runs.append(Run(f"f{j}", start, start + draw(st.floats(1, 90)), draw(st.sampled_from(["Success", "Failure"]))))
    groups = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))  # two triggerers
    times = draw(st.lists(st.floats(0, 1500), min_size=1, max_size=4))
    return runs, refs, groups, sorted(times)


@settings(max_examples=300, deadline=None)
@given(fan_outs())
def test_no_waiter_ever_reports_another_run_nor_ends_before_its_own(case):
    runs, refs, groups, times = case
    truth = {f"w{i}": run for i, run in enumerate(runs) if run.ident.startswith("w")}
    for group in (0, 1):
        members = [i for i in range(len(refs)) if groups[i] == group]
        current = [refs[i] for i in members]
        for now in times:
            seen = look(current, runs, now)
            current = [ref for ref, _ in seen]
            for i, (_, obs) in zip(members, seen, strict=True):
                mine = truth[f"w{i}"]
                if obs.report is not None:
                    assert obs.report.description == mine.ident, "another run reported as this task's"
                if obs.candidates:
                    assert mine.ident in {c.description for c in obs.candidates}
                assert isinstance(obs.state, RunState)
                if obs.state.ends_wait:
                    assert now >= mine.end, "the waiter ended before its own run did"
                    if obs.state.over:
                        assert obs.state == mine.outcome.lower()


def test_default_tolerance_and_spacing_keep_one_process_s_windows_apart():
    from airflow_provider_axiom._run_ref import RESOLUTION, TRIGGER_SPACING

    first = RunRef.from_trigger(trigger(0, rtt=0.9))
    second = RunRef.from_trigger(trigger(TRIGGER_SPACING.total_seconds(), rtt=0.05))
    assert first.not_after is not None and first.not_after < second.not_before
    assert TRIGGER_SPACING > RESOLUTION + DEFAULT_TOLERANCE
