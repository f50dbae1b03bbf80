"""Slow numpy reference of :mod:`mint_rl.entropy`, for tests and benchmarks only.

Written independently of the implementation, to check it and to time it against: the local
contrast in float64 with ``np.round`` (exact here: every intermediate is a dyadic or correctly
rounded rational), the entropy from a dense 256-bin histogram per pixel (one-hot counts summed
over the window offsets; neither the sliding histogram of the numba backend nor the
sort-and-count of the torch backend), the bilinear resize and the sharpening as integer
numerators over a known denominator, rounded with Python's exact ``round(Fraction)``.
Every function takes and returns numpy arrays ``(B, C, H, W)``; the conventions (0–255 scale,
nats, zero border, half-to-even rounding) are those of :mod:`mint_rl.entropy`.

:func:`scene_frames` makes real-looking test frames (gradient background, flat shapes, mild
noise). ``tests/test_entropy.py`` checks the implementation against these functions and
``benchmarks/bench_entropy.py`` times them::

    >>> frames = scene_frames(2, 3, 16, 16)
    >>> reference_local_entropy(frames, size=3, preprocess=True).shape
    (2, 16, 16)
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

__all__ = [
    "reference_local_contrast",
    "reference_local_entropy",
    "reference_prepare_frames",
    "reference_resize_bilinear",
    "reference_round_fraction",
    "reference_sharpen",
    "reference_sharpen_fraction",
    "scene_frames",
]


def reference_local_contrast(frames: np.ndarray) -> np.ndarray:
    """MINT's local contrast (:func:`mint_rl.entropy.local_contrast`) of integer frames ``(B, C, H, W)`` in
    float64; returns uint8 ``(B, C, H, W)``."""
    x = frames.astype(np.float64)
    h, w = x.shape[-2:]
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    window_sum = sum(padded[..., di : di + h, dj : dj + w] for di in range(5) for dj in range(5))
    smooth = np.round(window_sum / 25.0)
    sharp = np.clip(np.round(2.5 * x - 1.25 * smooth), 0, 255)
    safe = np.where(smooth > 0, smooth, 1.0)
    # the authors' + 1e-8 vanishes in float32 for smooth >= 1; smooth = 0 forces sharp = 0
    ratio = np.where(smooth > 0, np.clip(np.round(255.0 * sharp / safe), 0, 255), 0.0)
    return ratio.astype(np.uint8)


def reference_local_entropy(frames: np.ndarray, size: int, preprocess: bool) -> np.ndarray:
    """Local entropy (nats, :func:`mint_rl.entropy.local_entropy`) of integer frames ``(B, C, H, W)``,
    channels pooled, the ``size // 2`` border 0; float64 ``(B, H, W)``."""
    x = reference_local_contrast(frames) if preprocess else frames.astype(np.uint8)
    b, c, h, w = x.shape
    r = size // 2
    n = size * size * c
    out = np.zeros((b, h, w), np.float64)
    eye = np.eye(256, dtype=np.int16)
    for k in range(b):
        onehot = eye[x[k]]  # (C, H, W, 256)
        counts = np.zeros((h - 2 * r, w - 2 * r, 256), np.int16)
        for ch in range(c):
            for di in range(size):
                for dj in range(size):
                    counts += onehot[ch, di : di + h - 2 * r, dj : dj + w - 2 * r]
        p = counts / n
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(p > 0, -p * np.log(p), 0.0)
        out[k, r : h - r, r : w - r] = terms.sum(-1)
    return out


def reference_round_fraction(num: np.ndarray, den: int) -> np.ndarray:
    """uint8 ``clamp(round(num / den), 0, 255)`` of integer ``num`` via Python's exact ``round(Fraction)``
    (ties to even)."""
    rounded = np.vectorize(lambda n: round(Fraction(int(n), den)), otypes=[np.int64])(num)
    return np.clip(rounded, 0, 255).astype(np.uint8)


def reference_sharpen_fraction(num: np.ndarray, den: int, factor: int) -> np.ndarray:
    """torchvision's float-path ``adjust_sharpness`` (:func:`mint_rl.entropy.sharpen`) of the frames
    ``num / den`` (integer ``num (B, C, H, W)``, integer ``factor``); uint8."""
    h, w = num.shape[-2:]
    out = 13 * num.astype(np.int64)  # everything over the common denominator 13·den
    if h > 2 and w > 2:
        blurred = np.zeros_like(num[..., 1:-1, 1:-1], dtype=np.int64)  # 13·den·blurred
        for di in range(3):
            for dj in range(3):
                weight = 5 if (di, dj) == (1, 1) else 1
                blurred += weight * num[..., di : di + h - 2, dj : dj + w - 2].astype(np.int64)
        out[..., 1:-1, 1:-1] = factor * out[..., 1:-1, 1:-1] + (1 - factor) * blurred
    return reference_round_fraction(out, 13 * den)


