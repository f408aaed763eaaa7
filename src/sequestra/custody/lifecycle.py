"""The seizure lifecycle of a holding, as a state machine with one table of transitions.

    seized -> in_custody -> forfeited -> in_fund -> sold
      |           |             |
      +-----------+-------------+--> released

A holding is seized (recorded against a case), taken into custody (moved to a wallet the
state controls), forfeited by a court order, moved into the State Fund, and sold with the
proceeds going to the budget; until it reaches the Fund it may instead be released back to
its owner. `sold` and `released` are final. Nothing else is allowed: a released holding
cannot be forfeited, a seized one cannot skip custody, a holding in the Fund is no longer
released by this path. A partial sale or release splits a holding first; each part then
follows this machine on its own.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final


class State(StrEnum):
    """Where a holding is in its lifecycle."""

    SEIZED = "seized"
    IN_CUSTODY = "in_custody"
    FORFEITED = "forfeited"
    IN_FUND = "in_fund"
    SOLD = "sold"
    RELEASED = "released"


class Event(StrEnum):
    """What happens to a holding; each names the step it records."""

    CUSTODY_TAKEN = "custody_taken"
    FORFEITURE_ORDERED = "forfeiture_ordered"
    FUND_TRANSFERRED = "fund_transferred"
    SALE_SETTLED = "sale_settled"
    RELEASE_ORDERED = "release_ordered"


# The one table of allowed transitions: (state, event) -> next state.
TRANSITIONS: Final = MappingProxyType(
    {
        (State.SEIZED, Event.CUSTODY_TAKEN): State.IN_CUSTODY,
        (State.IN_CUSTODY, Event.FORFEITURE_ORDERED): State.FORFEITED,
        (State.FORFEITED, Event.FUND_TRANSFERRED): State.IN_FUND,
        (State.IN_FUND, Event.SALE_SETTLED): State.SOLD,
        (State.SEIZED, Event.RELEASE_ORDERED): State.RELEASED,
        (State.IN_CUSTODY, Event.RELEASE_ORDERED): State.RELEASED,
        (State.FORFEITED, Event.RELEASE_ORDERED): State.RELEASED,
    }
)
INITIAL_STATE: Final = State.SEIZED
FINAL_STATES: Final = frozenset({State.SOLD, State.RELEASED})
_NAME_LENGTH_MAX: Final = 40  # characters of a bad name echoed back in a message


class LifecycleError(ValueError):
    """An event is not allowed in a holding's state, or a state or event is unknown.

    `state` and `event` hold the names that were given (None when not given or not a
    string).
    """

    def __init__(self, message: str, state: str | None, event: str | None) -> None:
        super().__init__(message)
        self.state = state
        self.event = event


def _name(value: object) -> str:
    """Return a short, printable form of a state or event name for a message."""
    if not isinstance(value, str):
        return f"a value of type {type(value).__name__}"
    if len(value) > _NAME_LENGTH_MAX:
        return f"{value[:_NAME_LENGTH_MAX]!r}..."
    return repr(value)


def _text(value: object) -> str | None:
    """Return `value` cut to a bounded length when it is a string, else None."""
    return value[:_NAME_LENGTH_MAX] if isinstance(value, str) else None


def parse_state(value: object) -> State:
    """Return the `State` named by `value` (a `State` or its string value).

    Raises:
        LifecycleError: `value` names no state.
    """
    if isinstance(value, str) and value in State.__members__.values():
        return State(value)
    states = ", ".join(State)
    raise LifecycleError(f"state: expected one of {states}, got {_name(value)}", _text(value), None)


def parse_event(value: object) -> Event:
    """Return the `Event` named by `value` (an `Event` or its string value).

    Raises:
        LifecycleError: `value` names no event.
    """
    if isinstance(value, str) and value in Event.__members__.values():
        return Event(value)
    events = ", ".join(Event)
    raise LifecycleError(f"event: expected one of {events}, got {_name(value)}", None, _text(value))


def allowed_events(state: State | str) -> tuple[Event, ...]:
    """Return the events allowed in `state`, in the order of `Event` (none when final).

    Raises:
        LifecycleError: `state` names no state.
    """
    current = parse_state(state)
    return tuple(event for event in Event if (current, event) in TRANSITIONS)


def transition(state: State | str, event: Event | str) -> State:
    """Return the state a holding in `state` reaches through `event`.

    Raises:
        LifecycleError: `state` or `event` names nothing known, or `event` is not allowed
            in `state` (the message names both and lists what is allowed).
    """
    current = parse_state(state)
    happening = parse_event(event)
    reached = TRANSITIONS.get((current, happening))
    if reached is None:
        allowed = ", ".join(allowed_events(current))
        detail = f"allowed: {allowed}" if allowed else f"{current} is final"
        raise LifecycleError(
            f"event {happening} is not allowed for a holding in state {current} ({detail})",
            current.value,
            happening.value,
        )
    return reached


def is_final(state: State | str) -> bool:
    """Return True when no event is allowed in `state`.

    Raises:
        LifecycleError: `state` names no state.
    """
    return parse_state(state) in FINAL_STATES
