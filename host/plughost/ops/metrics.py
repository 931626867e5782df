"""Prometheus metrics, one registry per host (so several hosts in one process stay apart)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.calls = Counter(
            "plughost_tool_calls",
            "Tool calls by tool and outcome.",
            ["tool", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "plughost_tool_call_seconds",
            "Tool call latency.",
            ["tool"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter(
            "plughost_auth_failures", "Refused bearer tokens by reason.", ["reason"], registry=r
        )
        self.jwks_fetches = Counter(
            "plughost_jwks_fetches", "JWKS fetches from the issuer.", ["result"], registry=r
        )
        self.rate_limited = Counter(
            "plughost_rate_limited", "Calls refused by the rate limiter.", ["tool"], registry=r
        )
        self.rate_limit_storage_errors = Counter(
            "plughost_rate_limit_storage_errors",
            "Calls whose rate-limit storage failed or timed out (then fail open or closed).",
            registry=r,
        )
        self.guardrail_latency = Histogram(
            "plughost_guardrail_seconds",
            "Time spent in each plugin's guardrail hooks, per call.",
            ["plugin", "hook"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.plugins = Gauge(
            "plughost_plugins",
            "Installed plugins by load status.",
            ["status"],
            registry=r,
            multiprocess_mode="max",
        )

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once per label set: prometheus's ``labels``
        checks and locks on every call, and the per-call metrics are written on every call.
        Only for label values drawn from a bounded set (tool names, outcomes, hooks)."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def exposition(self) -> tuple[bytes, str]:
        """The scrape body; across all worker processes when running with several workers."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
