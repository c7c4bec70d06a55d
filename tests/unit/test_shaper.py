"""The link shaper's router (``tests.support.shaper.Router``), without devices: what it forwards, when,
and what it drops."""

from __future__ import annotations

import pytest

from tests.support.shaper import SIDE, Router

PREFIX = bytes([198, 18, 7])


def packet(dst: int, tag: int = 0, prefix: bytes = PREFIX) -> bytes:
    """A minimal IPv4 header to ``prefix.dst`` whose byte 1 carries ``tag``."""
    return bytes([0x45, tag]) + bytes(10) + prefix + bytes([1]) + prefix + bytes([dst])


def test_a_packet_goes_to_its_destination_after_the_sender_s_delay() -> None:
    r = Router(PREFIX, [1, 2, SIDE])
    r.command('{"index": 1, "delay_ms": 100}')
    r.route(1, packet(2), now=10.0)
    r.route(2, packet(1), now=10.0)  # link 2 has no delay
    assert r.due(10.0) == [(1, packet(1))]
    assert r.wait_s(10.0) == pytest.approx(0.1)
    assert r.due(10.099) == []
    assert r.due(10.1) == [(2, packet(2))]


def test_jitter_never_reorders_a_link() -> None:
    r = Router(PREFIX, [1, 2], seed=3)
    r.command('{"index": 1, "delay_ms": 50, "jitter_ms": 40}')
    for i in range(200):
        r.route(1, packet(2, tag=i), now=i * 0.001)
    out = r.due(100.0)
    assert [p[1] for _, p in out] == list(range(200))


def test_loss_drops_about_its_share_and_a_down_link_drops_everything() -> None:
    r = Router(PREFIX, [1, 2], seed=1)
    r.command('{"index": 1, "loss_pct": 10}')
    for _ in range(2000):
        r.route(1, packet(2), now=0.0)
    assert 1700 <= len(r.due(1.0)) <= 1900
    r.command('{"index": 2, "down": true}')
    r.route(1, packet(2), now=0.0)
    r.route(2, packet(1), now=0.0)
    assert r.due(1.0) == []
    r.command('{"index": 2, "down": false}')  # a heal keeps link 1's loss
    assert r.links[1].loss == pytest.approx(0.1)


def test_what_is_not_for_this_network_is_dropped_and_bad_settings_refused() -> None:
    r = Router(PREFIX, [1, 2])
    r.route(1, packet(2, prefix=bytes([10, 0, 0])), now=0.0)
    r.route(1, packet(9), now=0.0)  # nobody there
    r.route(1, b"\x60" + bytes(39), now=0.0)  # IPv6
    assert r.due(1.0) == [] and r.dropped == 3
    with pytest.raises(ValueError):
        r.command('{"index": 1, "loss_pct": 120}')
    with pytest.raises(ValueError):
        r.command('{"index": 5, "delay_ms": 1}')
