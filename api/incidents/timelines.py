"""A stored incident's timeline, parsed without parsing again what was parsed before.

An incident's events are stored once and never edited, and each append, evaluation or alert check
judges the whole timeline. Parsing and checking every stored event again each time made an
append's cost grow with the incident (at 2,000 stored events most of it). A process therefore
remembers each stored event's parsed form by its stored JSON text: the same text always parses to
the same event, so what is remembered can never be out of date, only forgotten (the oldest first,
within a budget of text). The timeline is then put together from parsed parts and given the same
checks across its events as a parsed timeline gets. Anything that fails on this way is parsed
again the ordinary way, from the whole text, so a refusal names its fields exactly as it always
has.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Collection
from typing import Any, NamedTuple

from pydantic import TypeAdapter, ValidationError

from misper.api.incidents.store import Profile, as_json
from misper.engine.clock.context import Ordered, Row, event_row, order_events
from misper.engine.contract.parse import checked_timeline, parse_timeline
from misper.engine.contract.timeline import MAX_EVENTS, Child, Event, Id, Timeline
from misper.engine.errors import InvalidTimeline
from misper.engine.localtime import text_epoch

EVENT = TypeAdapter(Event)
_ID = TypeAdapter(Id)
# Characters of stored event text whose parsed events a process keeps (about 2 KB of memory per
# event of a few hundred characters: some 10,000 events).
BUDGET = 4 * 1024 * 1024


class ParsedEvents:
    """Stored event text -> its parsed event and the row the engine orders it by, the least
    recently used forgotten first once the texts remembered pass ``budget`` characters."""

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self.held = 0
        self._events: OrderedDict[str, tuple[Event, Row]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def parsed(self, text: str) -> Event:
        """The event the text holds (ValidationError when it is not a valid one)."""
        return self.found(text)[0]

    def found(self, text: str) -> tuple[Event, Row]:
        """The event the text holds and its row (ValidationError when it is not a valid one)."""
        found = self._events.get(text)
        if found is not None:
            self._events.move_to_end(text)
            return found
        event = EVENT.validate_json(text)
        made = (event, event_row(event))
        if len(text) <= self.budget:
            self._events[text] = made
            self.held += len(text)
            while self.held > self.budget:
                forgotten, _ = self._events.popitem(last=False)
                self.held -= len(forgotten)
        return made


PARSED = ParsedEvents()


class Stored(NamedTuple):
    timeline: Timeline
    counted: list[dict[str, Any]]  # the child's stored episodes it counts
    ordered: Ordered | None  # its events in time order, when worked out from remembered rows


def stored_timeline(
    incident_id: str,
    profile: Profile,
    stored: Collection[str],
    added: list[dict[str, Any]],
    episodes: list[dict[str, Any]],
) -> Stored:
    """The incident's checked timeline (``stored``: its stored events' JSON, in stored order;
    ``added``: events about to be stored, in their stored form) and the child's stored episodes
    it counts; InvalidTimeline names what is wrong as parse_timeline does."""
    counted = counted_episodes(profile, episodes)
    try:
        child = Child.model_validate_json(json.dumps(body_child(profile, counted)))
        # An added event's text is the one it is stored as, so the next append finds it here.
        found = [PARSED.found(text) for text in [*stored, *map(as_json, added)]]
        _ID.validate_python(incident_id)
        if profile.policy:
            _ID.validate_python(profile.policy)
        if not 1 <= len(found) <= MAX_EVENTS:
            raise ValueError("outside the number of events a timeline holds")
        fields: dict[str, Any] = {"incident_id": incident_id, "child": child, "events": [e for e, _ in found]}
        if profile.policy:
            fields["policy"] = profile.policy
        made = Timeline.model_construct(**fields)
        timeline = checked_timeline(made)
    except (ValidationError, ValueError, InvalidTimeline):
        # The whole text, made only now. Its keys are not checked again: it is written from
        # stored events and a request that were checked when they came in.
        body, _ = assemble_text(incident_id, profile, stored, added, episodes)
        return Stored(parse_timeline(body, keys_checked=True), counted, None)
    # The rows order the events only when the checks kept every one (no repeat, no correction).
    ordered = order_events(timeline, [row for _, row in found]) if timeline is made else None
    return Stored(timeline, counted, ordered)


def assemble(
    incident_id: str, profile: Profile, events: list[dict[str, Any]], episodes: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stored timeline as contract v1 JSON, and the child's stored episodes it counts: those
    at an instant the profile's own previous episodes do not already give."""
    counted = counted_episodes(profile, episodes)
    child = body_child(profile, counted)
    body: dict[str, Any] = {"incident_id": incident_id, "child": child, "events": events}
    if profile.policy:
        body["policy"] = profile.policy
    return body, counted


def assemble_text(
    incident_id: str,
    profile: Profile,
    stored: Collection[str],
    added: list[dict[str, Any]],
    episodes: list[dict[str, Any]],
) -> tuple[str, list[dict[str, Any]]]:
    """assemble() as JSON text, with the stored events (``stored``: their stored JSON) written
    as they are, not parsed and written again."""
    counted = counted_episodes(profile, episodes)
    events = ", ".join([*stored, *map(as_json, added)])
    child = json.dumps(body_child(profile, counted))
    text = f'{{"incident_id": {json.dumps(incident_id)}, "child": {child}, "events": [{events}]'
    if profile.policy:
        text += f', "policy": {json.dumps(profile.policy)}'
    return text + "}", counted


def counted_episodes(profile: Profile, episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The child's stored episodes a timeline counts: those at an instant the profile's own
    previous episodes do not already give."""
    given = {text_epoch(e["reported_at"]) for e in profile.child.get("previous_episodes", [])}
    return [e for e in episodes if text_epoch(e["reported_at"]) not in given]


def body_child(profile: Profile, counted: list[dict[str, Any]]) -> dict[str, Any]:
    """The profile's child with the counted episodes after its own."""
    child = dict(profile.child)
    if counted:
        child["previous_episodes"] = [*child.get("previous_episodes", []), *counted]
    return child
