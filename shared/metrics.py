"""Service metrics, one registry per app (several apps can share a test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    """The metrics every service exposes, named skillsub_*."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter("skillsub_http_requests", "HTTP requests served",
                                     ["method", "route", "status"], registry=r)
        self.http_latency = Histogram("skillsub_http_request_seconds", "HTTP request latency",
                                      ["method", "route"], registry=r,
                                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.auth_failures = Counter("skillsub_auth_failures", "Failed authentications (token or client "
                                     "credentials), by reason", ["reason"], registry=r)
        self.events_consumed = Counter("skillsub_events_consumed", "Events applied by the inbox",
                                       registry=r)
        self.events_duplicate = Counter("skillsub_events_duplicate",
                                        "Deliveries skipped because the inbox had them", registry=r)
        self.dead_letters = Counter("skillsub_dead_letters", "Events stored as dead letters", registry=r)
        self.dead_letters_open = Gauge("skillsub_dead_letters_open",
                                       "Dead letters neither replayed nor discarded (from the database)",
                                       registry=r)
        self.consumer_lag = Gauge("skillsub_consumer_lag", "Broker-reported consumer lag (messages)",
                                  ["topic", "partition"], registry=r)
        self.outbox_backlog = Gauge("skillsub_outbox_backlog", "Outbox rows not yet published",
                                    registry=r)
        self.outbox_published = Gauge("skillsub_outbox_published",
                                      "Events published by this process since start", registry=r)
