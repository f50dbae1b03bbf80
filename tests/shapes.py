"""A tiny generator of coloured shapes moving over a plain background, for training tests."""

from __future__ import annotations

import numpy as np


def moving_shapes(n_episodes: int, length: int, size: int = 32, n_shapes: int = 2, radius: int = 3,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Squares of distinct colours bouncing inside a ``size``×``size`` black frame.

    :return: frames ``(E, L, size, size, 3)`` uint8, centres ``(E, L, n_shapes, 2)`` in the
        (x, y) [-1, 1] pixel-centre convention, and centres in pixels ``(E, L, n_shapes, 2)``.
    """
    rng = np.random.default_rng(seed)
    colours = np.array([[255, 60, 60], [60, 255, 60], [80, 80, 255], [255, 255, 60]], dtype=np.uint8)
    frames = np.zeros((n_episodes, length, size, size, 3), dtype=np.uint8)
    px = np.zeros((n_episodes, length, n_shapes, 2))
    lo, hi = radius, size - 1 - radius
    for e in range(n_episodes):
        pos = rng.uniform(lo, hi, (n_shapes, 2))
        vel = rng.uniform(1.0, 2.0, (n_shapes, 2)) * rng.choice([-1, 1], (n_shapes, 2))
        for t in range(length):
            for s in range(n_shapes):
                cx, cy = np.round(pos[s]).astype(int)
                frames[e, t, cy - radius:cy + radius + 1, cx - radius:cx + radius + 1] = colours[s % len(colours)]
                px[e, t, s] = (cx, cy)
            pos += vel
            for d in range(2):
                out = (pos[:, d] < lo) | (pos[:, d] > hi)
                vel[out, d] *= -1
                pos[:, d] = np.clip(pos[:, d], lo, hi)
    norm = (2 * px + 1) / size - 1
    return frames, norm, px
