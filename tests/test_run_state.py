"""The one run state (``_run_state.RunState``) and the one mapping of the API's words to it (``_protocol.run_state``).

Properties, against that one implementation: every API word (any case, any surrounding spaces)
maps to exactly one state, and only to a state an API word can give; "is it over" agrees with what
an event, a task's result and an asset event may carry; and the string a state is stored as reads
back as the same state. Events and payloads carry plain strings, as the released code wrote them.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_axiom import results
from airflow_provider_axiom._completion import EVENT_STATUSES, complete_from_event, run_summary, settles_run
from airflow_provider_axiom._completion.wait import outcome_event
from airflow_provider_axiom._completion.watch import WatchState, payload
from airflow_provider_axiom._matching import RunObservation
from airflow_provider_axiom._protocol import DOCUMENTED_STATUSES, run_state, says_finished
from airflow_provider_axiom._protocol.responses import _STATES
from airflow_provider_axiom._run_ref import RunRef
from airflow_provider_axiom._run_state import OUTCOMES, RunState
from airflow_provider_axiom._runs import same_outcome
from airflow_provider_axiom.exceptions import AxiomError, AxiomRunFailedError
from airflow_provider_axiom.results import RunData, RunReport
from airflow_provider_axiom.triggers.watch import AxiomRunFinishedTrigger

T0 = pendulum.datetime(2026, 11, 25, 12, 0, 0, tz="UTC")
NAME = "Scrape product prices"
#: The states an API word can map to; ``WAITING`` and ``CONFLICT`` are a wait's own.
FROM_API = {RunState.RUNNING, RunState.SUCCESS, RunState.FAILURE, RunState.UNKNOWN}

states = st.sampled_from(list(RunState))
known_words = st.sampled_from(sorted(_STATES))
spellings = st.sampled_from([str.lower, str.upper, str.title, str.capitalize, str.swapcase])
padding = st.sampled_from(["", " ", "\t", "\n", "  \r\n"])


@st.composite
def api_words(draw: Any) -> str:
    """A status as the API could send it: a word the mapping knows in any spelling, or any text."""
    if draw(st.booleans()):
        return draw(padding) + draw(spellings)(draw(known_words)) + draw(padding)
    return draw(st.sampled_from(["Finished", "Queued", "Warning", "", "Success!", "Runing"]) | st.text(max_size=12))


def report(status: str, started: int = 0, ended: int = 5) -> RunReport:
    return RunReport(NAME, status, f"a {status} run", T0.add(seconds=started), T0.add(seconds=ended))


def observation(word: str, conflict: bool) -> RunObservation:
    """What a wait sees of a run that says ``word`` (or, with ``conflict``, of candidates that ended differently)."""
    if conflict:
        runs = (report("Success", 0, 5), report("Failure", 0, 6))
        return RunObservation(RunState.CONFLICT, candidates=runs, raw_status="ambiguous")
    return RunObservation(run_state(word), report(word), is_newest=True, raw_status=word)


# ---------------------------------------------------------------- the mapping of the API's words


@settings(max_examples=300, deadline=None)
@given(word=known_words, spelling=spellings, before=padding, after=padding)
def test_every_api_word_maps_to_exactly_one_state_whatever_its_case_and_spacing(word, spelling, before, after):
    state = run_state(before + spelling(word) + after)
    assert state is run_state(word) is _STATES[word]
    assert state in FROM_API and state is not RunState.UNKNOWN


@settings(max_examples=300, deadline=None)
@given(status=api_words() | st.none())
def test_any_status_maps_to_one_state_an_api_word_can_give(status):
    state = run_state(status)
    assert isinstance(state, RunState) and state in FROM_API
    assert run_state(status) is state  # one answer, every time
    known = (status or "").strip().lower() in _STATES
    assert (state is RunState.UNKNOWN) is not known  # never a guess: what no rule reads is shown as unknown


def test_the_documented_words_map_to_three_distinct_states_and_finished_to_unknown():
    assert [run_state(word) for word in DOCUMENTED_STATUSES] == [RunState.RUNNING, RunState.SUCCESS, RunState.FAILURE]
    assert run_state("Finished") is RunState.UNKNOWN and says_finished(" FINISHED ") and says_finished("finished")
    assert not any(says_finished(word) for word in (*DOCUMENTED_STATUSES, *_STATES, "", None))


# ---------------------------------------------------------------- the one "is it over" rule


def test_over_is_exactly_the_outcomes_and_a_wait_also_ends_on_conflict_or_unknown():
    assert OUTCOMES == (RunState.SUCCESS, RunState.FAILURE)
    for state in RunState:
        assert state.over is (state in OUTCOMES)
        assert state.succeeded is (state is RunState.SUCCESS)
        assert not state.succeeded or state.over
        assert not state.over or state.ends_wait
    assert {s for s in RunState if s.ends_wait and not s.over} == {RunState.CONFLICT, RunState.UNKNOWN}
    assert {s for s in RunState if not s.ends_wait} == {RunState.WAITING, RunState.RUNNING}


@settings(max_examples=300, deadline=None)
@given(status=api_words())
def test_an_api_word_is_over_only_as_success_or_failure(status):
    state = run_state(status)
    assert state.over is (state in (RunState.SUCCESS, RunState.FAILURE))
    assert state.ends_wait is (state.over or state is RunState.UNKNOWN)  # no API word gives a conflict


@settings(max_examples=300, deadline=None)
@given(status=api_words(), outcome=st.sampled_from(OUTCOMES))
def test_run_data_describes_an_ended_run_by_the_same_rule(status, outcome):
    """``/run-data`` (the latest run) can describe a run that ended in ``outcome``: the same state, or ``Finished``."""
    expected = run_state(status) is outcome or (says_finished(status) and outcome.over)
    assert same_outcome(RunData(status, {}), outcome) is expected


# ---------------------------------------------------------------- what an event and a result carry


@settings(max_examples=300, deadline=None)
@given(status=api_words(), conflict=st.booleans())
def test_an_event_carries_a_run_state_exactly_when_the_run_is_over(status, conflict):
    obs = observation(status, conflict)
    if not obs.state.ends_wait:  # the wait goes on: no event
        assert obs.state in (RunState.RUNNING, RunState.WAITING)
        return
    ref = RunRef.first_since(NAME, T0)
    event = outcome_event(ref, obs)
    assert json.loads(json.dumps(event)) == event  # what the triggerer stores
    assert type(event["status"]) is str and event["status"] in EVENT_STATUSES
    assert (event["status"] in [s.value for s in OUTCOMES]) is obs.state.over
    if obs.state.over:
        assert RunState(event["status"]) is obs.state
    else:
        assert event["status"] == "error"  # a conflict or an unknown status is reported, never guessed
    assert settles_run(event) is obs.state.over
    summary = event["summary"]
    assert summary["status"] == obs.raw_status or conflict  # the API's own word, as it said it
    if obs.state.succeeded:
        assert complete_from_event(event) == summary
    else:
        with pytest.raises(AxiomRunFailedError if obs.state.over else AxiomError):
            complete_from_event(event)


@settings(max_examples=300, deadline=None)
@given(status=api_words(), conflict=st.booleans())
def test_a_result_says_why_rows_are_missing_only_for_a_run_that_succeeded(status, conflict):
    obs = observation(status, conflict)
    summary = run_summary(RunRef.first_since(NAME, T0), obs, data=None, unavailable="superseded")
    assert (summary["data_unavailable"] is not None) is obs.state.succeeded
    assert json.loads(json.dumps(summary)) == summary


@settings(max_examples=300, deadline=None)
@given(status=api_words(), fire_on=st.sets(st.sampled_from(OUTCOMES), min_size=1))
def test_an_asset_event_fires_for_an_ended_run_and_carries_its_state_as_a_string(status, fire_on):
    run = report(status, 1, 4)
    fired = WatchState(T0).select([run], [NAME], [s.value for s in fire_on], now=T0.add(seconds=5), complete=True)
    state = run_state(status)
    assert (fired == [run]) is (state.over and state in fire_on)
    body = payload(run)
    assert type(body["status"]) is str and RunState(body["status"]) is state
    assert body["outcome"] == status


# ---------------------------------------------------------------- the stored strings round-trip


@given(state=states)
def test_a_state_is_stored_as_its_string_and_reads_back_as_itself(state):
    text = state.value
    assert type(text) is str and text == text.lower() == state.name.lower()
    assert RunState(text) is state
    assert str(state) == f"{state}" == "%s" % state == text  # noqa: UP031 (what a log line shows)
    assert state == text and hash(state) == hash(text)
    assert json.loads(json.dumps(state)) == text and json.loads(json.dumps({"s": state})) == {"s": text}
    assert pickle.loads(pickle.dumps(state)) is state


@settings(max_examples=300, deadline=None)
@given(status=api_words())
def test_the_round_trip_from_an_api_word_through_its_stored_string(status):
    state = run_state(status)
    assert RunState(state.value) is state
    assert run_state(state.value) is state  # a stored state read as an API word is itself again


def test_event_statuses_that_are_not_run_states_never_read_as_one():
    assert EVENT_STATUSES == ("success", "failure", "timeout", "error")  # what released triggers yield
    assert all(type(s) is str for s in EVENT_STATUSES)
    for status in EVENT_STATUSES[len(OUTCOMES) :]:
        with pytest.raises(ValueError):
            RunState(status)


def test_what_the_released_code_stored_still_loads():
    """Events, results and trigger kwargs written as plain strings by the released code."""
    summary = {"automation_name": NAME, "status": "Success", "data": {"t": [["a"]]}}
    with pytest.warns(DeprecationWarning, match="yielded by a 0.2 trigger"):  # loose keys, read until 0.4
        assert complete_from_event({"status": "success", "automation_name": NAME, "summary": summary}) == summary
    with pytest.raises(AxiomRunFailedError), pytest.warns(DeprecationWarning, match="yielded by a 0.2 trigger"):
        complete_from_event({"status": "failure", "automation_name": NAME, "summary": {"status": "Failure"}})
    assert [settles_run({"status": s}) for s in EVENT_STATUSES] == [True, True, True, False]
    kwargs = AxiomRunFinishedTrigger(automation_name=NAME, outcomes=["failure", "success"]).serialize()[1]
    assert kwargs["outcomes"] == ["success", "failure"] and all(type(o) is str for o in kwargs["outcomes"])
    again = AxiomRunFinishedTrigger(**kwargs).serialize()[1]
    assert again == kwargs and json.dumps(again) == json.dumps(kwargs)
    default = AxiomRunFinishedTrigger(automation_name=NAME).serialize()[1]["outcomes"]
    assert default == ["success"] and type(default[0]) is str


def test_the_public_name_is_the_one_type():
    assert results.RunState is RunState and "RunState" in results.__all__
    assert run_state("Success") == "success"  # a RunState still compares equal to the string it was
