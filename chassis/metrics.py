"""Prometheus metrics of every service. Names are fixed here so dashboards work for all.

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` before the
process starts (``lanhmanh serve`` does); `/metrics` then aggregates every worker.
"""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)

HTTP_REQUESTS = Counter(
    "lanhmanh_http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "lanhmanh_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("lanhmanh_events_published_total", "Events relayed from the outbox", ["service", "topic"])
EVENTS_CONSUMED = Counter("lanhmanh_events_consumed_total", "Events applied by a consumer", ["service", "consumer", "type"])
EVENTS_DUPLICATE = Counter("lanhmanh_events_duplicate_total", "Redelivered events skipped by the inbox", ["service", "consumer"])
EVENTS_FAILED = Counter("lanhmanh_events_failed_total", "Failed attempts to apply an event", ["service", "consumer"])
EVENTS_DEAD_LETTERED = Counter("lanhmanh_events_dead_lettered_total", "Events sent to the dead-letter topic", ["service", "consumer"])
RELAY_FAILURES = Counter("lanhmanh_outbox_publish_failures_total", "Outbox events the broker did not acknowledge", ["service"])
OUTBOX_BACKLOG = Gauge("lanhmanh_outbox_backlog", "Outbox events not yet published", ["service"], multiprocess_mode="livemax")
HOUSEKEEPING_DELETED = Counter("lanhmanh_housekeeping_deleted_total",
                               "Old rows deleted from the outbox, inbox and idempotency tables", ["service", "table"])
CONSUMER_LAG = Gauge("lanhmanh_consumer_lag", "Messages behind the end of the assigned partitions", ["service", "consumer"], multiprocess_mode="livemax")


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
