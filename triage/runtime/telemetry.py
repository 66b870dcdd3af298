"""OpenTelemetry tracing: provider setup and W3C context over NATS headers."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def setup_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
) -> trace.TracerProvider:
    """Install a tracer provider; export over OTLP/gRPC when an endpoint is configured.

    With neither an endpoint nor an exporter, nothing is installed: the API's no-op
    tracer still forwards incoming trace context, at almost no cost per request. If this
    process already has an SDK provider (tests run several services in one process), the
    exporters are added to it instead of replacing it.
    """
    existing = trace.get_tracer_provider()
    if not otlp_endpoint and exporter is None:
        return existing
    provider = (
        existing
        if isinstance(existing, TracerProvider)
        else TracerProvider(resource=Resource.create({"service.name": f"triage-{service_name}"}))
    )
    if exporter is not None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(exporter))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True))
        )
    if provider is not existing:
        trace.set_tracer_provider(provider)
    return provider


def inject_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Return ``headers`` with the current trace context (``traceparent``) added."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    """The trace context carried by message headers (empty context when absent)."""
    return propagate.extract(dict(headers or {}))
