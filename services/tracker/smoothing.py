"""Box smoothers (EMA, One Euro), the probability EMA, and label hysteresis."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common.boxes import BoxXYXY
from services.tracker.checkpoint import EuroState


def ema_box(old_xyxy: BoxXYXY, new_xyxy: BoxXYXY, alpha: float) -> BoxXYXY:
    """``alpha * new + (1 - alpha) * old`` per coordinate (pixels); ``alpha`` weights the new box."""
    x1, y1, x2, y2 = (alpha * n + (1.0 - alpha) * o for o, n in zip(old_xyxy, new_xyxy, strict=True))
    return (x1, y1, x2, y2)


def ema_probs(old: Mapping[str, float], new: Mapping[str, float], alpha: float) -> dict[str, float]:
    """``alpha * new + (1 - alpha) * old`` per label, in ``old``'s key order.

    Raises ``ValueError`` when the two mappings do not have the same labels.
    """
    if old.keys() != new.keys():
        raise ValueError(f"probability labels changed: {sorted(old)} -> {sorted(new)}")
    return {k: alpha * new[k] + (1.0 - alpha) * v for k, v in old.items()}


def argmax_label(probs: Mapping[str, float], prefer: str | None = None) -> str:
    """The label with the highest probability; ties go to ``prefer`` if it is tied, else to the first key.

    Raises ``ValueError`` on an empty mapping.
    """
    if not probs:
        raise ValueError("no probabilities")
    best = max(probs, key=probs.__getitem__)
    if prefer is not None and prefer in probs and probs[prefer] >= probs[best]:
        return prefer
    return best


@dataclass
class LabelHysteresis:
    """The shown label of one track: it changes to a challenger only after the challenger has been the
    argmax of the smoothed probabilities, ahead of the shown label by at least ``margin``, for
    ``confirm_frames`` consecutive updates of the track."""

    shown: str
    candidate: str | None = None
    streak: int = 0

    def step(self, smoothed: Mapping[str, float], confirm_frames: int, margin: float) -> str:
        """Feed one update's smoothed probabilities; return the (possibly new) shown label."""
        leader = argmax_label(smoothed, prefer=self.shown)
        if leader == self.shown or smoothed[leader] - smoothed.get(self.shown, 0.0) < margin:
            self.candidate, self.streak = None, 0
            return self.shown
        if leader == self.candidate:
            self.streak += 1
        else:
            self.candidate, self.streak = leader, 1
        if self.streak >= confirm_frames:
            self.shown, self.candidate, self.streak = leader, None, 0
        return self.shown


def _alpha(cutoff: float, dt: float) -> float:
    """The smoothing factor of a first-order low-pass filter with ``cutoff`` (cycles per frame) over
    ``dt`` frames."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroBox:
    """The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) on the four box coordinates.

    Each coordinate is low-pass filtered with a cutoff that rises with its speed:
    ``cutoff = min_cutoff + beta * |speed|``, so a still face is smoothed hard (little jitter) and a moving
    one lightly (little lag). Time is counted in frames: ``min_cutoff`` and ``d_cutoff`` are in cycles per
    frame, ``beta`` per (pixel per frame), the speed is in pixels per frame.
    """

    box_xyxy: BoxXYXY
    speed: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])

    def step(self, new_xyxy: BoxXYXY, dt: int, min_cutoff: float, beta: float, d_cutoff: float) -> BoxXYXY:
        """Feed the box measured ``dt >= 1`` frames after the last one; returns the filtered box."""
        dt_f = float(max(dt, 1))
        a_d = _alpha(d_cutoff, dt_f)
        out = []
        for i, (old, new) in enumerate(zip(self.box_xyxy, new_xyxy, strict=True)):
            speed = a_d * (new - old) / dt_f + (1.0 - a_d) * self.speed[i]
            self.speed[i] = speed
            a = _alpha(min_cutoff + beta * abs(speed), dt_f)
            out.append(a * new + (1.0 - a) * old)
        self.box_xyxy = (out[0], out[1], out[2], out[3])
        return self.box_xyxy

    def to_state(self) -> EuroState:
        return EuroState(box_xyxy=self.box_xyxy, speed=list(self.speed))

    @classmethod
    def from_state(cls, d: EuroState) -> OneEuroBox:
        return cls(d.box_xyxy, list(d.speed))
