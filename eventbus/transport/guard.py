"""Checks on what a client sends, before python-socketio's decoder sees it.

python-socketio decodes every Socket.IO packet with ``json.loads`` and dispatches it
with no limit of its own: invalid JSON, 100k-deep nesting (``RecursionError``),
huge integers, unknown packet types and non-string event names each end in a
traceback from python-engineio's handler task, with no ack even when the client
asked for one, and the connection stays open. A binary attachment header takes
the client's next packet as its attachment, or holds any number of attachments.
At the engine.io level, an empty or garbage websocket frame ends python-engineio's
websocket handler with an exception, so its session stays registered until the
ping timeout, and a long-polling POST body it cannot decode (invalid UTF-8, a
garbage or empty record, more than 16 records) logs a traceback.

`InboundGuard` wraps python-engineio's ``message`` handler of one server
(``AsyncServer.handlers["message"]``, which python-socketio registers) and checks
each packet first: a Socket.IO packet type it accepts, an ack id, a namespace,
JSON that parses within `MAX_DEPTH` levels and integers of at most 100 digits,
an EVENT whose first element is a string, binary attachments that were announced,
at most `MAX_ATTACHMENTS` per message and within ``max_bytes`` in total. Whatever
fails is answered with the ack ``invalid_packet`` when it carried an ack id and
reported to ``on_invalid`` (the bus counts it against the connection's rate
limit and logs it, rate-limited); a connection that keeps sending them is ended.
`check_frame` does the same for the engine.io frames `TimedWebSocket` reads, and
the guard's wrapper of each session's ``handle_post_request`` for long-polling bodies.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engineio.exceptions import EngineIOError
from socketio import packet as sio_packet

from eventbus.inbound.limits import TokenBucket
from eventbus.observability.logfields import library_logger
from eventbus.transport.fastacks import FastAcks
from events.acks import ErrorCode, error_ack

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["MAX_ATTACHMENTS", "MAX_DEPTH", "InboundGuard", "InvalidPacketError", "check_frame"]

logger = library_logger(__name__)

MAX_DEPTH = 64
"""Nesting levels of arrays and objects a message may have (the JSON decoder itself stops near 1,000)."""

MAX_ATTACHMENTS = 10
"""Binary attachments one message may announce."""

STRIKES = (10, 0.1)
"""Refused packets a connection may send in a burst, and per second after it, before it is ended."""

LOG_LINES = (20, 5.0)
"""Log lines about refused packets, for the whole server: a burst, then per second (the rest are counted)."""

MAX_INT_DIGITS = 100
"""Digits of an integer in a message (python-engineio's own JSON limit)."""

_TYPES = frozenset("0123456")
_ACCEPTED = frozenset(
    {
        sio_packet.CONNECT,
        sio_packet.DISCONNECT,
        sio_packet.EVENT,
        sio_packet.ACK,
        sio_packet.BINARY_EVENT,
        sio_packet.BINARY_ACK,
    }
)


class InvalidPacketError(ValueError):
    """A packet the guard refuses; ``str()`` says why, for the ack and the log."""


@dataclass(slots=True)
class _Pending:
    """A binary message waiting for its attachments; ``refused``: they are dropped as they come, never held."""

    remaining: int
    namespace: str
    ack_id: int | None
    received_bytes: int = 0
    refused: bool = False


@dataclass(frozen=True, slots=True)
class _Voided:
    """A binary message a text packet interrupted: refused (a strike), answered once the text packet is on its way."""

    namespace: str
    ack_id: int | None
    reason: str
    end: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """What `InboundGuard` tells the bus about a refused packet."""

    eio_sid: str
    namespace: str
    sid: str | None
    reason: str


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidPacketError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


# Tuples, not ``list | dict``: a union written in the call is built anew on every call (0.5 µs against 0.1 on
# Python 3.11), and these run for every nested node of every incoming message.
_CONTAINERS = (list, dict)
_BINARY = (bytes, bytearray)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(item, list):
            stack.extend((child, depth + 1) for child in item if isinstance(child, _CONTAINERS))
        elif isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values() if isinstance(child, _CONTAINERS))
    return True


