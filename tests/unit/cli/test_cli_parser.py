"""Every subcommand parses the flags the README documents."""

from __future__ import annotations

import pytest

from services.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["up"], {"port": 7860, "host": "127.0.0.1", "model": None, "source": []}),
        (
            ["up", "--port", "9000", "--model", "m", "--source", "a=0", "--source", "b=x.mp4"],
            {"port": 9000, "model": "m", "source": ["a=0", "b=x.mp4"]},
        ),
        (["analyze", "v.mp4", "--out", "o", "--model", "m"], {"model": "m", "no_progress": False}),
        (["analyze", "v.mp4"], {"out": None}),
        (["run", "detector", "--check"], {"service": "detector", "check": True}),
        (["eval", "classifier", "--data", "d"], {"noun": "classifier"}),
        (["eval", "tracking", "--video", "v", "--gt", "g"], {"noun": "tracking"}),
        (["eval", "stability", "--video", "v"], {"noun": "stability"}),
        (["train", "classifier", "--data", "d", "--out", "o"], {"noun": "classifier"}),
    ],
)
def test_flags_parse(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


@pytest.mark.parametrize(
    "argv", [["analyze"], ["--log-level", "loud", "up"], ["run", "nosuch"], ["up", "--port", "x"], ["eval"]]
)
def test_bad_flags_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
