"""Sends with delivery guarantees: each event gets its room positions (history rooms) and its offset (recovery).

In memory, `emit_logged` appends the event to each history room's ring and to
the recovery log, then emits it with the extra arguments, all in one loop turn
(no await in between), so the logs' order is every socket's order.

With Redis, one Lua script does it all atomically: for each history room,
``HINCRBY`` its offset (creating its epoch when the stream is new), ``XADD`` to
its stream (``MAXLEN`` its size, ``PEXPIRE`` its ttl); then ``XADD`` to the
channel's recovery stream; then ``PUBLISH`` the message prefixed with what the
receivers append to the arguments: ``eb-h {positions json} `` and
``eb-r {offset} ``. Every process, the sender included, delivers these from
its subscription (`RedisManager._listen`), in the channel's order.

On a Redis Cluster a script can only touch the keys of one slot: a send is
split by channel (`Partitions.split`; the control channel for a send to every
socket) and each part's history rooms and, with recovery, the channel's own
recovery stream (`eventbus.transport.cluster_recovery`) are written and the part
SPUBLISHed by one script on the channel's master. Each room's and each channel's
events therefore keep one order, the same in their streams and on the wire;
parts of one send to rooms of several partitions are not ordered with each
other, and a socket in rooms of several parts gets the send once (the parts
share a ``split`` id), with the positions of the rooms of the part it got
(``{}`` from a part without history rooms: SPUBLISHed with that empty prefix,
without a script when recovery is off).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError
from socketio.packet import Packet

from eventbus.history.recovery import MemoryRecoveryLog, RecoveryLog, new_epoch
from eventbus.history.rooms import MemoryRoomHistory, RoomHistory, positions_arg
from eventbus.transport.cluster_recovery import ClusterRecoveryLog
from eventbus.transport.recovery import RedisRecoveryLog
from eventbus.transport.redis_manager import RedisManager
from eventbus.transport.room_streams import RedisRoomHistory
from events import Room, registry

if TYPE_CHECKING:
    import socketio

__all__ = ["RemoteLogging", "emit_logged", "history_room"]

# KEYS: a stream and a meta hash per history room, then (with recovery) the recovery stream, its epoch and its cut.
# ARGV: channel, message, epoch candidate, recovery window ms ('0': no recovery), max packets,
#       PUBLISH or SPUBLISH, the recovery stream's and its epoch's expiry ms ('0': none; a cluster's channels),
#       '1' to send positions even when empty (a part of a send whose other parts have history rooms),
#       then name, size, ttl ms per history room.
_PUBLISH = """
local positions, h, prefix, offset = {}, '', '', ''
local rooms = (#ARGV - 9) / 3
for i = 1, rooms do
  local stream, meta = KEYS[2 * i - 1], KEYS[2 * i]
  local epoch = redis.call('HGET', meta, 'e')
  if not epoch then
    epoch = ARGV[3]
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', epoch, 's', 0)
  end
  local top = redis.call('HINCRBY', meta, 's', 1)
  redis.call('XADD', stream, 'MAXLEN', ARGV[8 + 3 * i], top .. '-0', 'm', ARGV[2])
  redis.call('PEXPIRE', stream, ARGV[9 + 3 * i])
  redis.call('PEXPIRE', meta, ARGV[9 + 3 * i])
  positions[ARGV[7 + 3 * i]] = {offset = top, epoch = epoch}
end
if rooms > 0 or ARGV[9] == '1' then
  h = rooms > 0 and cjson.encode(positions) or '{}'
  prefix = 'eb-h ' .. h .. ' '
end
if ARGV[4] ~= '0' then
  local log, epoch_key, cut_key = KEYS[2 * rooms + 1], KEYS[2 * rooms + 2], KEYS[2 * rooms + 3]
  redis.call('SET', epoch_key, ARGV[3], 'NX')
  local epoch = redis.call('GET', epoch_key)
  local before = redis.call('XLEN', log)
  local id = redis.call('XADD', log, 'MAXLEN', '~', ARGV[5], '*', 'm', ARGV[2], 'h', h)
  if redis.call('XLEN', log) <= before then
    redis.call('SET', cut_key, redis.call('XRANGE', log, '-', '+', 'COUNT', 1)[1][1])
  end
  local now = redis.call('TIME')
  local horizon = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])
  if horizon > 0 then redis.call('XTRIM', log, 'MINID', '~', horizon) end
  if ARGV[7] ~= '0' then
    redis.call('PEXPIRE', log, ARGV[7])
    redis.call('PEXPIRE', cut_key, ARGV[7])
    redis.call('PEXPIRE', epoch_key, ARGV[8])
  end
  offset = epoch .. ':' .. id
  prefix = prefix .. 'eb-r ' .. offset .. ' '
