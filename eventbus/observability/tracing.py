"""OpenTelemetry spans (``opentelemetry-api``, the ``tracing`` extra): no-ops unless the application installs an SDK.

Three spans, each with the bus's attributes: ``eventbus.client_event`` around a
client-event handler, ``eventbus.join`` around a room join, ``eventbus.broadcast``
around a send. A message published to Redis carries the sender's trace context
(W3C ``traceparent``, under ``"trace"`` inside the signed envelope, so it cannot be
forged), and each process that delivers it records ``eventbus.deliver`` as a child
of the sender's span: one trace runs from the HTTP request to every process that
delivered its broadcast. An `Emitter` in a worker continues the worker's current trace
the same way.

Without opentelemetry-api, or with its default no-op provider, every function here
returns at its first check.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

TRACE_KEY = "trace"
"""The key of the trace context in a Redis message."""

_api: Any = None
_cached: tuple[Any, Any] = (None, None)  # (provider, its tracer): an SDK provider makes a new tracer per call


def _load() -> Any:
    global _api  # imported once, on first use: opentelemetry-api is optional
    if _api is None:
        try:
            from opentelemetry import propagate, trace
            from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind
        except ImportError:
            _api = False
        else:
            _api = (trace, propagate, (NoOpTracerProvider, ProxyTracerProvider), SpanKind)
    return _api


def _tracer() -> Any:
    api = _load()
    if not api:
        return None
    trace, _, noop, _ = api
    global _cached
    provider = trace.get_tracer_provider()
    if isinstance(provider, noop):
        return None
    if _cached[0] is not provider:
        _cached = (provider, provider.get_tracer("eventbus"))
    return _cached[1]


def enabled() -> bool:
    """Whether spans are recorded: an SDK is installed (`span` yields ``None`` otherwise)."""
    return _tracer() is not None


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any], *, kind: str = "INTERNAL", parent: Any = None) -> Iterator[Any]:
    """A current span named ``name``, or ``None`` (nothing recorded) when no SDK is installed."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    span_kind = getattr(_api[3], kind)
    attrs = {key: value for key, value in attributes.items() if value is not None}
    with tracer.start_as_current_span(name, context=parent, kind=span_kind, attributes=attrs) as current:
        yield current


def set_attribute(key: str, value: Any) -> None:
    """Set an attribute of the current span, when one is recording."""
    api = _load()
    if not api:
        return
    current = api[0].get_current_span()
    if current.is_recording():
        current.set_attribute(key, value)


def add_to_attribute(key: str, amount: int) -> None:
    """Add ``amount`` to an integer attribute of the current span (recipients of several local deliveries)."""
    if _tracer() is None:
        return
    current = _api[0].get_current_span()
    if current.is_recording():
        attributes = getattr(current, "attributes", None) or {}
        current.set_attribute(key, int(attributes.get(key, 0)) + amount)


def inject(message: dict[str, Any]) -> None:
    """Put the current trace context into ``message`` (before it is signed), when there is one."""
    if _tracer() is None:
        return
    carrier: dict[str, str] = {}
    _api[1].inject(carrier)
    if carrier:
        message[TRACE_KEY] = carrier


def delivering(message: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    """The ``eventbus.deliver`` span of a message from Redis: a child of the span that published it."""
    carrier = message.get(TRACE_KEY)
    if not isinstance(carrier, dict) or _tracer() is None:
        return contextlib.nullcontext()
    parent = _api[1].extract({str(k): str(v) for k, v in carrier.items()})
    attributes = {"eventbus.app": message.get("namespace") or "/", "eventbus.event": str(message.get("event"))}
    return span("eventbus.deliver", attributes, kind="CONSUMER", parent=parent)
