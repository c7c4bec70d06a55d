"""Several "hosts" on one machine: Linux network namespaces joined by a bridge, each with its own address.

Each :class:`Host` is a namespace ``es<pid>-<name>`` whose ``eth0`` (one end of a veth pair) sits on the
bridge ``es<pid>br`` with address ``198.19.<net>.<n>/24`` (the benchmarking range, RFC 2544: nothing real
is there; no default route leads out). The bridge itself has ``.254``, so the test process (in the root
namespace) reaches every host, as an operator's machine would. A host can be

- partitioned (:meth:`Host.partition`: its link goes down, so packets vanish both ways: no reset, no
  refusal, exactly what a pulled cable or a dead switch port does) and healed (:meth:`Host.heal`);
- slowed (:meth:`Host.netem`: delay, jitter and loss on what the host sends), on a second network
  that ``Hosts(..., shaped=True)`` adds: each host's ``eth1`` (``198.18.<net>.<n>/24``,
  :attr:`Host.shaped_address`) is a TUN device of a router process (``tests.support.shaper``), since
  this machine's kernel has no ``sch_netem``. Services that should feel the slow links talk over the
  shaped addresses; a partition cuts both networks.

Everything is named after this process's pid and removed by name in :meth:`Hosts.close`, which also
kills what still runs in the namespaces; names of a process that is gone (a test run killed by SIGKILL)
are removed by the next :class:`Hosts`. Nothing else on the machine is touched.

It needs root and ``ip``/``tc`` (iproute2). :func:`require_hosts` skips a test with the reason where they
are missing, or fails it when ``EMOSTREAM_REQUIRE_NETNS=1`` (``.ci/run`` sets it on a machine that can run
them), so these tests cannot stop running unnoticed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support import shaper

REQUIRE_ENV = "EMOSTREAM_REQUIRE_NETNS"
_NAME = re.compile(r"^es(\d+)(?:-|br$|[vt]\d+$)")
SHAPER = Path(shaper.__file__)


def missing() -> str:
    """Why namespaces cannot be made here ("" when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) is not installed"
    probe = f"es{os.getpid()}-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def _skip_or_fail(reason: str, env: str) -> None:
    if not reason:
        return
    if os.environ.get(env) == "1":
        pytest.fail(f"{env}=1 but {reason}")
    pytest.skip(reason)


def require_hosts() -> None:
    """Skip (or, with ``EMOSTREAM_REQUIRE_NETNS=1``, fail) the calling test where hosts cannot be made."""
    _skip_or_fail(missing(), REQUIRE_ENV)


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(["netns", "exec", ns, "ip"] if ns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace(ns: str) -> None:
    """SIGKILL every process still inside ``ns``."""
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _existing() -> tuple[list[str], list[str]]:
    """The names of the machine's network namespaces and of its links (root namespace), now."""
    namespaces = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]
    links = [line.split()[0].split("@")[0] for line in _ip("-br", "link").stdout.splitlines() if line]
    return namespaces, links


