"""Prometheus metrics of a bus (the ``metrics`` extra): the recorder, the gauges read at scrape time, the endpoint.

Counters and histograms are updated as things happen, through `PrometheusRecorder`;
gauges (connections, users, rooms) and the recovery outcomes are read from the bus
when Prometheus scrapes, so they cost nothing in between and always return to zero
when the clients leave. Each bus has its own ``CollectorRegistry`` (``bus.metrics.registry``).

With ``PROMETHEUS_MULTIPROC_DIR`` set (uvicorn ``--workers``), prometheus-client
writes counters and histograms to files every worker shares, gauges are kept there
too (summed over live workers), and the endpoint serves the sum of all workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventbus.observability.recorder import Recorder
from events import registry
from events._extras import require

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

UNTYPED_EVENT = "_untyped"
"""The ``event`` label of messages sent by a name no `Event` class registers (``emit_to_room(room, "name", data)``)."""

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


@dataclass(slots=True)
class AppState:
    """One application as the gauges see it at scrape time."""

    app: str
    transports: dict[str, int] = field(default_factory=dict)
    users: int = 0
    rooms: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def _prometheus() -> Any:
    return require("prometheus_client", "metrics", feature="EventBus(metrics=True)")


def event_label(name: str) -> str:
    """``name`` when an event class registers it, else `UNTYPED_EVENT`: labels never grow with free-form names."""
    return name if name in registry.server_events or name in registry.client_events else UNTYPED_EVENT


class PrometheusRecorder(Recorder):
    """Counts into prometheus-client metrics; label children are cached, so a count is a dict lookup and an add."""

    enabled = True

    def __init__(self, state: Callable[[], Iterable[AppState]]) -> None:
        prometheus = _prometheus()
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self.registry: CollectorRegistry = prometheus.CollectorRegistry()
        counter, histogram = prometheus.Counter, prometheus.Histogram
        reg = self.registry
        self.connects = counter("eventbus_connects", "Connection attempts by result.", ["app", "result"], registry=reg)
        self.disconnects = counter(
            "eventbus_disconnects", "Connections ended, by reason.", ["app", "reason"], registry=reg
        )
        self.messages = counter(
            "eventbus_messages_sent", "Broadcasts and emits sent (one per message).", ["app", "event"], registry=reg
        )
        self.deliveries = counter(
            "eventbus_deliveries", "Messages queued to connections (one per recipient).", ["app", "event"], registry=reg
        )
        self.broadcast_seconds = histogram(
            "eventbus_broadcast_duration_seconds",
            "Time to hand a broadcast to Socket.IO (and Redis).",
            ["app"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.client_events = counter(
            "eventbus_client_events", "Client events answered, by ack code.", ["app", "event", "code"], registry=reg
        )
        self.client_event_seconds = histogram(
            "eventbus_client_event_duration_seconds",
            "Time from a client event's arrival to its ack.",
            ["app", "event"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.joins = counter("eventbus_joins", "Room joins, by ack code.", ["app", "room_prefix", "code"], registry=reg)
        self.invalid_packets = counter(
            "eventbus_invalid_packets", "Packets refused before decoding (invalid_packet).", ["app"], registry=reg
        )
        self.publish_errors = counter("eventbus_redis_publish_errors", "Failed publishes to Redis.", registry=reg)
        self.dropped = counter(
            "eventbus_redis_messages_dropped", "Messages from Redis dropped unread.", ["reason"], registry=reg
        )
        self.resubscribes = counter("eventbus_redis_resubscribes", "Redis subscriptions made again.", registry=reg)
        self.gaps = counter(
            "eventbus_redis_gaps", "Gaps in the Redis subscription, by outcome.", ["outcome"], registry=reg
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._gauges = _StateCollector(state)
        if self.multiprocess:
            self._live = _LiveGauges(prometheus, reg)
        else:
            reg.register(self._gauges)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def connect(self, app: str, result: str) -> None:
        self._child(self.connects, app, result).inc()
        if self.multiprocess:
            self._live.update(self._gauges.state())

    def disconnect(self, app: str, reason: str) -> None:
        self._child(self.disconnects, app, reason).inc()
        if self.multiprocess:
            self._live.update(self._gauges.state())

    def sent(self, app: str, event: str, seconds: float) -> None:
        self._child(self.messages, app, event_label(event)).inc()
        self._child(self.broadcast_seconds, app).observe(seconds)

    def delivered(self, app: str, event: str, recipients: int) -> None:
        if recipients:
            self._child(self.deliveries, app, event_label(event)).inc(recipients)

    def client_event(self, app: str, event: str, code: str, seconds: float) -> None:
        self._child(self.client_events, app, event, code).inc()
        self._child(self.client_event_seconds, app, event).observe(seconds)

    def join(self, app: str, room_prefix: str, code: str) -> None:
        self._child(self.joins, app, room_prefix, code).inc()

    def invalid_packet(self, app: str) -> None:
        self._child(self.invalid_packets, app).inc()

    def redis_publish_error(self) -> None:
        self.publish_errors.inc()

    def redis_dropped(self, reason: str) -> None:
        self._child(self.dropped, reason).inc()

    def redis_resubscribed(self) -> None:
        self.resubscribes.inc()

    def redis_gap(self, outcome: str) -> None:
        self._child(self.gaps, outcome).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format of every metric, and its content type (all workers' in multiprocess mode)."""
        prometheus = _prometheus()
        if not self.multiprocess:
            return prometheus.generate_latest(self.registry), prometheus.CONTENT_TYPE_LATEST
        self._live.update(self._gauges.state())
        from prometheus_client.multiprocess import MultiProcessCollector

        combined = prometheus.CollectorRegistry()
        MultiProcessCollector(combined)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
        return prometheus.generate_latest(combined), prometheus.CONTENT_TYPE_LATEST


