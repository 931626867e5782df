"""The OpenTelemetry tracer provider the standard ``OTEL_*`` variables describe, or none.

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (``console``, ``otlp``) and
``OTEL_SDK_DISABLED`` is not ``true``; unset or ``none`` means off, and then nothing of the
OpenTelemetry SDK is imported. (OpenTelemetry's own default exporter is ``otlp``: a host that
nobody configured would then send to a collector that is not there.) The SDK and the OTLP
exporter come with the ``plughost[otel]`` extra; asking for traces without it stops the host
at start-up with a message naming the extra. Everything else (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``)
is read by the SDK itself, as in any OpenTelemetry program.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from plughost import __version__
from plughost.errors import SettingsError

log = logging.getLogger("plughost.tracing")

EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
DISABLED_ENV = "OTEL_SDK_DISABLED"
PROTOCOL_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
EXPORTERS = ("console", "otlp")
EXTRA_HINT = "pip install 'plughost[otel]'"
DEFAULT_SERVICE_NAME = "plughost"

_installed_globally = False


class TracingUnavailable(SettingsError):
    """The ``OTEL_*`` variables ask for traces this installation cannot produce."""


def exporters_requested(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The exporters the environment asks for; empty when tracing is off."""
    if environ.get(DISABLED_ENV, "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get(EXPORTER_ENV, "").split(",")]
    return [n for n in dict.fromkeys(names) if n and n != "none"]


def provider_from_environment(environ: Mapping[str, str] = os.environ) -> Any | None:
    """The SDK tracer provider the environment describes (installed as OpenTelemetry's global
    one, so spans a plugin's libraries make join the calls' traces), or None when off."""
    global _installed_globally
    names = exporters_requested(environ)
    if not names:
        if any(environ.get(name) for name in ENDPOINT_ENVS):
            log.warning(
                "an OTLP endpoint is set but tracing is off: set %s=otlp to send traces",
                EXPORTER_ENV,
            )
        return None
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise TracingUnavailable(
            f"{EXPORTER_ENV}={environ[EXPORTER_ENV]!r}: Plughost exports traces with "
            f"{' or '.join(EXPORTERS)} (or none), not {', '.join(unknown)}"
        )
    provider = _provider(names, environ)
    if not _installed_globally:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        _installed_globally = True
    return provider


def _provider(names: list[str], environ: Mapping[str, str]) -> Any:
    asked = f"{EXPORTER_ENV}={environ[EXPORTER_ENV]}"
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        raise TracingUnavailable(
            f"{asked} asks for traces, but the OpenTelemetry SDK is not installed: {EXTRA_HINT}"
        ) from None
    detected = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    defaults: dict[str, str] = {}
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        defaults[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if SERVICE_VERSION not in detected.attributes:
        defaults[SERVICE_VERSION] = __version__
    provider = TracerProvider(resource=detected.merge(Resource(defaults)))
    if "console" in names:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    if "otlp" in names:
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(asked, environ)))
    return provider


def _otlp_exporter(asked: str, environ: Mapping[str, str]) -> Any:
    for name in PROTOCOL_ENVS:
        protocol = environ.get(name)
        if protocol and protocol.strip() != "http/protobuf":
            raise TracingUnavailable(
                f"{name}={protocol!r}: Plughost sends OTLP over http/protobuf (the collector's "
                "port 4318); unset it or set http/protobuf"
            )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise TracingUnavailable(
            f"{asked} asks for the OTLP exporter, which is not installed: {EXTRA_HINT}"
        ) from None
    return OTLPSpanExporter()
