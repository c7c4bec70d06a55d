"""EMA helpers and label hysteresis on their own."""

from __future__ import annotations

import pytest

from services.tracker.smoothing import LabelHysteresis, argmax_label, ema_box, ema_probs


def test_ema_box_weights_new_observation() -> None:
    assert ema_box((0, 0, 100, 100), (10, 20, 110, 120), 0.3) == pytest.approx((3, 6, 103, 106))


def test_ema_probs_keeps_key_order() -> None:
    out = ema_probs({"sad": 0.5, "happy": 0.5}, {"happy": 1.0, "sad": 0.0}, 0.3)
    assert list(out) == ["sad", "happy"]
    assert out == pytest.approx({"sad": 0.35, "happy": 0.65})


def test_ema_probs_rejects_changed_labels() -> None:
    with pytest.raises(ValueError, match="labels changed"):
        ema_probs({"sad": 1.0}, {"happy": 1.0}, 0.3)


@pytest.mark.parametrize(
    ("probs", "prefer", "expected"),
    [
        ({"a": 0.2, "b": 0.8}, None, "b"),
        ({"a": 0.5, "b": 0.5}, None, "a"),
        ({"a": 0.5, "b": 0.5}, "b", "b"),
        ({"a": 0.4, "b": 0.6}, "a", "b"),
    ],
)
def test_argmax_label(probs: dict[str, float], prefer: str | None, expected: str) -> None:
    assert argmax_label(probs, prefer) == expected


def test_argmax_label_empty_raises() -> None:
    with pytest.raises(ValueError):
        argmax_label({})


LEAD_A = {"a": 0.7, "b": 0.3}
LEAD_B = {"a": 0.3, "b": 0.7}


@pytest.mark.parametrize(
    ("sequence", "expected_shown"),
    [
        pytest.param([LEAD_B], ["a"], id="one-frame"),
        pytest.param([LEAD_B, LEAD_B], ["a", "a"], id="two-frames"),
        pytest.param([LEAD_B, LEAD_B, LEAD_B], ["a", "a", "b"], id="three-frames-flip"),
        pytest.param([LEAD_B, LEAD_B, LEAD_A, LEAD_B, LEAD_B], ["a"] * 5, id="interrupted"),
    ],
)
def test_hysteresis_needs_consecutive_frames(
    sequence: list[dict[str, float]], expected_shown: list[str]
) -> None:
    h = LabelHysteresis(shown="a")
    assert [h.step(p, confirm_frames=3, margin=0.0) for p in sequence] == expected_shown
