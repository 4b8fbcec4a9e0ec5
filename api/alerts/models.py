"""What the alert routes take and give."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from misper.engine.contract.evaluation import Instant
from misper.engine.contract.vocabulary import Role, Severity

Kind = Literal["due_soon", "due", "finding", "escalated"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def receiver_url(url: str) -> str:
    """An http or https URL with a host (loopback included: on-premise receivers); no user or
    password in it (a receiver checks the signature instead), no fragment."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not hold a user or password: a receiver checks the signature instead")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return url


class SubscriptionAsk(_Strict):
    """POST /v1/subscriptions: a receiver's URL and, optionally, which alerts it wants (each list:
    any of these; absent or empty: all)."""

    url: Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(receiver_url)]
    roles: Annotated[list[Role], Field(max_length=20)] = []
    severities: Annotated[list[Severity], Field(max_length=4)] = []
    kinds: Annotated[list[Kind], Field(max_length=4)] = []


class AckAsk(_Strict):
    """POST /v1/alerts/{id}/ack: an optional note, kept in the incident's audit trail."""

    note: Annotated[str, Field(max_length=2000)] | None = None


class Subscription(BaseModel):
    id: str
    url: str
    roles: list[Role]
    severities: list[Severity]
    kinds: list[Kind]
    created_at: Instant
    created_by: str
    active: bool


class SubscriptionCreated(Subscription):
    secret: str  # whsec_...: shown once, to verify each delivery's signature


class SubscriptionList(BaseModel):
    subscriptions: list[Subscription]


class Alert(BaseModel):
    alert_id: str
    seq: int  # its place in the order alerts were raised: the stream's event id
    incident_id: str
    kind: Kind
    deadline: str | None
    occurrence: int | None
    code: str
    clause: str
    owner: Role | None
    due_at: Instant
    severity: Severity
    message: str
    escalates: str | None  # the alert this one escalates
    raised_at: Instant
    status: Literal["open", "acknowledged"]
    acknowledged_at: Instant | None
    acknowledged_by: str | None
    note: str | None


class AlertList(BaseModel):
    status: Literal["open", "acknowledged", "all"]
    page: int
    per_page: int
    total: int
    alerts: list[Alert]


class Attempt(BaseModel):
    attempt: int
    at: Instant
    status_code: int | None
    latency_ms: int
    error: str | None


class Delivery(BaseModel):
    alert_id: str
    webhook_id: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: list[Attempt]


class DeliveryLog(BaseModel):
    subscription_id: str
    page: int
    per_page: int
    total: int
    deliveries: list[Delivery]


class AuditEntry(BaseModel):
    at: Instant
    key_name: str
    action: Literal["alert_acknowledged", "inspectorate_read"]
    alert_id: str | None
    note: str | None


class IncidentAudit(BaseModel):
    incident_id: str
    page: int
    per_page: int
    total: int
    entries: list[AuditEntry]


MODELS = (
    SubscriptionAsk,
    AckAsk,
    SubscriptionCreated,
    SubscriptionList,
    AlertList,
    DeliveryLog,
    IncidentAudit,
)
