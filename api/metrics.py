"""What operators watch, as Prometheus metrics (prometheus-client): requests by route template and
status with their latency, the lanes' queues and refusals, worker pools replaced, store errors by
kind and open incidents. Labels hold route templates, statuses, lane names and error kinds only:
nothing about a child, and no incident id.

One registry per server process. With ``misper serve --workers N`` each scrape is answered by
one of the N processes and shows that process's counts (``process`` in each sample's labels
says which); Prometheus sums them across scrapes of a steady target."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()
PROCESS = str(os.getpid())

REQUESTS = Histogram(
    "misper_request_seconds",
    "Time to answer a request, by route template, method and status.",
    ["route", "method", "status", "process"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
LANE_BUSY = Gauge(
    "misper_lane_requests",
    "Requests a lane holds: running in its worker processes or waiting for one.",
    ["lane", "process"],
    registry=REGISTRY,
)
LANE_REFUSED = Counter(
    "misper_lane_refused",
    "Requests a lane answered 429 because it was full (replays: the admission limit).",
    ["lane", "process"],
    registry=REGISTRY,
)
WORKER_RESTARTS = Counter(
    "misper_worker_pool_replaced",
    "Worker pools replaced, by lane and reason (retired after their jobs, or broken).",
    ["lane", "reason", "process"],
    registry=REGISTRY,
)
STORE_ERRORS = Counter(
    "misper_store_errors",
    "Errors of the incident store answered to clients, by kind.",
    ["kind", "process"],
    registry=REGISTRY,
)
OPEN_INCIDENTS = Gauge(
    "misper_open_incidents",
    "Stored incidents not yet closed (read from the store when scraped).",
    registry=REGISTRY,
)
OPEN_ALERTS = Gauge(
    "misper_open_alerts",
    "Alerts not yet acknowledged (read from the store when scraped).",
    registry=REGISTRY,
)
ALERT_ATTEMPTS = Counter(
    "misper_alert_delivery_attempts",
    "Webhook delivery attempts made by this process, by outcome (delivered, retry, failed).",
    ["outcome", "process"],
    registry=REGISTRY,
)
ALERT_ATTEMPT_SECONDS = Histogram(
    "misper_alert_delivery_seconds",
    "Time a receiver took to answer a delivery attempt (or to fail it).",
    ["process"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
ALERT_PASSES = Counter(
    "misper_alert_dispatcher_passes",
    "Passes of the alert dispatcher (judging due incidents, escalating, claiming deliveries), by result.",
    ["result", "process"],
    registry=REGISTRY,
)
ALERT_LAG = Gauge(
    "misper_alert_dispatcher_lag_seconds",
    "How late the dispatcher's last pass began after the earliest alert work it found due.",
    ["process"],
    registry=REGISTRY,
)
