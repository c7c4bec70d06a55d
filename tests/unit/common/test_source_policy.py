"""EMOSTREAM_SOURCE_ALLOW: parsing and the rules (pure; the hostile-request table runs them over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.source_policy import SourcePolicy, SourceRefused, is_loopback_bind
from services.common.sources import SourceError


def resolver(table: dict[str, list[str]]):  # noqa: ANN201 -- a stand-in for DNS, pure logic only
    return lambda host: table.get(host, [])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_auto_on_loopback_allows_everything(host: str) -> None:
    policy = SourcePolicy.parse("auto", host, [])
    policy.check("/etc/passwd")
    policy.check("http://169.254.169.254/")


def test_any_allows_everything_on_any_bind() -> None:
    SourcePolicy.parse("any", "0.0.0.0", []).check("/etc/passwd")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("everything", "is not a rule"),
        ("schemes=rtsp,ftp", "unknown scheme 'ftp'"),
        ("hosts=10.0.0.0/99", "hosts:"),
        ("dirs=/srv", "is not a rule"),
    ],
)
def test_a_bad_policy_is_refused_at_start_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SourcePolicy.parse(text, "0.0.0.0", [])


def test_rules_replace_their_defaults(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    srv.mkdir()
    policy = SourcePolicy.parse(f"schemes=rtsp,file files={srv} hosts=10.0.0.0/8,cam.local", "0.0.0.0", [])
    policy.check(str(srv / "a.mp4"))
    policy.check("rtsp://10.1.2.3/s")
    policy.check("rtsp://cam.local/s", resolver({"cam.local": ["192.168.1.9"]}))
    policy.check("rtsp://door/s", resolver({"door": ["10.9.9.9"]}))
    for uri, rule in [
        ("http://10.1.2.3/mjpg", "rule 'schemes'"),
        ("0", "rule 'schemes'"),
        ("rtsp://192.168.1.5/s", "rule 'hosts'"),
        ("rtsp://door/s", "rule 'hosts'"),  # resolves outside the networks below
        (str(tmp_path / "other.mp4"), "rule 'files'"),
    ]:
        with pytest.raises(SourceRefused, match=rule):
            policy.check(uri, resolver({"door": ["192.168.7.7"]}))


def test_a_name_resolving_to_link_local_is_refused_even_when_hosts_allow_it() -> None:
    policy = SourcePolicy.parse("hosts=evil.example", "0.0.0.0", [])
    with pytest.raises(SourceRefused, match="link-local"):
        policy.check("http://evil.example/", resolver({"evil.example": ["10.0.0.1", "169.254.169.254"]}))


#: the metadata address (and the other always-refused ones) in every spelling that connects to it
DENIED_FORMS = [
    "http://169.254.169.254/latest/",
    "http://[::ffff:169.254.169.254]/latest/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated
    "http://[::169.254.169.254]/",  # IPv4-compatible
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
    "http://[64:ff9b::169.254.169.254]/",
    "http://[64:ff9b:1:a9fe:a9:fe00::]/",  # local-use NAT64, /48 prefix
    "http://[2002:a9fe:a9fe::1]/",  # 6to4
    "http://[2001:0:c000:201::5601:5601]/",  # Teredo, client 169.254.169.254
    "http://2852039166/",  # decimal
    "http://0251.0376.0251.0376/",  # octal
    "http://0xa9fea9fe/",  # hex
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",  # short
    "http://[fe80::1%25eth0]/",  # with a zone id
    "rtsp://[fd00:ec2::254]/",  # AWS's IPv6 metadata address
    "http://100.100.100.200/",  # Alibaba's
    "http://0/",
    "http://0.0.0.0/",
    "http://[::]/",
]


@pytest.mark.parametrize("uri", DENIED_FORMS)
def test_every_spelling_of_a_denied_address_is_refused_without_dns(uri: str) -> None:
    policy = SourcePolicy.parse("auto", "0.0.0.0", [])
    with pytest.raises(SourceRefused, match="link-local/metadata rule"):
        policy.check(uri, resolver({}))  # a literal never reaches DNS
    with pytest.raises(SourceRefused, match="link-local/metadata rule"):
        policy.pin(uri, resolver({}))


@pytest.mark.parametrize(
    ("uri", "table", "rule"),
    [
        ("http://evil.example/", {"evil.example": ["::ffff:169.254.169.254"]}, "link-local/metadata"),
        (
            "http://evil.example/",
            {"evil.example": ["198.18.0.7", "64:ff9b::a9fe:a9fe"]},
            "link-local/metadata",
        ),
        ("http://metadata.google.internal./", {}, "metadata rule"),
        ("http://METADATA/", {}, "metadata rule"),
    ],
)
def test_a_name_is_judged_by_every_address_it_resolves_to(
    uri: str, table: dict[str, list[str]], rule: str
) -> None:
    with pytest.raises(SourceRefused, match=rule):
        SourcePolicy.parse("auto", "0.0.0.0", []).check(uri, resolver(table))


@pytest.mark.parametrize(
    "uri",
    ["http://198.18.0.7/", "http://[64:ff9b::c612:7]/", "http://[2001:db8::1]/", "rtsp://cam.local/s"],
)
def test_other_addresses_pass_the_default_rules(uri: str) -> None:
    SourcePolicy.parse("auto", "0.0.0.0", []).check(uri, resolver({"cam.local": ["198.18.0.9"]}))


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("127.1", True),
        ("2130706433", True),
        ("0x7f000001", True),
        ("[::1]", True),
        ("localhost.", True),
        ("0.0.0.0", False),
        ("0", False),
        ("::", False),
        ("::ffff:192.168.1.2", False),
        ("cam.local", False),
    ],
)
def test_every_spelling_of_loopback_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback_bind(host) is loopback
    assert SourcePolicy.parse("auto", host, []).allow_all is loopback


@pytest.mark.parametrize(
    ("rule", "uri", "allowed"),
    [
        ("hosts=127.0.0.0/8", "http://[::ffff:127.0.0.1]/", True),
        ("hosts=127.0.0.0/8", "http://2130706433/", True),
        ("hosts=127.0.0.0/8", "http://127.1/", True),
        ("hosts=127.0.0.0/8", "http://[::ffff:10.0.0.1]/", False),
        ("hosts=10.0.0.5", "http://[::ffff:10.0.0.5]/", True),  # an address without a prefix length
        ("hosts=10.0.0.5", "http://167772165/", True),
        ("hosts=10.0.0.5", "http://10.0.0.6/", False),
    ],
)
def test_the_hosts_rule_sees_the_normal_form(rule: str, uri: str, allowed: bool) -> None:
    policy = SourcePolicy.parse(rule, "0.0.0.0", [])
    if allowed:
        policy.check(uri, resolver({}))
    else:
        with pytest.raises(SourceRefused, match="rule 'hosts'"):
            policy.check(uri, resolver({}))


@pytest.mark.parametrize(
    ("uri", "table", "pinned"),
    [
        (
            "rtsp://viewer:pw@cam.local:554/s?x=1",
            {"cam.local": ["198.18.0.7"]},
            "rtsp://viewer:pw@198.18.0.7:554/s?x=1",
        ),
        ("rtsp://cam6/s", {"cam6": ["2001:db8::7", "198.18.0.8"]}, "rtsp://[2001:db8::7]/s"),
        ("rtsp://[::ffff:198.18.0.7]:8554/s", {}, "rtsp://198.18.0.7:8554/s"),
        ("rtsp://3323068423/s", {}, "rtsp://198.18.0.7/s"),
    ],
)
def test_pin_connects_to_the_checked_address(uri: str, table: dict[str, list[str]], pinned: str) -> None:
    assert SourcePolicy.parse("auto", "0.0.0.0", []).pin(uri, resolver(table)) == pinned


def test_pin_checks_again_at_connect_time_so_a_rebound_name_is_refused() -> None:
    policy = SourcePolicy.parse("auto", "0.0.0.0", [])
    answers = iter([["198.18.0.7"], ["169.254.169.254"]])
    rebinding = lambda _host: next(answers)  # noqa: E731 -- DNS that answers differently the second time
    policy.check("rtsp://cam.example/s", rebinding)  # registration
    with pytest.raises(SourceRefused, match="link-local/metadata rule: cam.example is 169.254.169.254"):
        policy.pin("rtsp://cam.example/s", rebinding)  # ingest, connecting
    with pytest.raises(SourceError, match="cannot resolve nowhere.example"):
        policy.pin("rtsp://nowhere.example/s", resolver({}))