def parse_json(text: str) -> Any:
    """``json.loads`` with the guard's limits; `InvalidPacketError` instead of any decoding error."""
    try:
        value = json.loads(text, parse_int=_int)
    except RecursionError:
        raise InvalidPacketError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        raise InvalidPacketError(str(exc) if isinstance(exc, InvalidPacketError) else "invalid JSON") from None
    if (text.count("[") + text.count("{") > MAX_DEPTH) and not _depth_ok(value):
        raise InvalidPacketError(f"nested more than {MAX_DEPTH} levels deep")
    return value


@dataclass(slots=True)
class Header:
    """The parts of a Socket.IO packet before its JSON."""

    packet_type: int
    attachments: int
    namespace: str
    ack_id: int | None
    payload: str


def parse_header(data: str) -> Header:
    """Split a Socket.IO packet as python-socketio's ``Packet.decode`` does, refusing what it would choke on."""
    if not data or data[0] not in _TYPES:
        raise InvalidPacketError("unknown packet type")
    packet_type, rest = int(data[0]), data[1:]
    if packet_type not in _ACCEPTED:
        raise InvalidPacketError("a packet type clients may not send")
    attachments = 0
    if packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        dash = rest.find("-")
        if dash <= 0 or not rest[:dash].isdigit():
            raise InvalidPacketError("a binary packet without a valid attachment count")
        attachments, rest = int(rest[: min(dash, 6)]), rest[dash + 1 :]
    namespace = "/"
    if rest.startswith("/"):
        comma = rest.find(",")
        namespace, rest = (rest, "") if comma == -1 else (rest[:comma], rest[comma + 1 :])
        namespace = namespace.split("?", 1)[0]
    ack_id = None
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if digits:
        if digits > 15:
            raise InvalidPacketError("an ack id of more than 15 digits")
        ack_id, rest = int(rest[:digits]), rest[digits:]
    return Header(packet_type, attachments, namespace, ack_id, rest)


def _placeholders_ok(value: Any, count: int) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("_placeholder"):
                num = item.get("num")
                if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < count:
                    return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def check_packet(header: Header) -> Any:
    """Refuse a packet whose JSON or shape python-socketio would fail on; its decoded JSON when it passes."""
    if header.attachments > MAX_ATTACHMENTS:
        raise InvalidPacketError(f"more than {MAX_ATTACHMENTS} binary attachments")
    data = parse_json(header.payload) if header.payload else None
    if header.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise InvalidPacketError("an event must be an array whose first element is the event name")
    elif header.packet_type in (sio_packet.ACK, sio_packet.BINARY_ACK):
        if not isinstance(data, list):
            raise InvalidPacketError("an ack must be an array")
    elif header.packet_type == sio_packet.CONNECT and data is not None and not isinstance(data, dict):
        raise InvalidPacketError("the connect payload must be an object")
    if header.attachments and not _placeholders_ok(data, header.attachments):
        raise InvalidPacketError("a binary placeholder that names no attachment")
    return data


def _undecodable(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "a long-polling body that is not UTF-8"
    if str(exc).startswith("Too many packets"):
        return "more than 16 packets in one long-polling body"
    return "a long-polling body engine.io cannot decode"


def check_frame(frame: Any) -> str | None:
    """Why an engine.io websocket frame cannot be decoded (``None`` when it can): empty, garbage, base64."""
    if isinstance(frame, _BINARY):
        return None
    if not isinstance(frame, str) or not frame:
        return "an empty frame"
    if frame[0] not in _TYPES:
        return "not an engine.io packet"
    return None


class ClientErrorFilter(logging.Filter):
    """On uvicorn's ``uvicorn.error`` logger: a client's invalid UTF-8 is one line without a traceback, budgeted.

    uvicorn closes such a websocket itself (code 1007) before the application sees
    the frame, and logs it with ``logger.exception``: a client could fill the log.
    """

    def __init__(self) -> None:
        super().__init__()
        self._budget = TokenBucket(LOG_LINES[1], LOG_LINES[0])

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Invalid UTF-8"):
            return True
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg = "a client sent invalid UTF-8 in a text frame: websocket closed (1007)"
        return self._budget.take()


def quiet_client_errors() -> None:
    """Install `ClientErrorFilter` on ``uvicorn.error`` once per process."""
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, ClientErrorFilter) for f in uvicorn_logger.filters):
        uvicorn_logger.addFilter(ClientErrorFilter())