class _StateCollector:
    """The gauges and outcome counters, read from the bus when collected."""

    def __init__(self, state: Callable[[], Iterable[AppState]]) -> None:
        self._state = state

    def state(self) -> list[AppState]:
        return list(self._state())

    def describe(self) -> list[Metric]:
        return []  # nothing is known before the bus runs; prometheus-client then skips the duplicate-name check

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        connections = GaugeMetricFamily("eventbus_connections", "Open connections.", labels=["app", "transport"])
        users = GaugeMetricFamily("eventbus_users", "Distinct users connected.", labels=["app"])
        rooms = GaugeMetricFamily(
            "eventbus_rooms", "Rooms with members, besides each connection's own.", labels=["app"]
        )
        recovery = CounterMetricFamily(
            "eventbus_recovery", "Reconnects by connection state recovery outcome.", labels=["app", "outcome"]
        )
        history = CounterMetricFamily(
            "eventbus_history_joins", "History-room joins by outcome (recovered or not).", labels=["app", "outcome"]
        )
        for app in self.state():
            for transport in ("polling", "websocket"):
                connections.add_metric([app.app, transport], float(app.transports.get(transport, 0)))
            users.add_metric([app.app], float(app.users))
            rooms.add_metric([app.app], float(app.rooms))
            for key, count in sorted(app.outcomes.items()):
                kind, _, outcome = key.partition(".")
                (recovery if kind == "recovery" else history).add_metric([app.app, outcome], count)
        yield from (connections, users, rooms, recovery, history)


class _LiveGauges:
    """Multiprocess mode: the gauges as prometheus-client's ``livesum`` gauges, set from the bus before each render.

    A worker refreshes its values on every connect and disconnect (a pass over its connections: the
    price of correct gauges across workers) and before it answers a scrape.
    """

    def __init__(self, prometheus: Any, registry: CollectorRegistry) -> None:
        gauge = prometheus.Gauge
        mode = "livesum"
        self.connections = gauge(
            "eventbus_connections", "Open connections.", ["app", "transport"], multiprocess_mode=mode, registry=registry
        )
        self.users = gauge(
            "eventbus_users", "Distinct users connected.", ["app"], multiprocess_mode=mode, registry=registry
        )
        self.rooms = gauge("eventbus_rooms", "Rooms with members.", ["app"], multiprocess_mode=mode, registry=registry)

    def update(self, state: list[AppState]) -> None:
        for app in state:
            for transport in ("polling", "websocket"):
                self.connections.labels(app.app, transport).set(app.transports.get(transport, 0))
            self.users.labels(app.app).set(app.users)
            self.rooms.labels(app.app).set(app.rooms)


class MetricsEndpoint:
    """ASGI: answers ``GET path`` with the metrics, and hands everything else to ``app``."""

    def __init__(self, app: Any, path: str, render: Callable[[], tuple[bytes, str]]) -> None:
        self.app = app
        self.path = path
        self.render = render

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(send, 405, b"use GET\n", "text/plain")
            return
        body, content_type = self.render()
        await _respond(send, 200, b"" if scope["method"] == "HEAD" else body, content_type)


async def _respond(send: Any, status: int, body: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
