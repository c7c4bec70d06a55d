"""The hosts helper itself (``tests.support.hosts``): namespaces that reach each other over a bridge, a
partition that cuts one off both ways, a heal, netem delay, and nothing left behind, even by a test
process that died. Needs root; skips with the reason elsewhere (fails under ``EMOSTREAM_REQUIRE_NETNS=1``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.hosts import Host, Hosts, require_hosts, require_netem, tcp_connect_s

pytestmark = pytest.mark.integration

PORT = 8099


def connects(source: Host, target: Host, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connect from inside ``source`` to ``target``'s listener succeeds."""
    code = f"import socket; socket.create_connection(('{target.address}', {PORT}), timeout={timeout_s})"
    return source.exec(sys.executable, "-c", code, timeout=timeout_s + 10).returncode == 0


@pytest.fixture()
def three() -> Iterator[Hosts]:
    require_hosts()
    with Hosts(["server", "a", "b"]) as hosts:
        server = hosts["server"]
        server.run([sys.executable, "-m", "http.server", str(PORT), "--bind", server.address])
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
    assert connects(a, server)


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


def test_netem_delays_what_a_host_sends(three: Hosts) -> None:
    require_netem()
    server = three["server"]
    before = min(tcp_connect_s(server.address, PORT) or 9 for _ in range(3))
    server.netem(delay_ms=100)
    slowed = min(tcp_connect_s(server.address, PORT) or 9 for _ in range(3))
    server.netem()
    assert slowed >= before + 0.09, (before, slowed)