class InboundGuard:
    """Checks every message of one ``socketio.AsyncServer`` before its decoder (see the module docs).

    ``on_invalid`` is told about each refused packet (the bus spends a token of the
    connection's rate limit) and returns who sent it, for the log; ``end`` ends a
    connection that keeps sending them (engine.io sid, reason); ``accepts_binary``
    says whether an event (namespace, event name) may carry binary attachments.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        on_invalid: Callable[[Refusal], str],
        end: Callable[[str, str], None],
        accepts_binary: Callable[[str, str], bool],
    ) -> None:
        self.max_bytes = max_bytes
        self.accepts_binary = accepts_binary
        self.on_invalid = on_invalid
        self.end = end
        self.sio: Any = None
        self.refused = 0
        self.unlogged = 0
        self._pending: dict[str, _Pending] = {}
        self._strikes: dict[str, TokenBucket] = {}
        self._log_budget = TokenBucket(LOG_LINES[1], LOG_LINES[0])
        self._handle: Callable[[str, Any], Awaitable[None]] | None = None
        self.fast_acks: FastAcks | None = None

    def install(self, sio: Any, *, fast_acks: bool = True) -> None:
        """Wrap ``sio``'s engine.io ``message`` handler, guard each session's long-polling POSTs, forget on disconnect.

        The connect and disconnect wrappers are also set as ``sio._handle_eio_connect``/``_handle_eio_disconnect``:
        the Admin UI's ``instrument()`` replaces engine.io's handlers with its own, which call those. With
        ``fast_acks``, the bus's client events with an ack id are answered by `FastAcks`.
        """
        self.sio = sio
        self.fast_acks = FastAcks(sio) if fast_acks else None
        quiet_client_errors()
        self._handle = sio.eio.handlers["message"]
        sio.eio.handlers["message"] = self.message
        connect, disconnect = sio._handle_eio_connect, sio._handle_eio_disconnect

        async def connected(eio_sid: str, environ: Any) -> Any:
            socket = sio.eio.sockets.get(eio_sid)
            if socket is not None:
                socket.handle_post_request = functools.partial(self._post, socket)
            return await connect(eio_sid, environ)

        async def disconnected(eio_sid: str, *args: Any) -> Any:
            self._pending.pop(eio_sid, None)
            self._strikes.pop(eio_sid, None)
            # A binary message half received when the connection went: python-socketio drops its half-built
            # copy itself in _handle_disconnect only in newer releases (5.18 does; `make test-lowest`, at 5.16.3, found
            # it kept for good).
            sio._binary_packet.pop(eio_sid, None)
            return await disconnect(eio_sid, *args)

        sio._handle_eio_connect = sio.eio.handlers["connect"] = connected
        sio._handle_eio_disconnect = sio.eio.handlers["disconnect"] = disconnected

    async def _post(self, socket: Any, environ: Any) -> None:
        """python-engineio's ``AsyncSocket.handle_post_request`` that refuses a body it cannot decode, like a frame.

        A body that cannot be decoded (``Payload`` decodes every record first) is dropped whole; a record of an
        unknown engine.io type fails in its turn, after the records before it. python-engineio answers 200 as it
        does then, and the refusal is a strike and a budgeted log line instead of its traceback. Its own
        refusal, a body over ``max_http_buffer_size`` (400 and the session closed), passes through.
        """
        try:
            await type(socket).handle_post_request(socket, environ)  # the class's: the Admin UI patches it there
        except EngineIOError:
            raise
        except Exception as exc:
            self.bad_frame(socket.sid, _undecodable(exc))

    def __len__(self) -> int:
        """Connections with state here (attachments due, strikes): back to 0 when they have all gone."""
        return len(self._pending.keys() | self._strikes.keys())

    def bad_frame(self, eio_sid: str, reason: str) -> bool:
        """An engine.io frame `check_frame` refused (it is skipped); ``True`` when the connection is being ended."""
        if self._ending(eio_sid):
            return True
        return self._strike(Refusal(eio_sid, "/", self.sio.manager.sid_from_eio_sid(eio_sid, "/"), reason))

    async def message(self, eio_sid: str, data: Any) -> None:
        """python-engineio's ``message`` handler: check ``data``, then hand it to python-socketio."""
        assert self._handle is not None
        if self._ending(eio_sid):
            return  # ended (a slow consumer, or too many refused packets): what is still in flight is dropped
        header, voided = None, None
        try:
            if isinstance(data, _BINARY):
                if not self._attachment(eio_sid, data):
                    return  # an attachment of a refused binary message: dropped unread
            else:
                # A text packet while attachments were due: the binary message is void, this packet is a packet.
                voided = self._void_pending(eio_sid)
                if voided is not None and voided.end:
                    return
                header = parse_header(data)
                decoded = check_packet(header)
                sid = self.sio.manager.sid_from_eio_sid(eio_sid, header.namespace)
                if sid is None and header.packet_type not in (sio_packet.CONNECT, sio_packet.DISCONNECT):
                    # python-socketio would log a warning per packet
                    raise InvalidPacketError(f"not connected to namespace {header.namespace[:64]!r}")
                if header.attachments:
                    self._expect_attachments(eio_sid, header, decoded)
                elif sid is not None and self._answered_fast(eio_sid, sid, header, decoded):
                    return
            # Every check above is synchronous: python-engineio runs each message in its own task, so the
            # bookkeeping of attachments must be done before the first await to keep the packets' order.
            await self._handle(eio_sid, data)
        except InvalidPacketError as exc:
            await self._refuse(eio_sid, header, str(exc))
        except Exception as exc:  # what python-socketio still fails on: one line, never a traceback
            self._drop_pending(eio_sid)
            await self._refuse(eio_sid, header, f"{type(exc).__name__} while handling it")
        finally:
            if voided is not None and not voided.end:
                await self._answer(eio_sid, voided.namespace, voided.ack_id, voided.reason)

    def answer_now(self, eio_sid: str, data: str) -> bool:
        """Take a Socket.IO EVENT straight from the websocket reader when `FastAcks` answers it; ``False``: not taken.

        `TimedWebSocket` calls it with each text frame's engine.io payload, so the bus's
        events skip python-engineio's per-frame task and dispatch; anything this
        declines (other packets, a refusal, attachments due) reaches `message` as usual.
        """
        if self.fast_acks is None or not data.startswith("2") or eio_sid in self._pending or self._ending(eio_sid):
            return False
        try:
            header = parse_header(data)
            decoded = check_packet(header)
        except InvalidPacketError:
            return False  # refused the usual way, with its ack and its strike
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, header.namespace)
        return sid is not None and self._answered_fast(eio_sid, sid, header, decoded)

    def _answered_fast(self, eio_sid: str, sid: str, header: Header, decoded: Any) -> bool:
        fast = self.fast_acks
        if fast is None or header.packet_type != sio_packet.EVENT:
            return False
        return fast.answer(eio_sid, sid, header.namespace, header.ack_id, decoded)

    def _ending(self, eio_sid: str) -> bool:
        socket = self.sio.eio.sockets.get(eio_sid)
        return socket is None or socket.closing or socket.closed or getattr(socket.queue, "sealed", False)

    def _expect_attachments(self, eio_sid: str, header: Header, decoded: Any) -> None:
        """Note a binary message's attachments as due, or refuse it when its event declares no ``bytes`` field.

        A refused message's attachments are still due, so they are not taken for unannounced ones (a strike
        each), but are dropped as they come: python-socketio never sees the header, nothing is buffered.
        """
        name = decoded[0] if header.packet_type == sio_packet.BINARY_EVENT else None
        if name is not None and self.accepts_binary(header.namespace, name):
            self._pending[eio_sid] = _Pending(header.attachments, header.namespace, header.ack_id)
            return
        self._pending[eio_sid] = _Pending(header.attachments, header.namespace, header.ack_id, refused=True)
        if name is None:
            raise InvalidPacketError("binary attachments in an ack (the server asks clients for none)")
        raise InvalidPacketError(f"binary attachments for {name[:64]!r}, not a client event with a bytes field")

    def _attachment(self, eio_sid: str, data: bytes | bytearray) -> bool:
        """Count an attachment against its message; ``False`` when it belongs to a refused message (dropped)."""
        pending = self._pending.get(eio_sid)
        if pending is None:
            raise InvalidPacketError("a binary attachment nobody announced")
        pending.remaining -= 1
        pending.received_bytes += len(data)
        if not pending.refused and pending.received_bytes > self.max_bytes:
            self._drop_pending(eio_sid)  # python-socketio's half-built message goes too
            raise InvalidPacketError(f"binary attachments over {self.max_bytes} bytes in one message")
        if pending.remaining == 0:
            del self._pending[eio_sid]
        return not pending.refused

    def _drop_pending(self, eio_sid: str) -> None:
        pending = self._pending.pop(eio_sid, None)
        if pending is not None and not pending.refused:
            self.sio._binary_packet.pop(eio_sid, None)

    def _void_pending(self, eio_sid: str) -> _Voided | None:
        pending = self._pending.get(eio_sid)
        if pending is None:
            return None
        self._drop_pending(eio_sid)
        if pending.refused:
            return None  # refused, and answered, when its header came
        reason = f"a binary message was still missing {pending.remaining} attachment(s) when the next packet came"
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, pending.namespace)
        end = self._strike(Refusal(eio_sid, pending.namespace, sid, reason))
        return _Voided(pending.namespace, pending.ack_id, reason, end)

    async def _refuse(self, eio_sid: str, header: Header | None, reason: str) -> None:
        namespace = header.namespace if header is not None else "/"
        end = self._strike(Refusal(eio_sid, namespace, self.sio.manager.sid_from_eio_sid(eio_sid, namespace), reason))
        if header is not None and not end:
            await self._answer(eio_sid, namespace, header.ack_id, reason)

    async def _answer(self, eio_sid: str, namespace: str, ack_id: int | None, reason: str) -> None:
        """The ``invalid_packet`` ack of a refused packet that asked for one, when still connected to its namespace."""
        sid = self.sio.manager.sid_from_eio_sid(eio_sid, namespace)
        if ack_id is None or sid is None:
            return
        ack = error_ack(ErrorCode.INVALID_PACKET, f"the server could not read this packet: {reason}")
        await self.sio._send_packet(
            eio_sid, self.sio.packet_class(sio_packet.ACK, namespace=namespace, id=ack_id, data=[ack])
        )

    def _strike(self, refusal: Refusal) -> bool:
        self.refused += 1
        who = self.on_invalid(refusal)
        strikes = self._strikes.get(refusal.eio_sid)
        if strikes is None:
            strikes = self._strikes[refusal.eio_sid] = TokenBucket(STRIKES[1], STRIKES[0])
        end = not strikes.take()
        if self._log_budget.take():
            logger.info(
                "invalid packet from %s: %s%s%s",
                who,
                refusal.reason,
                "; ending the connection (it keeps sending them)" if end else "",
                f" ({self.unlogged} more since the last line)" if self.unlogged else "",
            )
            self.unlogged = 0
        else:
            self.unlogged += 1
        if end:
            self._strikes.pop(refusal.eio_sid, None)
            self._pending.pop(refusal.eio_sid, None)
            self.end(refusal.eio_sid, "invalid_packets")
        return end
