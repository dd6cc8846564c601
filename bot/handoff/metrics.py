"""The handoff's numbers in Prometheus text format: containment, handoff rate, wait, CSAT.

A collector reads the queue's durable items at scrape time, so the numbers survive a restart and
nothing is counted twice. Each app has its own CollectorRegistry (never the process-global one),
so two servers in one process (tests) do not collide.

`/metrics` tells when nobody is staffed, so it is not public: it needs
`Authorization: Bearer <HALMSTAD_METRICS_TOKEN>`. Without that setting it answers 404 (metrics
are off, and an outsider cannot tell whether they exist); with it, a missing or wrong token is 401.
"""
from __future__ import annotations

import hmac
import os

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TOKEN_ENV = "HALMSTAD_METRICS_TOKEN"


def scrape_status(authorization: str | None) -> int:
    """Return 200 when a scrape with this Authorization header may read the metrics, 404 when
    no token is configured, 401 when the header does not carry the configured bearer token."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        return 404
    scheme, _, given = (authorization or "").partition(" ")
    # Bytes: a header may hold surrogate-escaped bytes, which compare_digest refuses as text.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        return 401
    return 200


class HandoffCollector:
    """Turns `HandoffQueue.stats()` and the presence of agents into metric families."""

    def __init__(self, service) -> None:
        self.service = service

    def collect(self):
        stats = self.service.queue.stats()
        yield CounterMetricFamily("halmstad_conversations", "Guardian conversations started",
                                  value=stats["conversations"])
        yield CounterMetricFamily("halmstad_handoff_requests", "Conversations that asked for a person",
                                  value=stats["handoff_requests"])
        yield CounterMetricFamily("halmstad_handoff_reached_person",
                                  "Conversations an agent took or that left a message",
                                  value=stats["handed_to_person"])
        yield GaugeMetricFamily("halmstad_containment_ratio",
                                "Share of conversations that ended without a person",
                                value=stats["containment"] if stats["containment"] is not None else 1.0)
        yield GaugeMetricFamily("halmstad_handoff_rate", "Share of conversations that asked for a person",
                                value=stats["handoff_rate"] if stats["handoff_rate"] is not None else 0.0)
        yield GaugeMetricFamily("halmstad_handoff_wait_median_seconds",
                                "Median wait in the queue before an agent accepted",
                                value=stats["median_wait_seconds"] or 0.0)
        yield GaugeMetricFamily("halmstad_csat_average", "Average satisfaction answer (1-5)",
                                value=stats["csat_average"] or 0.0)
        csat = CounterMetricFamily("halmstad_csat_responses", "Satisfaction answers by rating",
                                   labels=["rating"])
        for rating, count in stats["csat_counts"].items():
            csat.add_metric([rating], count)
        yield csat
        queue = GaugeMetricFamily("halmstad_handoff_queue", "Handoff items now, by state", labels=["state"])
        queue.add_metric(["waiting"], stats["waiting"])
        queue.add_metric(["assigned"], stats["assigned"])
        queue.add_metric(["open_messages"], stats["open_messages"])
        yield queue
        yield GaugeMetricFamily("halmstad_agents_available", "Agents available for chats now",
                                value=len(self.service.available_agents()))


def make_registry(service) -> CollectorRegistry:
    """Return a registry of this app's handoff metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HandoffCollector(service))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
