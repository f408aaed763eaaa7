"""The seizure lifecycle: every allowed step, and every other step refused by name."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sequestra.custody.lifecycle import (
    FINAL_STATES,
    INITIAL_STATE,
    TRANSITIONS,
    Event,
    LifecycleError,
    State,
    allowed_events,
    is_final,
    parse_event,
    parse_state,
    transition,
)


def walk(*events: Event) -> State:
    state = INITIAL_STATE
    for event in events:
        state = transition(state, event)
    return state


def test_seized_to_sold() -> None:
    assert INITIAL_STATE is State.SEIZED
    assert walk(Event.CUSTODY_TAKEN) is State.IN_CUSTODY
    assert walk(Event.CUSTODY_TAKEN, Event.FORFEITURE_ORDERED) is State.FORFEITED
    assert (
        walk(Event.CUSTODY_TAKEN, Event.FORFEITURE_ORDERED, Event.FUND_TRANSFERRED) is State.IN_FUND
    )
    assert (
        walk(
            Event.CUSTODY_TAKEN,
            Event.FORFEITURE_ORDERED,
            Event.FUND_TRANSFERRED,
            Event.SALE_SETTLED,
        )
        is State.SOLD
    )


@pytest.mark.parametrize("state", [State.SEIZED, State.IN_CUSTODY, State.FORFEITED])
def test_release_before_the_fund(state: State) -> None:
    assert transition(state, Event.RELEASE_ORDERED) is State.RELEASED


def test_the_table_is_exactly_the_designed_one() -> None:
    assert dict(TRANSITIONS) == {
        (State.SEIZED, Event.CUSTODY_TAKEN): State.IN_CUSTODY,
        (State.IN_CUSTODY, Event.FORFEITURE_ORDERED): State.FORFEITED,
        (State.FORFEITED, Event.FUND_TRANSFERRED): State.IN_FUND,
        (State.IN_FUND, Event.SALE_SETTLED): State.SOLD,
        (State.SEIZED, Event.RELEASE_ORDERED): State.RELEASED,
        (State.IN_CUSTODY, Event.RELEASE_ORDERED): State.RELEASED,
        (State.FORFEITED, Event.RELEASE_ORDERED): State.RELEASED,
    }


def test_the_table_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        key = (State.RELEASED, Event.FORFEITURE_ORDERED)
        TRANSITIONS[key] = State.FORFEITED  # type: ignore[index]


FORBIDDEN = [
    (state, event)
    for state, event in itertools.product(State, Event)
    if (state, event) not in TRANSITIONS
]


@pytest.mark.parametrize(("state", "event"), FORBIDDEN)
def test_every_other_step_is_refused_naming_state_and_event(state: State, event: Event) -> None:
    with pytest.raises(LifecycleError) as caught:
        transition(state, event)
    message = str(caught.value)
    assert f"event {event.value} " in message
    assert f"in state {state.value} " in message
    assert caught.value.state == state.value
    assert caught.value.event == event.value


def test_forfeiting_a_released_holding_is_refused() -> None:
    with pytest.raises(LifecycleError) as caught:
        transition("released", "forfeiture_ordered")
    assert str(caught.value) == (
        "event forfeiture_ordered is not allowed for a holding in state released "
        "(released is final)"
    )


def test_refusal_lists_what_is_allowed() -> None:
    with pytest.raises(LifecycleError, match=r"\(allowed: custody_taken, release_ordered\)$"):
        transition(State.SEIZED, Event.FORFEITURE_ORDERED)
    with pytest.raises(LifecycleError, match=r"\(allowed: sale_settled\)$"):
        transition(State.IN_FUND, Event.RELEASE_ORDERED)


def test_final_states_agree_with_the_table() -> None:
    assert {state for state in State if not allowed_events(state)} == FINAL_STATES
    assert is_final("sold")
    assert is_final(State.RELEASED)
    assert not is_final(State.FORFEITED)
    assert allowed_events("forfeited") == (Event.FUND_TRANSFERRED, Event.RELEASE_ORDERED)


def test_every_state_is_reachable_from_seizure() -> None:
    reached = {INITIAL_STATE}
    frontier = [INITIAL_STATE]
    while frontier:
        state = frontier.pop()
        for event in allowed_events(state):
            after = transition(state, event)
            if after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(State)


def test_strings_are_accepted_and_parsed() -> None:
    assert transition("seized", "custody_taken") is State.IN_CUSTODY
    assert parse_state("in_fund") is State.IN_FUND
    assert parse_event("sale_settled") is Event.SALE_SETTLED


@pytest.mark.parametrize("value", ["Seized", "in custody", "", "x" * 1000, None, 3, b"seized"])
def test_unknown_states_are_refused(value: object) -> None:
    with pytest.raises(LifecycleError, match=r"^state: expected one of seized, in_custody") as e:
        transition(value, Event.CUSTODY_TAKEN)  # type: ignore[arg-type]
    assert e.value.event is None
    assert e.value.state == (value[:40] if isinstance(value, str) else None)
    assert len(str(e.value)) < 300  # a hostile name is cut short


@pytest.mark.parametrize("value", ["forfeit", "SALE_SETTLED", "", None, 1])
def test_unknown_events_are_refused(value: object) -> None:
    with pytest.raises(LifecycleError, match=r"^event: expected one of custody_taken") as e:
        transition(State.SEIZED, value)  # type: ignore[arg-type]
    assert e.value.state is None
    assert e.value.event == (value if isinstance(value, str) else None)


@given(st.lists(st.sampled_from(list(Event)), max_size=12))
def test_random_event_sequences_follow_the_table(events: list[Event]) -> None:
    state = INITIAL_STATE
    for event in events:
        expected = TRANSITIONS.get((state, event))
        if expected is None:
            with pytest.raises(LifecycleError):
                transition(state, event)
        else:
            state = transition(state, event)
            assert state is expected
    if is_final(state):
        for event in Event:
            with pytest.raises(LifecycleError):
                transition(state, event)
