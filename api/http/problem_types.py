"""Every problem type the API answers with, once: its status, title and what it means.

A problem's ``type`` is ``/problems/<slug>``, a page served by misper itself (no key needed:
it is documentation), so a caller can tell two 422s apart by their type and read what each
means. The OpenAPI document lists them all under ``x-problem-types``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

TYPE_BASE = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": TYPE_BASE + self.slug, **{k: v for k, v in asdict(self).items() if k != "slug"}}


_TYPES = [
    ProblemType("bad_request", 400, "Bad request", "The request is not valid HTTP/1.1."),
    ProblemType(
        "client_disconnected", 400, "Client disconnected", "The client went away before its body was read."
    ),
    ProblemType(
        "unauthorised", 401, "Unauthorised", "No API key was sent as a bearer token, or it is not valid."
    ),
    ProblemType(
        "forbidden", 403, "Forbidden", "The key's role may not use this operation; detail lists the roles."
    ),
    ProblemType(
        "key_without_force",
        403,
        "Key without a force",
        "The key was made before keys belonged to forces; `misper db upgrade --force ID` gives it one.",
    ),
    ProblemType("not_found", 404, "Not found", "No such route."),
    ProblemType(
        "unknown_policy", 404, "Not found", "No policy version has this id (422 when named in a request)."
    ),
    ProblemType(
        "unknown_incident", 404, "Not found", "No incident is stored under this id; create it with PUT first."
    ),
    ProblemType("unknown_alert", 404, "Not found", "No alert has this id."),
    ProblemType("unknown_subscription", 404, "Not found", "No receiver is registered under this id."),
    ProblemType(
        "incident_conflict",
        409,
        "Conflict",
        "An event id is already stored with other content; an event is never edited, send a correction.",
    ),
    ProblemType("method_not_allowed", 405, "Method not allowed", "The route does not take this method."),
    ProblemType("request_timeout", 408, "Request timeout", "The request did not arrive whole in time."),
    ProblemType("request_body_too_large", 413, "Request body too large", "The body is over the size limit."),
    ProblemType(
        "unsupported_media_type",
        415,
        "Unsupported media type",
        "The body is not sent as Content-Type: application/json, or is encoded.",
    ),
    ProblemType(
        "invalid_timeline",
        422,
        "The timeline is not valid",
        "The timeline breaks contract v1; errors name each field.",
    ),
    ProblemType(
        "invalid_request",
        422,
        "The request is not valid",
        "A query parameter is unknown, repeated or invalid, or disagrees with the timeline; errors name it.",
    ),
    ProblemType(
        "no_policy_in_force",
        422,
        "No policy in force",
        "No policy version was in force at the report; name one.",
    ),
    ProblemType(
        "too_many_requests", 429, "Too many requests", "The evaluation lane is full; retry after Retry-After."
    ),
    ProblemType("request_failed", 400, "Request failed", "Another HTTP error; its status says which."),
    ProblemType(
        "internal_error", 500, "Internal error", "An unforeseen error; nothing about the request is logged."
    ),
    ProblemType("engine_error", 500, "The evaluation failed", "The engine failed in a way it does not name."),
    ProblemType(
        "not_ready", 503, "Not ready", "The policies are not loaded, or the key store is unreadable."
    ),
    ProblemType(
        "store_not_ready",
        503,
        "Store not ready",
        "The incident database cannot be reached or is not at the latest migration (misper db upgrade).",
    ),
    ProblemType(
        "incident_full",
        409,
        "Incident full",
        "The stored incident holds as many events as it may; the last few places are kept for found and "
        "closed events (and their corrections), so it can always be recorded found and closed.",
    ),
    ProblemType(
        "settings_invalid",
        503,
        "Settings not valid",
        "A MISPER_ setting names something misper cannot use (such as a database URL of another kind); "
        "the errors name the variable.",
    ),
    ProblemType(
        "key_store_unreadable",
        503,
        "Key store unreadable",
        "The key file cannot be read or is not a key store.",
    ),
    ProblemType(
        "evaluation_failed",
        503,
        "The evaluation could not be made",
        "The worker process stopped; it was replaced.",
    ),
    ProblemType(
        "rule_engine_failed",
        503,
        "The evaluation could not be made",
        "The rule engine raised; the answer is void.",
    ),
    ProblemType(
        "policy_invalid",
        503,
        "The evaluation could not be made",
        "The rules on disk changed since start-up, or no longer load; restart the server.",
    ),
]
REGISTRY: dict[str, ProblemType] = {t.slug: t for t in _TYPES}
