"""Recovery over several channels (a Redis Cluster), as pure logic: the ring of what a socket was sent, where a
client's one offset puts it in every channel, and the replay merged from the channels' streams.

The property follows a model: sends of one or two parts (a send to rooms of two channels), each channel's stream
in publish order, a process delivering any interleaving of the channels (a socket gets a split send's first part
and is spared the others), the client receiving any prefix of that, a ring of any size. Whatever comes out is
either every send exactly once (what it received, then the replay), each channel in its order, or ``None``:
never a duplicate, never a gap presented as whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eventbus.history.channels import Sent, SentRing, merge, resume_points
from eventbus.history.recovery import Entry, compare


@dataclass
class Scenario:
    sends: int
    streams: dict[str, list[Entry]]
    sent: list[tuple[Sent, bool]]  # in delivery order; False: spared (another part of a send it got)
    received: int  # how many of ``sent`` the client got before the drop
    size: int


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    channels = ["a", "b", "c"][: draw(st.integers(1, 3))]
    streams: dict[str, list[Entry]] = {channel: [] for channel in channels}
    sends = draw(st.integers(0, 12))
    clocks = dict.fromkeys(channels, 0)  # each master's clock: equal stream ids in different channels happen
    for send in range(sends):
        parts = draw(st.permutations(channels))[: draw(st.integers(1, min(2, len(channels))))]
        for channel in parts:
            clocks[channel] += draw(st.integers(1, 3))
            split = f"s{send}" if len(parts) > 1 else None
            entry = Entry(f"E{channel}:{clocks[channel]}-0", "/", "tick", [send], ["r"], channel=channel, split=split)
            streams[channel].append(entry)
    # The process has delivered a prefix of each channel, interleaved in any order.
    tokens = [channel for channel in channels for _ in range(draw(st.integers(0, len(streams[channel]))))]
    order = draw(st.permutations(tokens))
    sent, taken, got = [], dict.fromkeys(channels, 0), set()
    for channel in order:
        entry = streams[channel][taken[channel]]
        taken[channel] += 1
        send = entry.args[0]
        sent.append((Sent(channel, entry.offset, entry.split), send not in got))
        got.add(send)
    return Scenario(sends, streams, sent, draw(st.integers(0, len(sent))), draw(st.integers(1, 12)))


def parts_close(scenario: Scenario) -> bool:
    """Each split send's parts reach the process within ``size`` packets of each other (they are published back to
    back), or the deliveries end before that: what `SentRing.gone` is sized for."""
    first: dict[str, int] = {}
    for index, (packet, _) in enumerate(scenario.sent):
        if packet.split is not None:
            first.setdefault(packet.split, index)
            if index - first[packet.split] > scenario.size:
                return False
    delivered = Counter(packet.split for packet, _ in scenario.sent if packet.split is not None)
    partial = [split for split, index in first.items() if delivered[split] < 2]
    return all(len(scenario.sent) - first[split] <= scenario.size for split in partial)


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_a_replay_gives_every_send_once_in_each_channels_order_or_nothing(scenario: Scenario) -> None:
    assume(parts_close(scenario))
    ring = SentRing(scenario.size)
    for packet, _ in scenario.sent:
        ring.add(packet)
    real = [packet for packet, on_wire in scenario.sent[: scenario.received] if on_wire]
    offset = real[-1].offset if real else None
    base = {channel: f"E{channel}:0-0" for channel in scenario.streams}
    start = resume_points(list(ring.packets), base, offset, floor=ring.floor, gone=ring.gone)

    kept = [packet.offset for packet in ring.packets]
    if start is None:  # only when the ring lost packets and the client's offset is not among those kept
        assert ring.floor
        assert offset is None or offset not in kept
        return
    assert ring.floor == {} or offset in kept
    missed = [
        [entry for entry in stream if compare(entry.offset, start.after[channel]) == 1]
        for channel, stream in scenario.streams.items()
    ]
    replay = merge(missed, start.splits)
    received = [int(scenario.streams[p.channel][_index(scenario, p)].args[0]) for p in real]
    assert Counter(received) + Counter(entry.args[0] for entry in replay) == Counter(range(scenario.sends))
    for channel in scenario.streams:
        ids = [entry.offset for entry in replay if entry.channel == channel]
        assert ids == [entry.offset for entry in scenario.streams[channel] if entry.offset in ids]


def _index(scenario: Scenario, packet: Sent) -> int:
    return next(i for i, entry in enumerate(scenario.streams[packet.channel]) if entry.offset == packet.offset)


def test_a_ring_that_lost_the_clients_place_recovers_nothing() -> None:
    ring = SentRing(2)
    for n in range(1, 5):
        ring.add(Sent("a" if n % 2 else "b", f"E:{n}-0"))
    assert resume_points(list(ring.packets), {}, "E:1-0", floor=ring.floor) is None  # dropped from the ring
    assert resume_points(list(ring.packets), {}, None, floor=ring.floor) is None
    start = resume_points(list(ring.packets), {"a": "E:0-0", "b": "E:0-0"}, "E:3-0", floor=ring.floor)
    assert start is not None
    assert start.after == {"a": "E:3-0", "b": "E:2-0"}  # b from the floor: the client had what the ring dropped
