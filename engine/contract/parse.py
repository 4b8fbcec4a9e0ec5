"""Turn caller bytes into a checked Timeline, or an InvalidTimeline naming every bad field."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from misper.engine.contract.timeline import EVENT_MODELS, Child, Event, PreviousEpisode, Timeline
from misper.engine.errors import FieldError, InvalidTimeline

BROKEN = "the timeline does not follow contract v1"  # the message of every InvalidTimeline
OFFSET_HINT = (
    "must carry a UTC offset, e.g. 2023-07-11T19:40:00+01:00: a local time without one is "
    "ambiguous around daylight-saving changes"
)


def parse_timeline(raw: bytes | str | dict[str, Any], *, keys_checked: bool = False) -> Timeline:
    """Validate a contract v1 timeline; duplicate identical events are dropped, conflicts rejected.

    ``keys_checked``: the bytes were written by a JSON serialiser from parsed data whose source
    was checked with ``duplicate_keys``, so no object in them can repeat a key."""
    if isinstance(raw, bytes | str):
        text = raw
    else:
        try:
            text = json.dumps(raw)
        except (TypeError, ValueError) as exc:
            raise InvalidTimeline(BROKEN, [FieldError("body", f"is not JSON data: {exc}")]) from None
    try:
        timeline = Timeline.model_validate_json(text)
    except ValidationError as exc:
        data = loads_or_none(text)
        errors = [field_error(err, data) for err in exc.errors(include_url=False)]
        raise InvalidTimeline(BROKEN, errors) from None
    return checked_timeline(timeline, [] if keys_checked else duplicate_keys(text))


def checked_timeline(timeline: Timeline, key_errors: list[FieldError] | None = None) -> Timeline:
    """The checks of a timeline whose fields are valid, across its events: repeats dropped,
    corrections applied, one report that every event follows; ``key_errors`` (keys repeated in
    its JSON) are raised with any of these."""
    deduped, errors = _dedupe_events(timeline)
    errors = (key_errors or []) + errors
    current, correction_errors = _corrected(timeline)
    errors += correction_errors
    if not correction_errors:
        errors += _semantic_errors(timeline, current)
    if errors:
        raise InvalidTimeline(BROKEN, errors)
    kept = {id(e) for _, e in current}
    view = [e for e in deduped.events if id(e) in kept] if len(current) < len(timeline.events) else None
    return deduped.model_copy(update={"events": view}) if view is not None else deduped


def _corrected(timeline: Timeline) -> tuple[list[tuple[int, Event]], list[FieldError]]:
    """The events in force, with their places in the array: an event another one corrects is
    replaced by it. A correction names an event of the timeline, other than itself, of its own
    type, that no other event corrects; corrections do not go round in a circle."""
    events = timeline.events
    first: dict[str, int] = {}
    for index, event in enumerate(events):
        first.setdefault(event.id, index)
    corrected_by: dict[str, int] = {}
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        target = event.corrects
        if target is None or first[event.id] != index:
            continue
        where = f"events[{index}].corrects"
        if target not in first:
            errors.append(FieldError(where, f"{target!r} names no event of this incident"))
        elif target == event.id:
            errors.append(FieldError(where, "an event cannot correct itself"))
        elif events[first[target]].type != event.type:
            errors.append(
                FieldError(
                    where,
                    f"{target!r} is a {events[first[target]].type} event; a correction keeps the "
                    f"type of the event it corrects ({event.type})",
                )
            )
        elif target in corrected_by:
            errors.append(
                FieldError(
                    where,
                    f"{target!r} is already corrected by events[{corrected_by[target]}]; correct that one",
                )
            )
        else:
            corrected_by[target] = index
    errors += _circles(events, first, corrected_by)
    current = [(i, e) for i, e in enumerate(events) if first[e.id] == i and e.id not in corrected_by]
    return current, errors


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it was given more than once."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    made = _Object(pairs)
    made.repeated = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    return made


class _Repeated(Exception):
    """A JSON object gave a key twice: look again, naming where."""


def _plain(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):
        raise _Repeated
    return made


def duplicate_keys(text: bytes | str) -> list[FieldError]:
    """A key given twice in one JSON object is refused: a parser keeps one of the two values
    silently, and which one differs between parsers. (A first pass only asks whether any object
    repeats a key; the slower one that names them runs only when one does.)"""
    try:
        json.loads(text, object_pairs_hook=_plain)
        return []
    except _Repeated:
        pass
    except (ValueError, RecursionError):
        return []
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except (ValueError, RecursionError):
        return []
    errors: list[FieldError] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, _Object):
            for key in node.repeated:
                where = f"{path}.{key}" if path else key
                errors.append(
                    FieldError(where, "is given more than once in one object; give each field once")
                )
            stack += [(f"{path}.{k}" if path else k, v) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(node)]
    return sorted(errors, key=lambda e: e.field)


def loads_or_none(text: bytes | str) -> Any:
    """The raw document, only to name accepted fields in messages; anything odd gives None."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def field_path(loc: tuple[int | str, ...]) -> str:
    """('events', 2, 'risk_graded', 'at') -> 'events[2].at' (the union tag is not a field)."""
    out = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, int) and out.startswith("events[") and part in EVENT_MODELS:
            pass
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out or "body"


