"""EMOSTREAM_SOURCE_ALLOW: parsing and the rules (pure; the hostile-request table runs them over HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.source_policy import SourcePolicy, SourceRefused


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
