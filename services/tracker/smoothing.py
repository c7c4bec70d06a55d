"""Exponential moving averages for boxes and probabilities, and label hysteresis."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.tracker.association import BoxXYXY


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
