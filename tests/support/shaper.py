"""A link shaper in user space for the test hosts: delay, jitter and loss of real IP packets, where the
kernel has no ``sch_netem`` (this machine's has none, nor any classifier or netfilter to drop with).

The router is a process of its own (``python -m tests.support.shaper TAG PREFIX N``). It opens one TUN
device per host, ``<TAG>t<n>``, and one for the test's side, ``<TAG>t254``; :class:`tests.support.hosts.Hosts`
moves each host's device into its namespace as ``eth1`` with ``<PREFIX>.<n>/24`` and keeps ``t254`` in
the root namespace with ``<PREFIX>.254/24``. A packet a host sends to another lands here, is forwarded by
its destination address, and on the way

- is dropped with the probability of the sender's ``loss_pct`` (each packet on its own, as netem does; a
  packet is up to :data:`MTU` bytes);
- waits the sender's ``delay_ms``, plus a uniform ``±jitter_ms``; a link never reorders (a packet leaves
  no earlier than the one before it on the same link);
- is dropped while its sender or its receiver is ``down`` (a partition: nothing arrives, nothing refuses).

So the shaping is on what a host *sends*, as ``tc netem`` on its interface would be. TCP sees real loss and
real delay: it retransmits, and its round trip grows.

Commands come on stdin, one JSON object a line: ``{"index": n, "delay_ms": .., "jitter_ms": ..,
"loss_pct": .., "down": false}`` (``n``, a link's address's last byte: 1.. for the hosts, 254 for the
test's side; a field left out keeps its value); each is answered ``ok`` on stdout once it is in force.
The router prints ``ready`` once its devices exist, and exits when its stdin closes, so a test run that
dies takes it (and so its devices) along. Devices of a router that is gone vanish with it.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import os
import random
import selectors
import struct
import sys
import time
from dataclasses import dataclass

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
SIDE = 254  # the index (and the address's last byte) of the test's own end
#: the devices' MTU: a packet of up to 64 KB is one packet to drop or delay, as ``tc netem`` on a veth sees
#: it (veths hand the qdisc segmentation-offload packets of up to 64 KB, not 1500-byte frames); with 1500,
#: 2 % loss on a 200 ms round trip caps a TCP connection at about 60 KB/s (Mathis et al.), which no
#: live camera fits through
MTU = 65000
BURST = 64  # packets read from one device before the others get a turn


def open_tun(name: str) -> int:
    """A non-blocking fd of the new TUN device ``name`` (IP packets, no extra header)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


@dataclass
class Link:
    """What one host's sending side does to its packets now."""

    delay_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0  # 0..1
    down: bool = False
    last_release: float = 0.0

    def set(
        self,
        delay_ms: float | None = None,
        jitter_ms: float | None = None,
        loss_pct: float | None = None,
        down: bool | None = None,
    ) -> None:
        """Change what is given, keep the rest (a partition and its heal keep the delay)."""
        if (loss_pct is not None and not 0 <= loss_pct <= 100) or min(delay_ms or 0, jitter_ms or 0) < 0:
            raise ValueError(
                f"bad link setting: delay {delay_ms} ms, jitter {jitter_ms} ms, loss {loss_pct}%"
            )
        if delay_ms is not None:
            self.delay_s = delay_ms / 1e3
        if jitter_ms is not None:
            self.jitter_s = jitter_ms / 1e3
        if loss_pct is not None:
            self.loss = loss_pct / 100
        if down is not None:
            self.down = bool(down)


class Router:
    """Forwards IPv4 packets between the links, each known by its address's last byte, by the packet's
    destination (pure, no devices: the loop in :func:`serve` feeds it). ``prefix``: the /24's first three
    bytes."""

    def __init__(self, prefix: bytes, indices: list[int], seed: int = 0) -> None:
        self.prefix = prefix
        self.links = {i: Link() for i in indices}
        self.queue: list[tuple[float, int, int, bytes]] = []  # (release, order, to, packet)
        self.order = 0
        self.rng = random.Random(seed)
        self.dropped = 0

    def route(self, src: int, packet: bytes, now: float) -> None:
        """Take ``packet`` sent by link ``src``: queue it for its receiver, or drop it."""
        link = self.links[src]
        if len(packet) < 20 or packet[0] >> 4 != 4 or packet[16:19] != self.prefix:
            self.dropped += 1  # not IPv4 for this network (e.g. an IPv6 router solicitation)
            return
        dst = self.links.get(to := packet[19])
        if dst is None or link.down or dst.down or (link.loss and self.rng.random() < link.loss):
            self.dropped += 1
            return
        release = (
            now + link.delay_s + (self.rng.uniform(-link.jitter_s, link.jitter_s) if link.jitter_s else 0)
        )
        release = link.last_release = max(release, link.last_release, now)
        self.order += 1
        heapq.heappush(self.queue, (release, self.order, to, packet))

    def due(self, now: float) -> list[tuple[int, bytes]]:
        """The packets whose time has come, (receiver, packet), in order."""
        out = []
        while self.queue and self.queue[0][0] <= now:
            _, _, to, packet = heapq.heappop(self.queue)
            out.append((to, packet))
        return out

    def wait_s(self, now: float) -> float | None:
        """How long until the next packet is due (None: nothing queued)."""
        return max(0.0, self.queue[0][0] - now) if self.queue else None

    def command(self, line: str) -> None:
        """Apply one stdin command (see the module docstring)."""
        spec = json.loads(line)
        index = int(spec.pop("index"))
        if index not in self.links:
            raise ValueError(f"no link {index}")
        self.links[index].set(**spec)


def serve(tag: str, prefix: str, hosts: int, seed: int = 0) -> None:
    """Open the devices, say ``ready``, then forward until stdin closes."""
    indices = [*range(1, hosts + 1), SIDE]
    fds = {i: open_tun(f"{tag}t{i}") for i in indices}
    router = Router(bytes(int(b) for b in prefix.split(".")), indices, seed)
    sel = selectors.DefaultSelector()
    for i, fd in fds.items():
        sel.register(fd, selectors.EVENT_READ, i)
    sel.register(sys.stdin, selectors.EVENT_READ, None)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select(router.wait_s(time.monotonic())):
            if key.data is None:
                line = sys.stdin.readline()
                if not line:
                    return
                try:
                    router.command(line)
                    print("ok", flush=True)
                except (ValueError, KeyError, TypeError) as exc:
                    print(f"error {exc}", flush=True)
                continue
            for _ in range(BURST):
                try:
                    packet = os.read(key.fd, 65536)
                except BlockingIOError:
                    break
                except OSError:  # the device went with its namespace
                    sel.unregister(key.fd)
                    break
                router.route(key.data, packet, time.monotonic())
        for to, packet in router.due(time.monotonic()):
            try:
                os.write(fds[to], packet)
            except OSError:  # a device gone, or the kernel's queue full: the packet is lost, as on a wire
                router.dropped += 1


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
