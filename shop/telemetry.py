"""OpenTelemetry for shop's processes: the SDK, its exporter and the maintained instrumentations
(Django, psycopg, Celery), configured once per process from the standard OTEL_* variables.

events makes its own spans (create / send / process, events/tracing.py) through the API only;
this module is what turns them, and every request, query and task, into exported spans. Off by
default (OTEL_TRACES_EXPORTER=none): then no SDK is installed, nothing is instrumented, and every
span is the API's no-op — the monolith pays nothing for tracing it does not export.

    OTEL_TRACES_EXPORTER          none (default) | otlp | console
    OTEL_EXPORTER_OTLP_ENDPOINT   where OTLP/HTTP goes, e.g. http://127.0.0.1:4318 (SDK default)
    OTEL_TRACES_SAMPLER_ARG       the share of new traces recorded, 0..1 (default 1): sampling
                                  is always parent-based (parentbased_traceidratio), so an order
                                  is traced whole in every process, or not at all
    OTEL_SERVICE_NAME             the process's name in the trace UI (default shop-<services>)

Every span gets the gateway's request id (`request_id`) as an attribute.
"""

from __future__ import annotations

import logging
import os
import threading

from django.conf import settings

from events import tracing

log = logging.getLogger(__name__)
EXPORTERS = ("none", "otlp", "console")
_configured = threading.Lock()
_done = False


def enabled() -> bool:
    return settings.TRACING_EXPORTER != "none"


def configure() -> None:
    """Install the SDK and the instrumentations, once per process, if an exporter is chosen."""
    global _done
    with _configured:
        if _done or not enabled():
            return
        _done = True
    from opentelemetry import trace
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or default_service_name()}
        ),
        sampler=sampler(settings.TRACING_SAMPLE_RATIO),
    )
    provider.add_span_processor(request_id_processor())
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(excluded_urls="healthz,readyz,metrics")
    PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
    CeleryInstrumentor().instrument()
    log.info("tracing on: %s exporter", settings.TRACING_EXPORTER)


def sampler(ratio: float):
    """Parent-based: a span follows its parent's decision (the request's, carried in every event
    and task). A new trace is kept with probability `ratio`, except one that would start at a
    database query: work outside any request, task or event (the relay polling its outbox) is
    not worth a trace of its own."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler, TraceIdRatioBased
    from opentelemetry.trace import SpanKind

    by_ratio = TraceIdRatioBased(ratio)

    class RootSampler(Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ):
            chosen = ALWAYS_OFF if kind == SpanKind.CLIENT else by_ratio
            return chosen.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"RootSampler{{no lone queries, {by_ratio.get_description()}}}"

    return ParentBased(root=RootSampler())


def default_service_name() -> str:
    services = getattr(settings, "SHOP_SERVICES", [])
    return "shop-" + "+".join(services) if len(services) == 1 else "shop"


def _exporter():
    if settings.TRACING_EXPORTER == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, headers, timeout


def flush(timeout_millis: int = 5000) -> None:
    """Export the spans still buffered (before a process exits on purpose)."""
    from opentelemetry import trace

    force_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if force_flush:
        force_flush(timeout_millis)


def request_id_processor():
    """A span processor that puts the request id of the work in progress
    (events.tracing.request_id_var: the gateway's, or the one an event carries) on every span as
    it starts. (Made here: the SDK is imported only when tracing is on.)"""
    from opentelemetry.sdk.trace import SpanProcessor

    class RequestIdSpanProcessor(SpanProcessor):
        def on_start(self, span, parent_context=None) -> None:
            request_id = tracing.request_id_var.get()
            if request_id:
                span.set_attribute(tracing.REQUEST_ID, request_id)

    return RequestIdSpanProcessor()
