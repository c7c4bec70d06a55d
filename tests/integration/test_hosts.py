"""The hosts helper itself (``tests.support.hosts``): namespaces that reach each other over a bridge, a
partition that cuts one off both ways, a heal, delay and loss on the shaped network (``Host.netem``), and
nothing left behind, even by a test process that died. Needs root; skips with the reason elsewhere
(fails under ``EMOSTREAM_REQUIRE_NETNS=1``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.hosts import Host, Hosts, require_hosts, tcp_connect_s

pytestmark = pytest.mark.integration

PORT = 8099


def connects(source: Host, target: Host, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connect from inside ``source`` to ``target``'s listener succeeds."""
    code = f"import socket; socket.create_connection(('{target.address}', {PORT}), timeout={timeout_s})"
    return source.exec(sys.executable, "-c", code, timeout=timeout_s + 10).returncode == 0


@pytest.fixture()
def three() -> Iterator[Hosts]:
    require_hosts()
    with Hosts(["server", "a", "b"], shaped=True) as hosts:
        server = hosts["server"]
        server.run([sys.executable, "-m", "http.server", str(PORT), "--bind", "0.0.0.0"])  # both networks
        deadline = time.monotonic() + 20
        while tcp_connect_s(server.address, PORT, 0.5) is None:
            assert time.monotonic() < deadline, "the listener in the server host did not come up"
            time.sleep(0.1)
        yield hosts


def test_hosts_reach_each_other_and_a_partition_cuts_one_off_until_healed(three: Hosts) -> None:
    server, a, b = three["server"], three["a"], three["b"]
    assert len({server.address, a.address, b.address}) == 3
    assert server.address.startswith("198.19."), "test hosts live in the benchmarking range"
    assert connects(a, server) and connects(b, server)
    a.partition()
    assert not connects(a, server), "a partitioned host still reaches the others"
    assert tcp_connect_s(a.address, 22, 1.0) is None, "the test itself still reaches the partitioned host"
    assert connects(b, server), "a partition of one host cut another off"
    a.heal()
    # on a loaded machine the first SYN after a heal can still be lost: the heal must hold within seconds
    deadline = time.monotonic() + 10
    while not connects(a, server):
        assert time.monotonic() < deadline, "a healed host does not reach the others again"


def test_a_host_has_no_route_out_of_the_bridge(three: Hosts) -> None:
    routes = three["a"].exec("ip", "route").stdout
    assert "default" not in routes, routes


def test_close_leaves_no_namespace_link_or_process() -> None:
    require_hosts()
    hosts = Hosts(["x", "y"])
    proc = hosts["x"].run([sys.executable, "-c", "import time; time.sleep(600)"])
    assert len(hosts.names()) == 5  # 2 namespaces, 2 veths, the bridge
    hosts.close()
    assert hosts.names() == []
    assert proc.poll() is not None, "a process of a host outlived it"


def test_close_of_a_shaped_network_leaves_no_device_or_router() -> None:
    require_hosts()
    hosts = Hosts(["x", "y"], shaped=True)
    router = hosts.shaper
    assert router is not None
    assert f"{hosts.tag}t254" in hosts.names()  # the test's end; the hosts' are inside their namespaces
    hosts.close()
    assert hosts.names() == []
    assert router.poll() is not None, "the link shaper outlived its hosts"


def test_a_dead_test_process_leftovers_are_swept_by_the_next() -> None:
    require_hosts()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = f"es{dead.pid}-left"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        with Hosts(["z"]):
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
            assert stale not in listed, "the namespace of a process that is gone was kept"
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


def test_netem_delays_what_a_host_sends_on_the_shaped_network_only(three: Hosts) -> None:
    server = three["server"]
    assert server.shaped_address and server.shaped_address.startswith("198.18.")
    before = min(tcp_connect_s(server.shaped_address, PORT) or 9 for _ in range(3))
    server.netem(delay_ms=100)
    slowed = min(tcp_connect_s(server.shaped_address, PORT) or 9 for _ in range(3))
    bridge = min(tcp_connect_s(server.address, PORT) or 9 for _ in range(3))
    server.partition()
    server.heal()
    kept = min(tcp_connect_s(server.shaped_address, PORT) or 9 for _ in range(3))
    server.netem()
    assert slowed >= before + 0.09, (before, slowed)  # the SYN-ACK is what the server sends
    assert bridge < 0.09, "the delay reached the bridge too"
    assert kept >= before + 0.09, "a partition and heal dropped the delay"
    assert (min(tcp_connect_s(server.shaped_address, PORT) or 9 for _ in range(3))) < 0.09


UDP_PORT = 8098
SENT = 1000


def count_datagrams(rx: socket.socket, counted: list[int]) -> None:
    """Count what arrives on ``rx`` until it has been quiet for its timeout."""
    with contextlib.suppress(TimeoutError):
        while rx.recv(16):
            counted[0] += 1


def test_netem_loses_the_share_of_packets_it_is_told_to(three: Hosts) -> None:
    """UDP, so nothing retransmits: of 1000 datagrams a host sends at 20 % loss, about 800 arrive."""
    a = three["a"]
    side = f"{three.shaped_prefix}.254"
    got = {}
    for loss in (0, 20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind((side, UDP_PORT))
            rx.settimeout(1.0)
            a.netem(loss_pct=loss)
            counted = [0]
            reader = threading.Thread(target=count_datagrams, args=(rx, counted))
            reader.start()
            code = (
                "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                f"for i in range({SENT}): s.sendto(b'x', ('{side}', {UDP_PORT})); time.sleep(0.0005)"
            )
            assert a.exec(sys.executable, "-c", code).returncode == 0
            reader.join(30)
            got[loss] = counted[0]
    a.netem()
    assert got[0] == SENT, got
    assert 740 <= got[20] <= 860, got  # 800 +- 4.7 sigma of Binomial(1000, 0.8)
