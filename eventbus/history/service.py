"""Connection state recovery for one application: sessions kept on drops, restored (or refused) on reconnects.

The rules, beyond Socket.IO's own:

* the reconnect is authenticated like any connection first; a session is
  restored only for the same user (or an anonymous one for an anonymous one);
* each restored room is asked ``can_join`` again: a refused room is not
  entered and none of its missed packets is sent (rooms the server put a
  connection in by name, without a room class, are kept);
* a packet sent with ``exclude=`` that socket stays excluded; acks are never
  logged, so never replayed;
* the missed packets go out before the connection enters its rooms again, so
  nothing new can come before them; the rooms' subscriptions are made before
  the log is read, and no await separates the end of that read from entering
  the rooms, so nothing published meanwhile is missed; a position the log no
  longer covers (too old, another epoch, an unknown session) gives a fresh
  connection and no packet at all;
* the new session starts where the replay did, under the old sids too (an
  exclusion stays one): a connection lost during its replay resumes after the
  last packet the client got, not after the whole replay.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eventbus.history.channels import ChannelRecoveryLog, Sent, Start, earliest, merge, resume_points
from eventbus.history.recovery import RecoveryLog, Session, compare, later, replayable
from eventbus.inbound.joins import may_join
from eventbus.observability.logfields import library_logger
from events import InvalidNameError, UserRoom
from events.rooms import room_from_name

if TYPE_CHECKING:
    from events import User

__all__ = ["Recovery", "Restored", "Wire"]

logger = library_logger(__name__)


class Wire(Protocol):
    """What recovery needs of the Socket.IO server (``eventbus.transport.server.Server`` has it)."""

    def add_to_connect_reply(self, namespace: str, sid: str, fields: dict[str, Any]) -> None: ...

    async def resend(self, namespace: str, sid: str, packets: list[list[Any]]) -> None: ...

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...

    async def subscribe_rooms(self, namespace: str, rooms: list[str]) -> None: ...

    def rooms(self, sid: str, namespace: str | None = None) -> list[str]: ...

    async def disconnect(self, sid: str, namespace: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Restored:
    """A recovered connection: the rooms it is back in (its own aside) and how many packets it was sent again."""

    rooms: list[str] = field(default_factory=list)
    missed: int = 0


class _UnrecoverableError(Exception):
    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class Recovery:
    """Connection state recovery of one application (namespace) over a `RecoveryLog`.

    ``outcomes`` counts what reconnects got: ``recovered``, ``unknown`` (no such
    session, or expired), ``refused`` (another user), ``too_old`` (the log no
    longer covers the position) and ``epoch_changed`` (the log was lost).
    """

    def __init__(self, wire: Wire, namespace: str, log: RecoveryLog) -> None:
        self.wire = wire
        self.namespace = namespace
        self.log = log
        self.outcomes: Counter[str] = Counter()
        self._live: dict[str, Session] = {}
        self._pids: dict[str, str] = {}  # pid -> sid of its live connection here
        self._superseded: set[str] = set()

    def __repr__(self) -> str:
        return f"Recovery({self.namespace!r}, {self.log!r}, outcomes={dict(self.outcomes)})"

    async def connect(self, sid: str, user: User | None, auth: Any) -> Restored | None:
        """Set up an authenticated connection: restored from its ``pid`` and ``offset`` when it can be, else fresh.

        Either way the connection is in its ``user:`` room on return and its CONNECT reply will carry its ``pid``.
        """
        pid = auth.get("pid") if isinstance(auth, dict) else None
        offset = auth.get("offset") if isinstance(auth, dict) else None
        if isinstance(pid, str) and pid:
            await self._supersede(pid, user)
            try:
                return await self._restore(sid, user, pid, offset if isinstance(offset, str) else None)
            except _UnrecoverableError as exc:
                self.outcomes[exc.outcome] += 1
                logger.info("recovery: fresh connection app=%s sid=%s (%s)", self.namespace, sid, exc.outcome)
        await self.wire.subscribe_rooms(self.namespace, _user_rooms(user))
        await self._start(sid, user, Session(secrets.token_urlsafe(16), sid, self.namespace, _id(user), ""), {})
        return None

    async def _supersede(self, pid: str, user: User | None) -> None:
        # The client is back before this process noticed its old connection die (a network switch: the old TCP
        # connection goes silent, and only the ping timeout would tell). End the old one now, as lost, so its
        # session is kept and restored here; only for the same user, checked before anything is ended.
        old_sid = self._pids.get(pid)
        old = self._live.get(old_sid) if old_sid is not None else None
        if old_sid is None or old is None or old.user_id != _id(user):
            return
        logger.info("recovery: app=%s sid=%s is back on a new connection: ending the old one", self.namespace, old_sid)
        self._superseded.add(old_sid)
        try:
            await self.wire.disconnect(old_sid, namespace=self.namespace)
        finally:
            self._superseded.discard(old_sid)

    async def _restore(self, sid: str, user: User | None, pid: str, offset: str | None) -> Restored:
        old = await self.log.take(pid)
        if old is None or old.namespace != self.namespace:
            raise _UnrecoverableError("unknown")
        if old.user_id != _id(user):
            logger.warning("recovery: session of user %s presented by user %s: refused", old.user_id, _id(user))
            raise _UnrecoverableError("refused")
        if isinstance(self.log, ChannelRecoveryLog):
            return await self._restore_channels(self.log, sid, user, old, offset)
        after = old.start
        if offset is not None:
            order = compare(offset, old.start)
            if order is None:
                raise _UnrecoverableError("epoch_changed")
            after = offset if order == 1 else old.start
        kept = {room: at for room, at in old.rooms.items() if await self._may_rejoin(room, user, old.sid)}
        old.rooms = kept
        rooms = [room for room in kept if room != old.sid]
        # Sharded channels: listen to the rooms' partitions before reading what was missed; `_catch_up` then reads
        # until the position stands still, and `_start` enters the rooms without an await: nothing falls between.
        await self.wire.subscribe_rooms(self.namespace, [*rooms, *_user_rooms(user)])
        missed = await self._catch_up(old, after, sid)
        # The new session starts where the replay did, its rooms where they were: the replayed packets count as
        # sent only up to the client's next offset, so a drop during the replay resumes after the last one it got.
        new = Session(pid, sid, self.namespace, _id(user), after, former=_former(old))
        await self._start(sid, user, new, {room: kept[room] for room in rooms})
        self.outcomes["recovered"] += 1
        logger.info("recovery: restored app=%s sid=%s (was %s): %d missed", self.namespace, sid, old.sid, missed)
        return Restored(rooms=[room for room in rooms if not room.startswith("user:")], missed=missed)

    async def _restore_channels(
        self, log: ChannelRecoveryLog, sid: str, user: User | None, old: Session, offset: str | None
    ) -> Restored:
        # A cluster: one stream per channel. The session's ring locates the client's offset in each channel
        # (`resume_points`); each channel's stream is read after its point, up to this process's position in it,
        # until no position moves, and the rooms are entered right after (no await): later packets come live.
        kept = {room: at for room, at in old.rooms.items() if await self._may_rejoin(room, user, old.sid)}
        old.rooms = kept
        rooms = [room for room in kept if room != old.sid]
        await self.wire.subscribe_rooms(self.namespace, [*rooms, *_user_rooms(user)])  # and the positions exact
        base: dict[str, list[str]] = {}
        for room, at in kept.items():
            base.setdefault(log.channel_of(room), []).append(at)
        sent = [Sent(*packet) for packet in old.sent]
        bases = {channel: earliest(at) for channel, at in base.items()}
        start = resume_points(sent, bases, offset, floor=old.floor, gone=old.gone)
        if start is None:
            raise _UnrecoverableError("too_old")
        try:
            missed = await self._replay_channels(log, sid, old, start)
        except _UnrecoverableError:
            log.detach(sid)  # the fresh connection's ring starts empty
            raise
        # The new session starts where the replay did, with the replayed packets in its ring: a drop during the
        # replay then resumes after the last one the client got.
        entered = {room: later(at, start.after[log.channel_of(room)]) for room, at in kept.items() if room != old.sid}
        new = Session(
            old.pid, sid, self.namespace, _id(user), start.after[log.channel_of(old.sid)], former=_former(old)
        )
        await self._start(sid, user, new, entered)
        self.outcomes["recovered"] += 1
        logger.info("recovery: restored app=%s sid=%s (was %s): %d missed", self.namespace, sid, old.sid, missed)
        return Restored(rooms=[room for room in rooms if not room.startswith("user:")], missed=missed)

    async def _replay_channels(self, log: ChannelRecoveryLog, sid: str, old: Session, start: Start) -> int:
        # Each channel's stream after its point, up to this process's position in it, until no position moves.
        after, splits, ring, missed = dict(start.after), set(start.splits), log.attach(sid), 0
        while True:
            upto = {channel: log.heads.get(channel, "") for channel in after}
            behind = {channel: at for channel, at in after.items() if _behind(at, upto[channel])}
            if not behind:
                return missed
            found = await log.read_channels(behind, {channel: upto[channel] for channel in behind})
            if found is None:
                raise _UnrecoverableError("too_old")
            entries = merge([[e for e in got if replayable(e, old)] for got in found.values()], splits)
            splits.update(entry.split for entry in entries if entry.split is not None)
            for entry in entries:
                ring.add(Sent(entry.channel, entry.offset, entry.split))  # its new ring: the replay, then live ones
            await self.wire.resend(self.namespace, sid, [entry.packet_data() for entry in entries])
            missed += len(entries)
            after.update({channel: upto[channel] for channel in behind})

    async def _catch_up(self, session: Session, after: str, sid: str) -> int:
        # Resend what the log holds up to this process's position, until the position stops moving while we read:
        # from then on, entering the rooms (no await in between) makes every later packet a live one.
        sent = 0
        while True:
            head = self.log.position
            order = compare(after, head) if head else None
            if order is None:
                raise _UnrecoverableError("epoch_changed")
            if order >= 0:
                return sent
            entries = await self.log.read(after, head)
            if entries is None:
                raise _UnrecoverableError("too_old")
            packets = [entry.packet_data() for entry in entries if replayable(entry, session)]
            await self.wire.resend(self.namespace, sid, packets)
            sent += len(packets)
            after = head

    async def _start(self, sid: str, user: User | None, session: Session, rooms: dict[str, str]) -> None:
        # The caller subscribed the rooms: an await here would let packets go by between its read and the rooms.
        user_rooms = _user_rooms(user)
        if not session.start:
            session.start = self.log.position
        session.sid = sid
        session.rooms = {sid: session.start, **rooms}
        for room in user_rooms:
            session.rooms.setdefault(room, self.log.position_for(room))
        if isinstance(self.log, ChannelRecoveryLog) and sid not in self.log.rings:
            self.log.attach(sid)
        # No await suspends between reading the position above and the last room entered: local enter_room only.
        for room in session.rooms:
            if room != sid:
                await self.wire.enter_room(sid, room, namespace=self.namespace)
        self._live[sid] = session
        self._pids[session.pid] = sid
        self.wire.add_to_connect_reply(self.namespace, sid, {"pid": session.pid})

    async def _may_rejoin(self, room: str, user: User | None, old_sid: str) -> bool:
        if room == old_sid:
            return True
        try:
            typed = room_from_name(room, self.namespace)
        except (InvalidNameError, ValueError):
            return True  # a room the server named itself: no class to ask
        try:
            allowed = await may_join(typed, user)
        except Exception:
            logger.exception("%s.can_join raised while restoring room %s", type(typed).__name__, room)
            return False
        if not allowed:
            logger.info("recovery: not restored into %s (can_join refused user %s)", room, _id(user))
        return allowed

    def entered(self, sid: str, room: str) -> None:
        """``sid`` entered ``room`` now: it is owed that room's packets from here on."""
        session = self._live.get(sid)
        if session is not None and room not in session.rooms:
            session.rooms[room] = self.log.position_for(room)

    def left(self, sid: str, room: str) -> None:
        """``sid`` left ``room``."""
        session = self._live.get(sid)
        if session is not None:
            session.rooms.pop(room, None)

    async def disconnected(self, sid: str, *, recoverable: bool) -> bool:
        """Keep the session of a connection that was lost (not closed) for the window; whether it was kept."""
        session = self._live.pop(sid, None)
        ring = self.log.detach(sid) if isinstance(self.log, ChannelRecoveryLog) else None
        if session is not None and self._pids.get(session.pid) == sid:
            del self._pids[session.pid]
        if session is None or not (recoverable or sid in self._superseded):
            return False
        current = self.wire.rooms(sid, namespace=self.namespace)
        session.rooms = {room: session.rooms.get(room, session.start) for room in current}
        if ring is not None:
            session.sent, session.floor, session.gone = list(ring.packets), ring.floor, list(ring.gone)
        try:
            await self.log.save(session)
        except Exception:
            logger.exception("recovery: could not keep the session of sid=%s", sid)
            return False
        return True

    def forget(self, sid: str) -> None:
        """The connection was refused after `connect`: no session to keep."""
        if isinstance(self.log, ChannelRecoveryLog):
            self.log.detach(sid)
        session = self._live.pop(sid, None)
        if session is not None and self._pids.get(session.pid) == sid:
            del self._pids[session.pid]


def _behind(at: str, head: str) -> bool:
    # Whether a channel has packets after ``at`` up to this process's ``head`` (another epoch: the stream was lost).
    order = compare(at, head) if head else None
    if order is None:
        raise _UnrecoverableError("epoch_changed")
    return order < 0


def _id(user: User | None) -> str | None:
    return None if user is None else user.id


def _user_rooms(user: User | None) -> list[str]:
    return [UserRoom(user_id=user.id).name] if user is not None else []


FORMER_SIDS = 8
"""Earlier sids a session answers for. A packet names a sid only while that connection or its replay is recent;
a client restored more often than this within one replay's span could see an excluded packet again."""


def _former(old: Session) -> list[str]:
    return [*old.former, old.sid][-FORMER_SIDS:]
