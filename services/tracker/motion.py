"""A constant-velocity Kalman filter over a face box, for predicting where a hidden face will be.

The state is ``(cx, cy, w, h, vcx, vcy, vw, vh)``: the box centre and size in pixels and their velocities
in pixels per frame. Noise scales with the box height (as in DeepSORT), so the filter behaves the same for
near and far faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.common.boxes import BoxXYXY
from services.tracker.checkpoint import KalmanState

Array = npt.NDArray[np.float64]

_POS_STD = 1.0 / 20  # measurement and process noise of position, as a fraction of the box height
_VEL_STD = 1.0 / 160  # process noise of velocity, fraction of the box height per frame
_H = np.hstack([np.eye(4), np.zeros((4, 4))])


def xyxy_to_cxcywh(box: BoxXYXY) -> Array:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=np.float64)


def cxcywh_to_xyxy(z: Array) -> BoxXYXY:
    cx, cy, w, h = (float(v) for v in z[:4])
    w, h = max(w, 1.0), max(h, 1.0)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _transition(steps: int) -> Array:
    f = np.eye(8)
    f[:4, 4:] = np.eye(4) * steps
    return f


@dataclass
class BoxKalman:
    """Mean ``(8,)`` and covariance ``(8, 8)`` of one track's box state."""

    mean: Array
    cov: Array

    @classmethod
    def start(cls, box: BoxXYXY) -> BoxKalman:
        """A filter at ``box`` with zero velocity and a wide velocity uncertainty."""
        z = xyxy_to_cxcywh(box)
        h = max(z[3], 1.0)
        std = np.array([2 * _POS_STD * h] * 4 + [10 * _VEL_STD * h] * 4)
        return cls(np.concatenate([z, np.zeros(4)]), np.diag(std**2))

    def predicted(self, steps: int) -> BoxKalman:
        """The state ``steps`` frames ahead (a new object; ``self`` is unchanged)."""
        if steps <= 0:
            return BoxKalman(self.mean.copy(), self.cov.copy())
        f = _transition(steps)
        h = max(self.mean[3], 1.0)
        q = np.diag(np.array([_POS_STD * h] * 4 + [_VEL_STD * h] * 4) ** 2) * steps
        return BoxKalman(f @ self.mean, f @ self.cov @ f.T + q)

    def box(self) -> BoxXYXY:
        return cxcywh_to_xyxy(self.mean)

    def corrected(self, box: BoxXYXY, noise_scale: float = 1.0) -> BoxKalman:
        """The state after measuring ``box`` (call on the prediction for this frame); ``noise_scale``
        multiplies the measurement's standard deviation (a doubtful box moves the state less)."""
        z = xyxy_to_cxcywh(box)
        r = np.diag(np.full(4, (noise_scale * _POS_STD * max(z[3], 1.0)) ** 2))
        s = _H @ self.cov @ _H.T + r
        gain = np.linalg.solve(s, _H @ self.cov).T
        mean = self.mean + gain @ (z - _H @ self.mean)
        cov = (np.eye(8) - gain @ _H) @ self.cov
        return BoxKalman(mean, (cov + cov.T) / 2)

    def reupdated(self, steps: int, box: BoxXYXY, noise_scale: float = 1.0) -> BoxKalman:
        """Observation-centric re-update (OC-SORT's ORU): ``self`` is the state at the last observation,
        ``steps`` frames ago; instead of one long prediction, walk a virtual track from the last observed
        box to ``box`` in ``steps`` equal steps, correcting at each, so the velocity matches what was
        observed across the gap rather than what was guessed during it."""
        last = self.box()
        state = self
        for k in range(1, steps + 1):
            w = k / steps
            x1, y1, x2, y2 = (a + (b - a) * w for a, b in zip(last, box, strict=True))
            state = state.predicted(1).corrected((x1, y1, x2, y2), noise_scale)
        return state

    def to_state(self) -> KalmanState:
        return KalmanState(mean=self.mean.tolist(), cov=self.cov.tolist())

    @classmethod
    def from_state(cls, d: KalmanState) -> BoxKalman:
        mean = np.asarray(d.mean, dtype=np.float64)
        cov = np.asarray(d.cov, dtype=np.float64)
        if mean.shape != (8,) or cov.shape != (8, 8):
            raise ValueError(f"kalman state must be (8,) and (8, 8), got {mean.shape}, {cov.shape}")
        return cls(mean, cov)