def reference_sharpen(frames: np.ndarray, factor: float) -> np.ndarray:
    """:func:`mint_rl.entropy.sharpen` with any float ``factor``, on 0–255 values in float64, rounded
    half-to-even; uint8 ``(B, C, H, W)``."""
    x = frames.astype(np.float64)
    out = x.copy()
    h, w = x.shape[-2:]
    if h > 2 and w > 2:
        kernel = np.ones((3, 3))
        kernel[1, 1] = 5.0
        blurred = sum(kernel[di, dj] * x[..., di : di + h - 2, dj : dj + w - 2] for di in range(3) for dj in range(3))
        out[..., 1:-1, 1:-1] = factor * x[..., 1:-1, 1:-1] + (1.0 - factor) * blurred / 13.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def reference_resize_bilinear(frames: np.ndarray, out_h: int, out_w: int) -> tuple[np.ndarray, int]:
    """Bilinear resize with half-pixel centres (``align_corners=False``), no antialiasing.

    Returns integer numerators ``(B, C, out_h, out_w)`` over the denominator ``4·out_h·out_w``: the
    source position of output index d is ``(d + 1/2)·n_in/n_out − 1/2 = ((2d + 1)·n_in − n_out) /
    (2·n_out)``, clamped at 0; the right neighbour is clamped to the last pixel.
    """
    h, w = frames.shape[-2:]
    x = frames.astype(np.int64)
    out = np.zeros(frames.shape[:-2] + (out_h, out_w), np.int64)
    for d in range(out_h):
        sy = max((2 * d + 1) * h - out_h, 0)  # over 2·out_h
        y0 = sy // (2 * out_h)
        fy = sy - y0 * 2 * out_h
        y1 = min(y0 + 1, h - 1)
        for e in range(out_w):
            sx = max((2 * e + 1) * w - out_w, 0)
            x0 = sx // (2 * out_w)
            fx = sx - x0 * 2 * out_w
            x1 = min(x0 + 1, w - 1)
            out[..., d, e] = (
                (2 * out_h - fy) * ((2 * out_w - fx) * x[..., y0, x0] + fx * x[..., y0, x1])
                + fy * ((2 * out_w - fx) * x[..., y1, x0] + fx * x[..., y1, x1])
            )
    return out, 4 * out_h * out_w


def reference_prepare_frames(frames: np.ndarray, grid: tuple[int, int], sharpen_small: bool = True) -> np.ndarray:
    """:func:`mint_rl.entropy.prepare_frames` of uint8 frames ``(B, C, H, W)``: resize to ``grid`` and sharpen
    inputs narrower than 100 px; uint8 ``(B, C, *grid)``."""
    num, den = (
        (frames.astype(np.int64), 1) if frames.shape[-2:] == grid else reference_resize_bilinear(frames, *grid)
    )
    if sharpen_small and frames.shape[-1] < 100:
        return reference_sharpen_fraction(num, den, 10)
    return reference_round_fraction(num, den)


def scene_frames(b: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Real-looking uint8 frames ``(b, c, h, w)``: a smooth gradient background, three flat shapes (circles
    or rectangles), mild sensor noise on every other frame. Deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    frames = np.empty((b, c, h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for k in range(b):
        img = np.empty((h, w, c), np.float64)
        for ch in range(c):
            img[..., ch] = 40 + 60 * ch + 50 * xx / w + 30 * yy / h
        for _ in range(3):
            colour = tuple(float(v) for v in rng.integers(0, 256, c))
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.5:
                cv2.circle(img, (cx, cy), int(rng.integers(2, max(3, h // 3))), colour, -1)
            else:
                cv2.rectangle(img, (cx, cy), (cx + int(rng.integers(2, 8)), cy + int(rng.integers(2, 8))), colour, -1)
        if k % 2:
            img += rng.normal(0, 2.0, img.shape)
        frames[k] = np.clip(np.round(img), 0, 255).astype(np.uint8).transpose(2, 0, 1)
    return frames
