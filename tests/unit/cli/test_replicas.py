"""``up --replicas``: which services may have replicas, and how a bad value is refused."""

from __future__ import annotations

import pytest

from services.cli import main
from services.cli.stack import parse_replicas
from services.cli.supervisor import Supervisor


def test_replicas_parse() -> None:
    assert parse_replicas("") == {}
    assert parse_replicas("detector=2, classifier=3,tracker=1") == {
        "detector": 2,
        "classifier": 3,
        "tracker": 1,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ingest=2", "'ingest' cannot have replicas"),
        ("ui=2", "'ui' cannot have replicas"),
        ("detector", "SERVICE=N"),
        ("detector=two", "whole number"),
        ("detector=0", "1 to 16"),
        ("classifier=17", "1 to 16"),
    ],
)
def test_bad_replicas_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_replicas(text)


def test_up_refuses_bad_replicas_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--replicas", "ingest=2"]) == 2
    assert "'ingest' cannot have replicas" in capsys.readouterr().err


def test_each_replica_gets_its_own_stable_consumer_name() -> None:
    sup = Supervisor({})
    for _ in range(2):
        sup.add("detector")
    sup.add("classifier")
    names = [c.env["EMOSTREAM_INSTANCE"] for c in sup.children]
    assert len(set(names)) == 3
    assert [c.replica for c in sup.children] == [0, 1, 0]
    assert "-detector-0-" in names[0] and "-detector-1-" in names[1]