def field_error(err: Any, data: Any, root: type[BaseModel] | None = None) -> FieldError:
    """One pydantic error as a field error a caller can act on; ``root`` is the body's model when
    it is not a timeline (an incident's profile, an event batch, a webhook receiver)."""
    loc = tuple(err["loc"])
    kind = err["type"]
    field = field_path(loc)
    if kind == "json_invalid":
        return FieldError("body", f"is not valid JSON: {err['ctx'].get('error', err['msg'])}")
    if kind == "timezone_aware":
        return FieldError(field, OFFSET_HINT)
    if kind == "missing":
        return FieldError(field, "is required")
    if kind == "extra_forbidden":
        accepted = ", ".join(_accepted_fields(loc, root or Timeline))
        where = "of contract v1 " if root is None else ""
        return FieldError(field, f"is not a field {where}here; accepted fields: {accepted}")
    if kind == "union_tag_not_found":
        return FieldError(field + ".type", "is required: " + _event_types_sentence())
    if kind == "union_tag_invalid":
        return FieldError(
            field + ".type", f"{err['ctx']['tag']!r} is not an event type; " + _event_types_sentence()
        )
    if kind == "value_error":
        return FieldError(field, str(err["ctx"]["error"]))
    if kind in ("enum", "literal_error"):
        return FieldError(field, f"{err['input']!r} is not accepted; expected {err['ctx']['expected']}")
    return FieldError(field, err["msg"][:1].lower() + err["msg"][1:])


def _event_types_sentence() -> str:
    return "known event types: " + ", ".join(EVENT_MODELS)


def _accepted_fields(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    model = root
    if len(loc) > 1 and loc[:1] == ("child",):
        model = PreviousEpisode if "previous_episodes" in loc else Child
    elif loc[:1] == ("events",) and len(loc) >= 3 and isinstance(loc[2], str):
        model = EVENT_MODELS.get(loc[2], model)
    return list(model.model_fields)


def _dedupe_events(timeline: Timeline) -> tuple[Timeline, list[FieldError]]:
    """Drop exact repeats of an event or a previous episode; an event id reused with other
    content, or two episodes at one instant with different record kinds, is an error."""
    first: dict[str, int] = {}
    kept = []
    errors: list[FieldError] = []
    for index, event in enumerate(timeline.events):
        if event.id not in first:
            first[event.id] = index
            kept.append(event)
        elif timeline.events[first[event.id]] != event:
            errors.append(
                FieldError(
                    f"events[{index}].id",
                    f"{event.id!r} is already used by events[{first[event.id]}] with different "
                    "content; an event sent twice must be identical",
                )
            )
    episodes: dict[datetime, int] = {}
    kept_episodes = []
    for index, episode in enumerate(timeline.child.previous_episodes):
        seen = episodes.setdefault(episode.reported_at, index)
        if seen == index:
            kept_episodes.append(episode)
        elif timeline.child.previous_episodes[seen] != episode:
            errors.append(
                FieldError(
                    f"child.previous_episodes[{index}]",
                    f"is at the same instant as child.previous_episodes[{seen}] with a different "
                    "record kind; one episode has one record kind",
                )
            )
    update: dict[str, Any] = {}
    if len(kept) != len(timeline.events):
        update["events"] = kept
    if len(kept_episodes) != len(timeline.child.previous_episodes):
        update["child"] = timeline.child.model_copy(update={"previous_episodes": kept_episodes})
    return (timeline.model_copy(update=update) if update else timeline), errors


def _circles(events: list[Event], first: dict[str, int], corrected_by: dict[str, int]) -> list[FieldError]:
    for start in corrected_by:
        seen, node = {start}, events[first[start]].corrects
        while node is not None and node in first and node not in seen:
            seen.add(node)
            node = events[first[node]].corrects
        if node == start:
            return [FieldError(f"events[{first[start]}].corrects", "corrections go round in a circle")]
    return []


def _semantic_errors(timeline: Timeline, current: list[tuple[int, Event]]) -> list[FieldError]:
    """Checks of the events in force (a corrected event is replaced by its correction), naming
    each by its place in the array as sent."""
    errors: list[FieldError] = []
    reports = [i for i, event in current if event.type == "report_received"]
    if len(reports) != 1:
        found = "none" if not reports else ", ".join(f"events[{i}]" for i in reports)
        errors.append(FieldError("events", f"must hold exactly one report_received event; found {found}"))
        return errors
    report_at = dict(current)[reports[0]].at
    for index, event in current:
        if event.at < report_at:
            errors.append(
                FieldError(
                    f"events[{index}].at",
                    f"is before the report was received ({report_at.isoformat()}); "
                    "every event follows the report",
                )
            )
    if timeline.as_of is not None and timeline.as_of < report_at:
        errors.append(
            FieldError(
                "as_of",
                f"is before the report was received ({report_at.isoformat()}); "
                "nothing can be judged before the report",
            )
        )
    for index, episode in enumerate(timeline.child.previous_episodes):
        if episode.reported_at >= report_at:
            errors.append(
                FieldError(
                    f"child.previous_episodes[{index}].reported_at",
                    f"must be before this report ({report_at.isoformat()})",
                )
            )
    return errors
