"""Which camera sources a dashboard may register: ``EMOSTREAM_SOURCE_ALLOW``.

Anyone who reaches ``POST /api/cameras`` makes ingest open what they name: a local file, a device, or a
URL fetched from inside the network. The policy says what is allowed:

- ``any``: everything (the behaviour of a dashboard bound to loopback, where only this machine's users
  reach it);
- ``auto`` (default): ``any`` on a loopback bind, else the default rules below;
- rules, space-separated, each replacing one default: ``schemes=rtsp,rtsps,http,https,file,device,push``
  (which kinds of source), ``files=DIR,DIR`` (files and image folders only under these directories),
  ``hosts=NET,NAME,...`` (URL hosts only in these networks or with these names; default: any host but the
  denied ones).

Whatever the rules, on a non-``any`` policy a URL whose host is, or resolves to, a link-local address
(169.254.0.0/16, fe80::/10: cloud metadata services live there), a metadata name, or an unspecified
address (0.0.0.0) is refused; so is a path that leaves its directory through ``..`` or a symlink. A
refusal names the rule. Resolution happens at registration: a name that resolves differently later
(DNS rebinding) is not re-checked when ingest opens it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from services.common.sources import SourceError, parse_uri

SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "file", "device", "push")
DEFAULT_SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "device", "push")
DENIED_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fe80::/10", "0.0.0.0/32", "::/128", "fd00:ec2::254/128")
)
DENIED_NAMES = ("metadata", "metadata.google.internal", "metadata.azure.internal", "instance-data")

Resolver = Callable[[str], list[str]]


class SourceRefused(SourceError):
    """A source the policy refuses; the message names the rule (``EMOSTREAM_SOURCE_ALLOW``)."""


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (none when it does not resolve)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except (socket.gaierror, UnicodeError):
        return []


def is_loopback_bind(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SourcePolicy:
    """``allow_all`` or the rules (see the module docstring)."""

    allow_all: bool = False
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    files: tuple[Path, ...] = ()
    hosts: tuple[str, ...] = ()  # networks or names; empty: any host but the denied ones

    @classmethod
    def parse(cls, text: str, bind_host: str, default_dirs: Sequence[Path]) -> SourcePolicy:
        """The policy of ``EMOSTREAM_SOURCE_ALLOW`` for a dashboard bound to ``bind_host``; files default to
        ``default_dirs`` (the data and samples directories). Raises ValueError naming a bad rule."""
        text = text.strip() or "auto"
        if text == "any" or (text == "auto" and is_loopback_bind(bind_host)):
            return cls(allow_all=True)
        rules = {"schemes": ",".join(DEFAULT_SCHEMES), "files": "", "hosts": ""}
        if text != "auto":
            for item in text.split():
                key, sep, value = item.partition("=")
                if not sep or key not in rules:
                    raise ValueError(
                        f"EMOSTREAM_SOURCE_ALLOW: {item!r} is not a rule: use any, auto, or "
                        "schemes=A,B files=DIR,DIR hosts=NET,NAME"
                    )
                rules[key] = value
        schemes = tuple(s.strip().lower() for s in rules["schemes"].split(",") if s.strip())
        unknown = [s for s in schemes if s not in SCHEMES]
        if unknown:
            raise ValueError(
                f"EMOSTREAM_SOURCE_ALLOW: unknown scheme {unknown[0]!r}; known: {', '.join(SCHEMES)}"
            )
        dirs = [Path(d) for d in rules["files"].split(",") if d.strip()] or list(default_dirs)
        hosts = tuple(h.strip().lower() for h in rules["hosts"].split(",") if h.strip())
        for host in hosts:
            if "/" in host:
                try:
                    ipaddress.ip_network(host, strict=False)
                except ValueError as exc:
                    raise ValueError(f"EMOSTREAM_SOURCE_ALLOW: hosts: {exc}") from None
        return cls(False, schemes, tuple(Path(os.path.realpath(d)) for d in dirs), hosts)

    def check(self, uri: str, resolver: Resolver = resolve) -> None:
        """Return when ``uri`` may be registered; raise :class:`SourceRefused` naming the rule otherwise."""
        if self.allow_all:
            return
        # a URL's scheme first: parse_uri takes an unknown one (gopher://) for a file path
        self._check_scheme(uri.strip().split("://", 1)[0].lower() if "://" in uri else "")
        spec = parse_uri(uri)
        if spec.kind == "job":  # job:ID/NAME: under the data directory by construction
            self._check_scheme("file")
            return
        if spec.kind in ("file", "folder"):
            self._check_path(spec.target)
            return
        self._check_scheme(
            spec.kind if spec.kind in ("device", "push") else spec.target.split("://", 1)[0].lower()
        )
        if spec.kind == "url":
            self._check_host(spec.target, resolver)

    def _check_scheme(self, scheme: str) -> None:
        """Refuse ``scheme`` unless the rule allows it ('': nothing to check)."""
        if scheme and scheme not in self.schemes:
            raise SourceRefused(
                f"refused by EMOSTREAM_SOURCE_ALLOW rule 'schemes': {scheme} sources are not allowed "
                f"(allowed: {', '.join(self.schemes)})"
            )

    def _check_path(self, target: str) -> None:
        self._check_scheme("file")
        real = Path(os.path.realpath(target))
        if not any(real == d or d in real.parents for d in self.files):
            allowed = ", ".join(str(d) for d in self.files) or "none"
            raise SourceRefused(
                f"refused by EMOSTREAM_SOURCE_ALLOW rule 'files': {target} is outside the allowed "
                f"directories ({allowed})"
            )

    def _check_host(self, url: str, resolver: Resolver) -> None:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError as exc:
            raise SourceRefused(f"refused: the URL does not parse ({exc})") from None
        if not host:
            raise SourceRefused("refused: the URL names no host")
        if host in DENIED_NAMES:
            raise SourceRefused(f"refused by the metadata rule: {host} is a cloud metadata service name")
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolver(host)]  # (no zone id)
        for ip in addresses:
            if any(ip in net for net in DENIED_NETS):
                raise SourceRefused(
                    f"refused by the link-local/metadata rule: {host} is {ip}, an address cameras never have "
                    "(cloud metadata services live there)"
                )
        if not self.hosts or host in self.hosts:
            return
        nets = [ipaddress.ip_network(h, strict=False) for h in self.hosts if "/" in h]
        if addresses and all(any(ip in n for n in nets) for ip in addresses):
            return
        raise SourceRefused(
            f"refused by EMOSTREAM_SOURCE_ALLOW rule 'hosts': {host} is not in {', '.join(self.hosts)}"
        )
