"""Which camera sources a dashboard may register, and ingest may open: ``EMOSTREAM_SOURCE_ALLOW``.

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
(169.254.0.0/16, fe80::/10: cloud metadata services live there), a metadata address or name, or an
unspecified address (0.0.0.0, ::) is refused; so is a path that leaves its directory through ``..`` or a
symlink. Every address is judged in its normal form (:mod:`common.addresses`): ``http://2852039166/``,
``http://[::ffff:169.254.169.254]/`` and the NAT64, 6to4 and Teredo forms that embed a denied IPv4
address are that address; so are loopback's other spellings loopback. A refusal names the rule.

The ui checks at registration (:meth:`SourcePolicy.check`); ingest checks again each time it connects
(:meth:`SourcePolicy.pin`): it resolves the host once, checks every address, and connects to a checked
one, so a name that resolves elsewhere later (DNS rebinding) meets the same rules. How ingest keeps
redirects and playlists inside the policy is in :mod:`services.ingest.fetch`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from services.common.addresses import IPAddress, canonical, forms, parse_ip, resolve, with_host
from services.common.sources import SourceError, parse_uri

SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "file", "device", "push")
DEFAULT_SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "device", "push")
DENIED_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "0.0.0.0/32",
        "::/128",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
    )
)  # link-local, unspecified, and the metadata services outside link-local (AWS IPv6, Alibaba)
DENIED_NAMES = ("metadata", "metadata.google.internal", "metadata.azure.internal", "instance-data")

Resolver = Callable[[str], list[str]]


class SourceRefused(SourceError):
    """A source the policy refuses; the message names the rule (``EMOSTREAM_SOURCE_ALLOW``)."""


def is_loopback_bind(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine alone (any spelling of loopback,
    ``::ffff:127.0.0.1`` and ``2130706433`` included)."""
    if host.strip().lower().rstrip(".") in ("localhost", ""):
        return True
    ip = parse_ip(host)
    return ip is not None and canonical(ip).is_loopback


def url_parts(url: str) -> tuple[SplitResult, str]:
    """``url`` split, and its host in lower case without a trailing dot; raises :class:`SourceRefused`
    when it does not parse or names no host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError as exc:
        raise SourceRefused(f"refused: the URL does not parse ({exc})") from None
    if not host:
        raise SourceRefused("refused: the URL names no host")
    return parts, host


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

    def check_url(self, url: str, resolver: Resolver = resolve) -> list[IPAddress]:
        """The addresses a connection for ``url`` may go to: its host resolved once, in the resolver's
        order, every address checked (empty for a host allowed by name that does not resolve). Raises
        :class:`SourceRefused` naming the rule when the scheme, the host or any of its addresses is
        refused. Under ``any``, the addresses unchecked."""
        if self.allow_all:
            return _addresses(url_parts(url)[1], resolver)
        self._check_scheme(url.split("://", 1)[0].lower() if "://" in url else "")
        return self._check_host(url, resolver)

    def pin(self, url: str, resolver: Resolver = resolve) -> str:
        """``url`` with its host replaced by the first address :meth:`check_url` allows, for a client
        that would otherwise resolve the name again. Raises :class:`SourceRefused` as it does, and
        :class:`SourceError` when the host does not resolve."""
        addresses = self.check_url(url, resolver)
        parts, host = url_parts(url)
        if not addresses:
            raise SourceError(f"cannot resolve {host}")
        return with_host(parts, canonical(addresses[0]))

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

    def _check_host(self, url: str, resolver: Resolver) -> list[IPAddress]:
        host = url_parts(url)[1]
        if host in DENIED_NAMES:
            raise SourceRefused(f"refused by the metadata rule: {host} is a cloud metadata service name")
        addresses = _addresses(host, resolver)
        for ip in addresses:
            if any(form in net for form in forms(ip) for net in DENIED_NETS):
                raise SourceRefused(
                    f"refused by the link-local/metadata rule: {host} is {ip}, an address cameras never have "
                    "(cloud metadata services live there)"
                )
        if not self.hosts or host in self.hosts:
            return addresses
        nets = [ipaddress.ip_network(h, strict=False) for h in self.hosts if "/" in h]
        nets += [ipaddress.ip_network(canonical(ip)) for ip in map(parse_ip, self.hosts) if ip is not None]
        if addresses and all(any(canonical(ip) in n or ip in n for n in nets) for ip in addresses):
            return addresses
        raise SourceRefused(
            f"refused by EMOSTREAM_SOURCE_ALLOW rule 'hosts': {host} is not in {', '.join(self.hosts)}"
        )


def _addresses(host: str, resolver: Resolver) -> list[IPAddress]:
    """``host``'s addresses: itself when it spells one (no lookup), else what ``resolver`` answers."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    found = (parse_ip(a) for a in resolver(host))
    return list(dict.fromkeys(ip for ip in found if ip is not None))