end
redis.call(ARGV[6], ARGV[1], prefix .. ARGV[2])
return offset
"""


async def emit_logged(
    sio: socketio.AsyncServer,
    event: str,
    data: Any,
    namespace: str,
    rooms: list[str] | None,
    skip: list[str] | None,
    *,
    recovery: RecoveryLog | None,
    history: RoomHistory,
    history_rooms: list[tuple[type[Room], str]],
) -> None:
    """Send one event to ``rooms`` with the positions of its ``history_rooms`` and, with ``recovery``, its offset.

    Binary payloads are sent as they are, unlogged (python-socketio splits their attachments from the arguments).
    """
    args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
    if sio.packet_class.data_is_binary(args):
        await sio.emit(event, data, to=rooms, skip_sid=skip, namespace=namespace)
        return
    manager = sio.manager
    if isinstance(manager, RedisManager) and isinstance(history, RedisRoomHistory):
        await _publish(manager, event, args, namespace, rooms, skip, recovery, history, history_rooms)
        return
    if isinstance(history, MemoryRoomHistory) and history_rooms:
        payload = args[0] if len(args) == 1 else args
        positions = {name: history.append(room, name, event, payload) for room, name in history_rooms}
        args.append(positions_arg(positions))
    if isinstance(recovery, MemoryRecoveryLog):
        args.append(recovery.append(namespace, event, list(args), rooms, skip))
    # No await between the appends above and the queueing below: the logs' order is every socket's order.
    await sio.emit(event, tuple(args), to=rooms, skip_sid=skip, namespace=namespace)


class RemoteLogging:
    """What a write-only `Emitter` needs to publish like the servers: the recovery stream and the room streams.

    Without it, an emitter's events would reach clients without an offset or positions and be lost on a drop.
    History rooms are found by prefix in the room registry (the emitter has no rooms of its own).
    """

    def __init__(self, manager: RedisManager, *, window: float, max_packets: int) -> None:
        self.manager = manager
        kind = ClusterRecoveryLog if manager.cluster else RedisRecoveryLog
        self.recovery = kind(manager, window=window, max_packets=max_packets) if window else None
        self._histories: dict[str, RedisRoomHistory] = {}

    async def emit(
        self, event: str, data: Any, namespace: str, rooms: list[str] | None, skip: list[str] | None
    ) -> bool:
        """Publish with offsets and positions when anything is to be logged; ``False`` when not (send it plainly)."""
        typed = registry.server_events.get(event, namespace)
        if getattr(typed, "volatile", False):
            return False
        history_rooms = [(room, name) for name in rooms or [] if (room := history_room(name, namespace))]
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        if (self.recovery is None and not history_rooms) or Packet.data_is_binary(args):
            return False
        history = self._histories.get(namespace)
        if history is None:
            history = self._histories[namespace] = RedisRoomHistory(self.manager, namespace)
        await _publish(self.manager, event, args, namespace, rooms, skip, self.recovery, history, history_rooms)
        return True

    async def close(self) -> None:
        """Close the streams' connections."""
        for history in self._histories.values():
            await history.close()


def history_room(name: str, namespace: str) -> type[Room] | None:
    """The history room class a room name belongs to in ``namespace``, or ``None`` when it keeps no history."""
    cls = registry.rooms.get(name.partition(":")[0], namespace)
    return cls if isinstance(cls, type) and issubclass(cls, Room) and cls.history else None