def sweep_stale() -> list[str]:
    """Remove the namespaces and links of earlier test processes that are gone; the names removed."""
    removed: list[str] = []
    namespaces, links = _existing()
    for name in namespaces + links:
        m = _NAME.match(name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        if name in namespaces:
            _kill_namespace(name)
            _ip("netns", "del", name, check=False)
        else:
            _ip("link", "del", name, check=False)
        removed.append(name)
    return removed


class Host:
    """One namespace on the bridge: ``address`` is how the others (and the test) reach it."""

    def __init__(self, hosts: Hosts, index: int, name: str) -> None:
        self.name = name
        self.ns = f"{hosts.tag}-{name}"
        self.veth = f"{hosts.tag}v{index}"  # the bridge's end, in the root namespace
        self.address = f"{hosts.prefix}.{index + 1}"
        self.index = index
        self.shaped_address = f"{hosts.shaped_prefix}.{index + 1}" if hosts.shaper else None
        self._hosts = hosts
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(
        self, args: Sequence[str], env: dict[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``args`` inside this host (its network is the namespace's; files and users are shared)."""
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 -- closed once the child has it
        try:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self.procs.append(proc)
        return proc

    def exec(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside this host to the end; its result."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns, *args], capture_output=True, text=True, timeout=timeout
        )

    def partition(self) -> None:
        """Cut this host off from every other (and from the test): its link goes down (and the router
        drops what it sends or is sent on the shaped network)."""
        _ip("link", "set", self.veth, "down")
        self._shape(down=True)

    def heal(self, timeout_s: float = 10) -> None:
        """Bring the link back; returns once the bridge forwards on it again and the host's own end has
        its carrier back (the kernel reports a carrier change up to a second late, and until then the
        host's packets are dropped)."""
        _ip("link", "set", self.veth, "up")
        self._shape(down=False)
        deadline = time.monotonic() + timeout_s
        while not (
            "state forwarding"
            in subprocess.run(
                ["bridge", "link", "show", "dev", self.veth], capture_output=True, text=True
            ).stdout
            and "state UP" in _ip("link", "show", "eth0", ns=self.ns).stdout
        ):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.veth} not forwarding {timeout_s} s after the heal")
            time.sleep(0.05)

    def netem(self, delay_ms: float = 0, jitter_ms: float = 0, loss_pct: float = 0) -> None:
        """Delay (plus a uniform ``±jitter_ms``) and lose ``loss_pct`` % of the packets this host sends on
        the shaped network (``Hosts(..., shaped=True)``); all zero passes them untouched again."""
        if self._hosts.shaper is None:
            raise RuntimeError("netem needs Hosts(..., shaped=True)")
        self._shape(delay_ms=delay_ms, jitter_ms=jitter_ms, loss_pct=loss_pct)

    def _shape(self, **link: float | bool) -> None:
        if self._hosts.shaper is not None:
            self._hosts.shape(self.index + 1, **link)

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM what :meth:`run` started here, SIGKILL what is left after ``timeout_s``."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs = []


class Hosts:
    """``names`` as hosts on one bridge (see the module docstring); a context manager that cleans up."""

    def __init__(self, names: Sequence[str], shaped: bool = False) -> None:
        if len(names) > 200:
            raise ValueError("at most 200 hosts")
        self.tag = f"es{os.getpid()}"
        self.bridge = f"{self.tag}br"
        self.prefix = f"198.19.{os.getpid() % 250}"  # the benchmarking range (RFC 2544), never a real network
        self.shaped_prefix = f"198.18.{os.getpid() % 250}"
        self.hosts: dict[str, Host] = {}
        self.shaper: subprocess.Popen[str] | None = None
        sweep_stale()
        try:
            if shaped:
                self._start_shaper(len(names))
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.prefix}.254/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i, name in enumerate(names):
                self._add(i, name)
        except BaseException:
            self.close()
            raise

    def _add(self, index: int, name: str) -> None:
        host = self.hosts[name] = Host(self, index, name)
        _ip("netns", "add", host.ns)
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", f"{host.veth}p")
        _ip("link", "set", f"{host.veth}p", "netns", host.ns)
        _ip("link", "set", f"{host.veth}p", "name", "eth0", ns=host.ns)
        _ip("addr", "add", f"{host.address}/24", "dev", "eth0", ns=host.ns)
        _ip("link", "set", "eth0", "up", ns=host.ns)
        _ip("link", "set", "lo", "up", ns=host.ns)
        _ip("link", "set", host.veth, "master", self.bridge)
        _ip("link", "set", host.veth, "up")
        if self.shaper is not None:
            _ip("link", "set", f"{self.tag}t{index + 1}", "netns", host.ns)
            _ip("link", "set", f"{self.tag}t{index + 1}", "name", "eth1", ns=host.ns)
            _ip("addr", "add", f"{host.shaped_address}/24", "dev", "eth1", ns=host.ns)
            _ip("link", "set", "eth1", "mtu", str(shaper.MTU), "up", ns=host.ns)

    def _start_shaper(self, hosts: int) -> None:
        """The router of the shaped network (``tests.support.shaper``) and the test's own end of it."""
        self.shaper = subprocess.Popen(
            [sys.executable, str(SHAPER), self.tag, self.shaped_prefix, str(hosts)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.shaper.stdout is not None
        if (said := self.shaper.stdout.readline().strip()) != "ready":
            raise RuntimeError(f"the link shaper did not start: {said or self.shaper.wait(10)}")
        side = f"{self.tag}t254"
        _ip("addr", "add", f"{self.shaped_prefix}.254/24", "dev", side)
        _ip("link", "set", side, "mtu", str(shaper.MTU), "up")

    def shape(self, index: int, **link: float | bool) -> None:
        """Set the shaped network's link whose address ends in ``index`` (``tests.support.shaper``); returns
        once in force."""
        assert self.shaper is not None and self.shaper.stdin is not None and self.shaper.stdout is not None
        self.shaper.stdin.write(json.dumps({"index": index, **link}) + "\n")
        self.shaper.stdin.flush()
        if (said := self.shaper.stdout.readline().strip()) != "ok":
            raise RuntimeError(f"the link shaper refused {link}: {said}")

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def names(self) -> list[str]:
        """The namespaces and links of this object that exist now."""
        namespaces, links = _existing()
        return sorted(
            n
            for n in {*namespaces, *links}
            if n.startswith(f"{self.tag}-") or n == self.bridge or re.match(rf"^{self.tag}[vt]\d+$", n)
        )

    def close(self) -> None:
        """Stop every host's processes, then delete the namespaces, veths and bridge, by name."""
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.stop(timeout_s=5)
            _kill_namespace(host.ns)
            _ip("link", "del", host.veth, check=False)  # its peer goes with it
            _ip("netns", "del", host.ns, check=False)
        _ip("link", "del", self.bridge, check=False)
        if self.shaper is not None:  # its devices go with it
            with contextlib.suppress(OSError):
                self.shaper.stdin.close()  # type: ignore[union-attr]
            try:
                self.shaper.wait(10)
            except subprocess.TimeoutExpired:
                self.shaper.kill()
                self.shaper.wait(5)
            self.shaper = None


def tcp_connect_s(address: str, port: int, timeout_s: float = 3.0) -> float | None:
    """Seconds a TCP connect to ``address:port`` took from here, or None when it failed."""
    started = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=timeout_s):
            return time.monotonic() - started
    except OSError:
        return None
