"""OpenTelemetry: one HTTP request that broadcasts, on two buses sharing a real redis-server, yields one trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventbus import Context, Emitter, EventBus, JWTAuth
from eventbus.testing import SocketTestClient
from tests.redis_server import RedisServer
from tests.sample import ChatRoom, MessageAccepted, MessageEvent, SendMessage
from tests.waiting import wait_until

pytestmark = pytest.mark.redis

Serve = Callable[[Any], Awaitable[str]]
Token = Callable[..., str]
KEY = "tracing-test-signing-key-0123456789"


class _Exporter(InMemorySpanExporter):
    """Keeps spans only while a test of this module runs: the global provider outlives it, and later tests' spans
    would pile up in memory."""

    recording = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return super().export(spans) if self.recording else SpanExportResult.SUCCESS


_EXPORTER = _Exporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    # The global provider can be set once per process: this module sets it the first time and reuses it.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _EXPORTER.recording = True
    yield _EXPORTER
    _EXPORTER.recording = False
    _EXPORTER.clear()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


async def two_buses(jwt_auth: JWTAuth, redis_url: str, serve: Serve) -> tuple[str, str, EventBus]:
    web = FastAPI()
    sender = EventBus(auth=jwt_auth, rooms=[ChatRoom], redis_url=redis_url, redis_signing_key=KEY)
    receiver = EventBus(auth=jwt_auth, rooms=[ChatRoom], redis_url=redis_url, redis_signing_key=KEY)
    tracer = trace.get_tracer("the-application")

    @web.post("/messages")
    async def post_message() -> dict[str, bool]:
        # The application's own span (FastAPI, or its instrumentation, may open the request's around it).
        with tracer.start_as_current_span("post message"):
            await sender.broadcast(MessageEvent(chat_id="42", text="from http"))
        return {"ok": True}

    @sender.on(SendMessage)
    async def send(ctx: Context, msg: SendMessage) -> MessageAccepted:
        await ctx.broadcast(MessageEvent(chat_id=msg.chat_id, text=msg.text))
        return MessageAccepted(id=1, chat_id=msg.chat_id)

    return await serve(sender.asgi_app(other_asgi_app=web)), await serve(receiver.asgi_app()), receiver


async def test_an_http_request_and_its_broadcast_are_one_trace_across_processes(
    jwt_auth: JWTAuth,
    token: Token,
    serve: Serve,
    stack: AsyncExitStack,
    redis_server: RedisServer,
    spans: InMemorySpanExporter,
) -> None:
    sender_url, receiver_url, _ = await two_buses(jwt_auth, redis_server.url, serve)
    bob = await SocketTestClient(receiver_url, token=token("bob")).connect()
    stack.push_async_callback(bob.close)
    assert (await bob.call("join_chat", {"chat_id": "42"}))["ok"]
    spans.clear()

    async with httpx.AsyncClient() as http:
        assert (await http.post(sender_url + "/messages")).status_code == 200
    await bob.inbox.wait_for("message")
    await wait_until(lambda: named(spans, "eventbus.deliver"), "the receiving process's span")

    [request] = named(spans, "post message")
    [broadcast] = named(spans, "eventbus.broadcast")
    [deliver] = named(spans, "eventbus.deliver")
    assert broadcast.parent is not None
    assert broadcast.parent.span_id == request.context.span_id
    assert deliver.parent is not None
    assert deliver.parent.span_id == broadcast.context.span_id
    assert {request.context.trace_id, broadcast.context.trace_id, deliver.context.trace_id} == {
        request.context.trace_id
    }
    assert broadcast.attributes is not None
    assert deliver.attributes is not None
    assert broadcast.attributes["eventbus.event"] == "message"
    assert broadcast.attributes["eventbus.rooms"] == 2
    assert deliver.attributes["eventbus.recipients"] == 1  # bob, on the other process
    assert deliver.kind == trace.SpanKind.CONSUMER


async def test_a_client_event_and_a_join_are_spans_and_the_broadcast_they_make_is_a_child(
    jwt_auth: JWTAuth,
    token: Token,
    serve: Serve,
    stack: AsyncExitStack,
    redis_server: RedisServer,
    spans: InMemorySpanExporter,
) -> None:
    sender_url, receiver_url, _ = await two_buses(jwt_auth, redis_server.url, serve)
    alice = await SocketTestClient(sender_url, token=token("alice")).connect()
    bob = await SocketTestClient(receiver_url, token=token("bob")).connect()
    stack.push_async_callback(alice.close)
    stack.push_async_callback(bob.close)
    assert (await bob.call("join_chat", {"chat_id": "42"}))["ok"]
    assert not (await bob.call("join_chat", {"chat_id": "7"}))["ok"]
    assert (await alice.call("send_message", {"chat_id": "42", "text": "hi"}))["ok"]
    await bob.inbox.wait_for("message")
    await wait_until(lambda: named(spans, "eventbus.deliver"), "the receiving process's span")

    joins = named(spans, "eventbus.join")
    assert sorted(str((s.attributes or {})["eventbus.ack_code"]) for s in joins) == ["forbidden", "ok"]
    [handled] = named(spans, "eventbus.client_event")
    assert handled.attributes is not None
    assert handled.attributes["eventbus.event"] == "send_message"
    assert handled.attributes["enduser.id"] == "alice"
    assert handled.attributes["eventbus.ack_code"] == "ok"
    [broadcast] = named(spans, "eventbus.broadcast")
    [deliver] = named(spans, "eventbus.deliver")
    assert broadcast.parent is not None
    assert broadcast.parent.span_id == handled.context.span_id
    assert deliver.parent is not None
    assert deliver.parent.span_id == broadcast.context.span_id


async def test_an_emitter_continues_the_workers_trace(
    jwt_auth: JWTAuth,
    token: Token,
    serve: Serve,
    stack: AsyncExitStack,
    redis_server: RedisServer,
    spans: InMemorySpanExporter,
) -> None:
    _, receiver_url, _ = await two_buses(jwt_auth, redis_server.url, serve)
    bob = await SocketTestClient(receiver_url, token=token("bob")).connect()
    stack.push_async_callback(bob.close)
    assert (await bob.call("join_chat", {"chat_id": "42"}))["ok"]
    worker = Emitter(redis_server.url, signing_key=KEY)
    stack.push_async_callback(worker.close)
    with trace.get_tracer("a-worker").start_as_current_span("task") as task:
        await worker.broadcast(MessageEvent(chat_id="42", text="from a worker"))
    await bob.inbox.wait_for("message")
    await wait_until(lambda: named(spans, "eventbus.deliver"), "the receiving process's span")
    delivered = named(spans, "eventbus.deliver")  # both servers deliver what an emitter publishes
    assert {span.context.trace_id for span in delivered} == {task.get_span_context().trace_id}