async def _publish(
    manager: RedisManager,
    event: str,
    args: list[Any],
    namespace: str,
    rooms: list[str] | None,
    skip: list[str] | None,
    recovery: RecoveryLog | None,
    history: RedisRoomHistory,
    history_rooms: list[tuple[type[Room], str]],
) -> None:
    message = {
        "method": "emit",
        "event": event,
        "data": args or [None],
        "binary": False,
        "namespace": namespace,
        "room": rooms,
        "skip_sid": skip,
        "callback": None,
        "host_id": manager.host_id,
    }
    if manager.cluster and manager.partitions is not None and (rooms or isinstance(recovery, ClusterRecoveryLog)):
        parts: dict[str, list[str] | None] = {manager.channel: None}
        if rooms:
            parts = {**manager.partitions.split(rooms)}
        cluster_log = recovery if isinstance(recovery, ClusterRecoveryLog) else None
        await _publish_per_partition(manager, message, parts, history, history_rooms, cluster_log)
        return
    window, max_packets = "0", "0"
    keys, room_args = _room_keys(history, history_rooms)
    if isinstance(recovery, RedisRecoveryLog):
        window, max_packets = str(max(1, int(recovery.window * 1000))), str(recovery.max_packets)
        keys += [recovery.stream_key, recovery.epoch_key, recovery.cut_key]
    argv = [
        manager._channel_for(message),
        manager._encode(message),
        new_epoch(),
        window,
        max_packets,
        "PUBLISH",
        "0",
        "0",
        "0",
    ]
    try:
        async with history.slots:
            await history.client().eval(_PUBLISH, len(keys), *keys, *argv, *room_args)
    except RedisError as exc:
        raise manager._publish_failed(message, exc) from exc


async def _publish_per_partition(
    manager: RedisManager,
    message: dict[str, Any],
    parts: dict[str, list[str] | None],
    history: RedisRoomHistory,
    history_rooms: list[tuple[type[Room], str]],
    recovery: ClusterRecoveryLog | None,
) -> None:
    # A cluster cannot write keys of several slots in one script: each channel's rooms get their stream entries
    # (history rooms, and with recovery the channel's recovery stream) and their SPUBLISH in one script on the
    # channel's master (their keys share its slot), so each channel's order is the same in its streams and on the
    # wire. Parts of one send carry one id: a socket in rooms of two parts gets the first part that reaches its
    # process and not the others (`RedisManager._once_per_split`).
    if len(parts) > 1:
        message = {**message, "split": f"{manager.host_id}:{secrets.token_hex(8)}"}
    for channel, part_rooms in parts.items():
        part = {**message, "room": part_rooms}
        logged = [(room, name) for room, name in history_rooms if part_rooms and name in part_rooms]
        try:
            if not logged and recovery is None:
                # Empty positions: the same arguments as the other parts' recipients get, (payload, positions), and
                # the listener delivers it as a logged emit, to the sender's own sockets too (see the module docstring).
                await manager._client().spublish(channel, "eb-h {} " + manager._encode(part))
                continue
            keys, room_args = _room_keys(history, logged)
            argv = [
                channel,
                manager._encode(part),
                new_epoch(),
                "0",
                "0",
                "SPUBLISH",
                "0",
                "0",
                "1" if history_rooms else "0",
            ]
            if recovery is not None:
                keys += recovery.keys(channel)
                argv[3:5] = [str(max(1, int(recovery.window * 1000))), str(recovery.max_packets)]
                argv[6:8] = recovery.ttls()
            async with history.slots:
                await history.client().eval(_PUBLISH, len(keys), *keys, *argv, *room_args)
        except (RedisError, OSError) as exc:
            raise manager._publish_failed(part, exc) from exc


def _room_keys(history: RedisRoomHistory, history_rooms: list[tuple[type[Room], str]]) -> tuple[list[str], list[str]]:
    keys, room_args = [], []
    for room, name in history_rooms:
        keys += history.keys(name)
        room_args += [name, str(room.history), str(max(1, int(room.history_ttl * 1000)))]
    return keys, room_args
