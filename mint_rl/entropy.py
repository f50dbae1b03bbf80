"""Local entropy of frames: MINT's supervisory signal (MINT_METHOD §1).

Definition
----------
For a frame with ``C`` channels on the 0–255 integer scale and an odd window size ``R``,
the local entropy at pixel ``(i, j)`` is the Shannon entropy, in **nats**, of the
``N = R·R·C`` intensity values in the ``R×R`` window centred on the pixel, **all channels
pooled into one 256-bin histogram** (unit bins, one per integer value)::

    H(i, j) = −Σ_v (n_v / N) · ln(n_v / N) = ln N − (1/N) · Σ_v n_v · ln n_v

Pixels closer than ``R // 2`` to the border have no full window and are set to 0.
Before the histogram the frame may be passed through MINT's local-contrast normalisation
(:func:`local_contrast`), which maps uniform regions to one value so they carry zero
entropy. :func:`prepare_frames` brings raw observations to the heatmap grid first
(bilinear resize, and for inputs narrower than 100 px a torchvision-style sharpening).

How this differs from ``skimage.filters.rank.entropy``
------------------------------------------------------
* skimage works on one grey channel; we pool all channels into one histogram
  (3×3 RGB window: 27 samples).
* skimage uses log base 2 (bits); we use the natural log (nats), as MINT does.
* skimage keeps border pixels and clips the footprint to the image there (the histogram
  only counts pixels inside the image); we set the ``R // 2`` border to 0.
* we optionally apply the local-contrast normalisation first.
With one channel, no preprocessing and ``footprint = np.ones((R, R))`` the two agree on
interior pixels up to the factor ``ln 2`` (tested).

Exactness
---------
The authors compute the entropy with a CUDA "soft histogram" whose bandwidth (0.001) makes
it a hard histogram on integer values; it needs no gradient, so we compute it exactly.
``Σ n ln n`` is accumulated in 64-bit fixed point (``round(n ln n · 2^32)``), so the result
does not depend on summation order or backend (the numba and torch backends agree to the
last bit of the float64 intermediate) and a uniform window gives exactly 0. The
preprocessing is exact too: the local contrast in integer arithmetic, the resize and the
sharpening as rationals with known denominators, so every half-to-even rounding (ties are
common, e.g. halfway between two pixels) is decided the same way on any device.

Backends of :func:`local_entropy`
---------------------------------
* ``"numba"``: CPU kernel, one sliding 256-bin histogram per image row (add the entering
  column, remove the leaving one, update ``Σ n ln n`` from a table), parallel over
  batch × rows. On CPU the local contrast is a numba kernel too (torch ops elsewhere).
* ``"torch"``: vectorised torch (for CUDA, also runs on CPU): unfold the ``N`` samples of
  every window, sort them, and telescope ``Σ n ln n`` over each run of equal values.
* ``"auto"``: numba for CPU tensors, torch otherwise.

:func:`local_contrast` and :func:`prepare_frames` take the same ``backend`` argument (a numba
kernel or torch ops, the same bytes either way). :mod:`mint_rl.entropy_reference` holds a slow
numpy reference of every step, written independently, for tests and benchmarks.

Example::

    >>> frames = torch.randint(0, 256, (2, 3, 84, 84), dtype=torch.uint8)
    >>> local_entropy(frames, size=3).shape
    torch.Size([2, 84, 84])
"""

from __future__ import annotations

import functools
import math
import os

import numba
import numpy as np
import torch
import torch.nn.functional as F

# numba's default OpenMP threading layer resets the OpenMP thread count that torch shares,
# and two spinning OpenMP pools on a small CPU made every later torch op up to 100× slower
# (measured: a 5 ms encoder forward became 0.5 s after one entropy call). numba's own
# "workqueue" layer keeps the pools apart. A user's NUMBA_THREADING_LAYER still wins.
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

__all__ = [
    "LocalEntropy",
    "conditional_entropy",
    "local_contrast",
    "local_entropy",
    "prepare_frames",
    "sharpen",
]

#: Fixed-point scale of the ``n ln n`` table (64-bit integers, 2^32 ≈ 4e9 steps per nat).
_FIXED_POINT_SCALE = float(2**32)
#: Inputs narrower than this are sharpened after resizing (MINT's rule for 64/84-px frames).
SHARPEN_WIDTH_THRESHOLD = 100
_BACKENDS = ("auto", "numba", "torch")


# ---------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------


def _check_byte_scale_frames(frames: torch.Tensor, name: str = "frames", integer_valued: bool = True) -> None:
    """Check a ``(B, C, H, W)`` tensor on the 0–255 scale (uint8 or integer-valued float)."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(frames).__name__}.")
    if frames.ndim != 4:
        raise ValueError(
            f"`{name}` must have shape (B, C, H, W) (rank 4), got shape {tuple(frames.shape)}. "
            "Add a batch dimension with `frames[None]`, or flatten clips (B, T, C, H, W) first."
        )
    if frames.shape[1] < 1:
        raise ValueError(f"`{name}` must have at least one channel, got shape {tuple(frames.shape)}.")
    if frames.dtype == torch.bool or frames.is_complex():
        raise TypeError(f"`{name}` must be an integer or floating tensor on the 0–255 scale, got {frames.dtype}.")
    frames = frames.detach()
    if frames.dtype == torch.uint8 or frames.numel() == 0:
        return
    if frames.is_floating_point() and not bool(torch.isfinite(frames).all()):
        raise ValueError(f"`{name}` contains NaN or infinite values.")
    lo, hi = float(frames.min()), float(frames.max())
    if lo < 0 or hi > 255:
        raise ValueError(
            f"`{name}` must hold values in 0..255, got min {lo} and max {hi}. "
            "Frames in [0, 1] go through `prepare_frames`, which scales them by 255."
        )
    if integer_valued and frames.is_floating_point() and not bool((frames == frames.round()).all()):
        raise ValueError(
            f"`{name}` must be integer-valued (256 unit bins on the 0–255 scale); "
            "round it, or pass raw frames through `prepare_frames`."
        )


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"`size` must be an int, got {type(size).__name__}.")
    if size < 3 or size % 2 == 0:
        raise ValueError(f"`size` must be odd and >= 3 (the window is centred on the pixel), got {size}.")


def _resolve_backend(backend: str, device: torch.device) -> str:
    """``"numba"`` or ``"torch"`` for ``backend`` (``"auto"``: numba for CPU tensors, torch otherwise)."""
    if backend not in _BACKENDS:
        raise ValueError(f"`backend` must be one of {_BACKENDS}, got {backend!r}.")
    if backend == "auto":
        return "numba" if device.type == "cpu" else "torch"
    return backend


def _to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """Integer-valued 0–255 frames as uint8 (no copy for uint8)."""
    if frames.dtype == torch.uint8:
        return frames
    return (frames.round() if frames.is_floating_point() else frames).to(torch.uint8)


# ---------------------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------------------


def _div_round_half_even(num, den):
    """``round(num / den)``, ties to even, for integer numpy arrays or torch tensors ``num >= 0, den > 0``."""
    q = num // den
    twice_r = 2 * (num - q * den)
    return q + (twice_r > den) + ((twice_r == den) & (q % 2 == 1))


@functools.lru_cache(maxsize=1)
def _contrast_lut() -> np.ndarray:
    """uint8 table ``ratio[x, smooth]`` of the local contrast, exact integer arithmetic."""
    x = np.arange(256, dtype=np.int64)[:, None]
    smooth = np.arange(256, dtype=np.int64)[None, :]
    sharp = np.minimum(_div_round_half_even(np.maximum(10 * x - 5 * smooth, 0), 4), 255)
    ratio = np.minimum(_div_round_half_even(255 * sharp, np.maximum(smooth, 1)), 255)
    return np.where(smooth > 0, ratio, 0).astype(np.uint8)


def _local_contrast_torch(x: torch.Tensor) -> torch.Tensor:
    """Local contrast of uint8 ``(B, C, H, W)`` with torch ops; see :func:`local_contrast`."""
    b, c, h, w = x.shape
    # window sums of integers < 2^24 are exact in float32
    window_sum = F.avg_pool2d(
        x.to(torch.float32).reshape(b * c, 1, h, w), 5, stride=1, padding=2, divisor_override=1
    ).reshape(b, c, h, w)
    # S / 25 is never a tie (2S = 25·odd is impossible), so round = floor((2S + 25) / 50)
    smooth = torch.div(2 * window_sum.to(torch.int32) + 25, 50, rounding_mode="floor")
    lut = torch.from_numpy(_contrast_lut()).to(x.device).flatten()
    return lut[x.to(torch.int64) * 256 + smooth]


@numba.njit(parallel=True, cache=True)
def _local_contrast_numba(x: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """Numba twin of :func:`_local_contrast_torch` for uint8 ``(B, C, H, W)``."""
    nb, nc, h, w = x.shape
    for job in numba.prange(nb * nc):
        b = job // nc
        c = job % nc
        img = x[b, c]
        # 5-wide horizontal window sums, then 5-tall vertical ones (zero padding)
        hsum = np.zeros((h, w), np.int32)
        for i in range(h):
            acc = 0
            for j in range(min(2, w)):
                acc += img[i, j]
            for j in range(w):
                if j + 2 < w:
                    acc += img[i, j + 2]
                if j - 3 >= 0:
                    acc -= img[i, j - 3]
                hsum[i, j] = acc
        vsum = np.zeros(w, np.int32)
        for i in range(min(2, h)):
            for j in range(w):
                vsum[j] += hsum[i, j]
        for i in range(h):
            if i + 2 < h:
                for j in range(w):
                    vsum[j] += hsum[i + 2, j]
            if i - 3 >= 0:
                for j in range(w):
                    vsum[j] -= hsum[i - 3, j]
            for j in range(w):
                # S / 25 is never a tie, so round(S / 25) = (2S + 25) // 50
                out[b, c, i, j] = lut[img[i, j], (2 * vsum[j] + 25) // 50]


def local_contrast(frames: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    r"""MINT's local-contrast normalisation, computed exactly in integer arithmetic.

    Per channel, on integer values ``x`` in 0..255 (every step rounded half-to-even, as
    ``torch.round`` does)::

        smooth = round(S / 25)                 S: 5×5 window sum, zero padding (avg_pool2d,
                                                  count_include_pad=True, divisor 25)
        sharp  = clamp(round(2.5·x − 1.25·smooth), 0, 255) = clamp(round((10x − 5·smooth) / 4), 0, 255)
        ratio  = clamp(round(255·sharp / smooth), 0, 255),   ratio = 0 where smooth = 0

    The authors divide by ``smooth + 1e-8`` in float32, where ``1e-8`` is below the float32
    resolution of any ``smooth >= 1`` (so it has no effect) and ``smooth = 0`` implies
    ``sharp = 0``; the formula above reproduces their float32 result bit for bit (tested).
    ``S / 25`` is never a tie, ``(10x − 5·smooth) / 4`` and ``255·sharp / smooth`` can be, and
    they are rounded to even. ``ratio`` depends only on ``(x, smooth)``, so it is read from a
    256×256 table built once with exact integer arithmetic. A uniform region of value ``x``,
    at least 2 px from the frame border, maps to one value (255 for ``x > 0``, 0 for
    ``x = 0``), so it carries zero entropy.

    :param frames: integer-valued frames ``(B, C, H, W)`` on the 0–255 scale, uint8 or float.
    :param backend: ``"numba"`` (CPU kernel; other devices go through the CPU), ``"torch"`` (torch ops,
        any device) or ``"auto"`` (numba for CPU tensors, torch otherwise). Both give the same bytes.
    :return: uint8 ``(B, C, H, W)`` on the input's device, the histogram input of :func:`local_entropy`.

    Example::

        >>> frames = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
        >>> torch.equal(local_contrast(frames, backend="torch"), local_contrast(frames, backend="numba"))
        True
    """
    backend = _resolve_backend(backend, frames.device if isinstance(frames, torch.Tensor) else torch.device("cpu"))
    _check_byte_scale_frames(frames)
    x = _to_uint8(frames.detach())
    if backend == "numba":
        out = np.empty(tuple(x.shape), np.uint8)
        _local_contrast_numba(np.ascontiguousarray(x.cpu().numpy()), _contrast_lut(), out)
        return torch.from_numpy(out).to(x.device)
    return _local_contrast_torch(x)


def _round_fraction(num: torch.Tensor, den: int) -> torch.Tensor:
    """uint8 ``clamp(round(num / den), 0, 255)``, ties to even, exact for integer-valued ``num``."""
    num = num.clamp(0, 255 * den).to(torch.int64)
    return _div_round_half_even(num, den).to(torch.uint8)


def _sharpen_fraction(num: torch.Tensor, den: int, factor: float) -> torch.Tensor:
    """:func:`sharpen` of the frames ``num / den`` (``num`` float64 ``(B, C, H, W)``).

    With integer-valued ``num`` and an integer ``factor`` every intermediate is an integer
    below 2^53, so the result is exact: the interior value is
    ``(13·factor·num + (1 − factor)·K) / (13·den)`` with ``K`` the integer-kernel window sum.
    """
    b, c, h, w = num.shape
    out = _round_fraction(num, den)
    if h <= 2 or w <= 2:
        return out
    kernel = torch.ones(1, 1, 3, 3, dtype=torch.float64, device=num.device)
    kernel[0, 0, 1, 1] = 5.0
    window_sum = F.conv2d(num.reshape(b * c, 1, h, w), kernel).reshape(b, c, h - 2, w - 2)
    inner = num[..., 1:-1, 1:-1]
    exact = float(factor).is_integer() and bool((num == num.round()).all())
    if exact:
        out[..., 1:-1, 1:-1] = _round_fraction(13.0 * factor * inner + (1.0 - factor) * window_sum, 13 * den)
    else:
        blended = (factor * inner + (1.0 - factor) * (window_sum / 13.0)) / den
        out[..., 1:-1, 1:-1] = blended.round().clamp_(0, 255).to(torch.uint8)
    return out


def sharpen(frames: torch.Tensor, factor: float = 10.0) -> torch.Tensor:
    r"""torchvision-style ``adjust_sharpness`` on the 0–255 scale, rounded to uint8.

    ``blurred`` is the frame convolved with ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` on
    interior pixels and the frame itself on the one-pixel border (torchvision's
    ``_blurred_degenerate_image``); the result is
    ``clamp(round(factor·x + (1 − factor)·blurred), 0, 255)`` (ties to even). This is
    torchvision's *float* path, which MINT uses (``adjust_sharpness(img / 255, 10) * 255``
    then ``round``): the blurred image is not rounded. (torchvision's uint8 path rounds
    ``blurred`` and truncates the blend.) Frames of height or width <= 2 are only rounded,
    as in torchvision. For integer-valued frames and an integer factor the result is
    computed exactly (integer arithmetic); otherwise in float64.

    :param frames: ``(B, C, H, W)`` on the 0–255 scale, uint8 or float (need not be integers).
    :param factor: sharpness factor >= 0; 1 returns the (rounded) input, 0 the blurred one.
    :return: uint8 ``(B, C, H, W)``.
    """
    _check_byte_scale_frames(frames, integer_valued=False)
    if not math.isfinite(factor) or factor < 0:
        raise ValueError(f"`factor` must be a finite number >= 0, got {factor}.")
    return _sharpen_fraction(frames.to(torch.float64), 1, factor)


def _bilinear_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Integer taps of a 1-D bilinear resize (``align_corners=False``, no antialiasing).

    Output ``d`` samples the input at ``src = max((d + 1/2)·n_in/n_out − 1/2, 0)``
    = ``max((2d + 1)·n_in − n_out, 0) / (2·n_out)``; it is
    ``(w0·x[i0] + w1·x[i1]) / (2·n_out)`` with integer weights ``w0 + w1 = 2·n_out``
    (the last index is repeated at the far edge, as in torch).
    """
    den = 2 * n_out
    src = np.maximum((2 * np.arange(n_out) + 1) * n_in - n_out, 0)
    i0 = np.minimum(src // den, n_in - 1)
    w1 = src - i0 * den
    i1 = np.minimum(i0 + 1, n_in - 1)
    as_tensor = lambda a, dtype: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return (
        as_tensor(i0, torch.int64),
        as_tensor(i1, torch.int64),
        as_tensor(den - w1, torch.float64),
        as_tensor(w1, torch.float64),
    )


def _resize_bilinear_fraction(x: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, int]:
    """Exact bilinear resize of integer-valued float64 ``x``: returns ``(num, den)``, frame = num / den.

    Equals ``F.interpolate(x, grid, mode="bilinear", align_corners=False, antialias=False)``
    up to float rounding, which matters: exact ties (for example halfway between two pixels)
    are common, and rounding them must not depend on the summation order or the device.
    """
    (h, w), (gh, gw) = x.shape[-2:], grid
    i0, i1, w0, w1 = _bilinear_taps(h, gh, x.device)
    x = x.index_select(-2, i0) * w0[:, None] + x.index_select(-2, i1) * w1[:, None]
    i0, i1, w0, w1 = _bilinear_taps(w, gw, x.device)
    x = x.index_select(-1, i0) * w0 + x.index_select(-1, i1) * w1
    return x, 4 * gh * gw


@numba.njit(parallel=True, cache=True)
def _prepare_numba(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, den: int, factor: int,
                   out: np.ndarray) -> None:  # pragma: no cover
    """Numba twin of the torch path of :func:`prepare_frames` for uint8 ``(B, C, H, W)``, in int64.

    ``rows (gh, 4)`` and ``cols (gw, 4)`` hold the bilinear taps ``i0, i1, w0, w1`` of each output
    row (column), so the resized frame is ``num / den`` with integer ``num``; with ``factor >= 0``
    the interior is sharpened as ``(13·factor·num + (1 − factor)·K) / (13·den)``, ``K`` the window
    sum with the ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]]`` kernel, as :func:`_sharpen_fraction`; every
    value is clamped to 0..255 and rounded half to even.
    """
    nb, nc, h, w = x.shape
    gh, gw = rows.shape[0], cols.shape[0]
    sharpen = factor >= 0 and gh > 2 and gw > 2
    for job in numba.prange(nb * nc):
        b = job // nc
        c = job % nc
        img = x[b, c]
        half = np.empty((gh, w), np.int64)  # rows resized
        for i in range(gh):
            i0, i1, w0, w1 = rows[i, 0], rows[i, 1], rows[i, 2], rows[i, 3]
            for j in range(w):
                half[i, j] = w0 * np.int64(img[i0, j]) + w1 * np.int64(img[i1, j])
        num = np.empty((gh, gw), np.int64)
        for i in range(gh):
            for j in range(gw):
                j0, j1, w0, w1 = cols[j, 0], cols[j, 1], cols[j, 2], cols[j, 3]
                num[i, j] = w0 * half[i, j0] + w1 * half[i, j1]
        for i in range(gh):
            for j in range(gw):
                v = num[i, j]
                d = den
                if sharpen and 0 < i < gh - 1 and 0 < j < gw - 1:
                    k = 4 * v
                    for di in range(i - 1, i + 2):
                        for dj in range(j - 1, j + 2):
                            k += num[di, dj]
                    v = 13 * factor * v + (1 - factor) * k
                    d = 13 * den
                v = min(max(v, 0), 255 * d)
                q = v // d
                twice_r = 2 * (v - q * d)
                if twice_r > d or (twice_r == d and q % 2 == 1):
                    q += 1
                out[b, c, i, j] = q


def _taps_table(n_in: int, n_out: int) -> tuple[np.ndarray, int]:
    """``(n_out, 4)`` int64 taps ``i0, i1, w0, w1`` of a 1-D bilinear resize and their denominator
    (the identity, denominator 1, when the size does not change)."""
    if n_in == n_out:
        i = np.arange(n_out, dtype=np.int64)
        return np.stack([i, i, np.ones_like(i), np.zeros_like(i)], axis=1), 1
    taps = _bilinear_taps(n_in, n_out, torch.device("cpu"))
    return np.stack([t.numpy().astype(np.int64) for t in taps], axis=1), 2 * n_out


def prepare_frames(
    frames: torch.Tensor, grid_size: tuple[int, int], sharpen_small: bool = True, backend: str = "auto"
) -> torch.Tensor:
    r"""Bring raw frames to the heatmap grid as MINT does before the entropy.

    1. scale to 0–255: float input in [0, 1] is multiplied by 255 and rounded, so ``x / 255``
       and uint8 ``x`` give identical results,
    2. bilinear resize to ``grid_size``, as ``F.interpolate(mode="bilinear",
       align_corners=False, antialias=False)`` but in exact rational arithmetic (skipped when
       the size already matches),
    3. if the *input* width is < 100 px and ``sharpen_small``: :func:`sharpen` with factor 10,
       applied to the unrounded resized frame, as the authors do; then round half-to-even
       (exactly: every step is a rational with a known denominator).

    The ``"numba"`` backend runs the three steps as one numba kernel in int64 arithmetic, the
    ``"torch"`` backend as torch ops in float64 holding the same integers. Both give the same
    bytes (tested).

    :param frames: ``(B, C, H, W)``, uint8 on 0–255 or float in [0, 1].
    :param grid_size: ``(height, width)`` of the heatmap grid.
    :param sharpen_small: apply MINT's sharpening to inputs narrower than 100 px.
    :param backend: ``"numba"`` (CPU kernel; other devices go through the CPU), ``"torch"``
        (torch ops, any device) or ``"auto"`` (numba for CPU tensors, torch otherwise).
    :return: uint8 ``(B, C, height, width)`` on the input's device.

    Example::

        >>> frames = torch.randint(0, 256, (2, 3, 84, 84), dtype=torch.uint8)
        >>> prepare_frames(frames, (64, 64)).shape
        torch.Size([2, 3, 64, 64])
    """
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"`frames` must be a torch.Tensor, got {type(frames).__name__}.")
    backend = _resolve_backend(backend, frames.device)
    if frames.ndim != 4:
        raise ValueError(f"`frames` must have shape (B, C, H, W) (rank 4), got shape {tuple(frames.shape)}.")
    if len(grid_size) != 2 or min(int(grid_size[0]), int(grid_size[1])) < 1:
        raise ValueError(f"`grid_size` must be (height, width) with positive entries, got {grid_size}.")
    frames = frames.detach()
    if frames.dtype == torch.uint8:
        x = frames
    elif frames.is_floating_point():
        if not bool(torch.isfinite(frames).all()):
            raise ValueError("`frames` contains NaN or infinite values.")
        if frames.numel() and (float(frames.min()) < 0 or float(frames.max()) > 1):
            raise ValueError(
                "float `frames` must lie in [0, 1] (uint8 frames are taken on the 0–255 scale), "
                f"got min {float(frames.min())} and max {float(frames.max())}."
            )
        x = (frames.to(torch.float64) * 255.0).round().to(torch.uint8)  # exact: integers 0..255
    else:
        raise TypeError(f"`frames` must be uint8 (0–255) or float in [0, 1], got {frames.dtype}.")
    grid = (int(grid_size[0]), int(grid_size[1]))
    sharpened = sharpen_small and frames.shape[-1] < SHARPEN_WIDTH_THRESHOLD
    if backend == "numba" and x.numel():  # the same integer arithmetic in one numba pass
        rows, den_h = _taps_table(x.shape[-2], grid[0])
        cols, den_w = _taps_table(x.shape[-1], grid[1])
        out = np.empty((*x.shape[:2], *grid), np.uint8)
        _prepare_numba(np.ascontiguousarray(x.cpu().numpy()), rows, cols, den_h * den_w, 10 if sharpened else -1, out)
        return torch.from_numpy(out).to(x.device)
    x = x.to(torch.float64)
    num, den = (x, 1) if tuple(x.shape[-2:]) == grid else _resize_bilinear_fraction(x, grid)
    if sharpened:
        return _sharpen_fraction(num, den, 10.0)
    return _round_fraction(num, den)


# ---------------------------------------------------------------------------------------
# entropy kernels
# ---------------------------------------------------------------------------------------


def _nlogn_fixed_point(n: int) -> np.ndarray:
    """``round(k·ln k · 2^32)`` for k = 0..n as int64 (k ln k = 0 for k = 0)."""
    k = np.arange(n + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = np.where(k > 0, k * np.log(np.maximum(k, 1.0)), 0.0)
    return np.round(vals * _FIXED_POINT_SCALE).astype(np.int64)


@numba.njit(parallel=True, cache=True)
def _entropy_numba(x: np.ndarray, size: int, table: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """Sliding-histogram local entropy of uint8 ``(B, C, H, W)`` into zeroed ``out (B, H, W)``."""
    nb, nc, h, w = x.shape
    r = size // 2
    n = size * size * nc
    full = table[n]
    scale = 1.0 / (n * 4294967296.0)
    rows = h - 2 * r
    for job in numba.prange(nb * rows):
        b = job // rows
        i = job % rows + r
        hist = np.zeros(256, np.int32)
        s = np.int64(0)
        for c in range(nc):
            for di in range(i - r, i + r + 1):
                for j in range(size):
                    v = x[b, c, di, j]
                    k = hist[v]
                    s += table[k + 1] - table[k]
                    hist[v] = k + 1
        out[b, i, r] = (full - s) * scale
        for j in range(r + 1, w - r):
            j_out = j - r - 1
            j_in = j + r
            for c in range(nc):
                for di in range(i - r, i + r + 1):
                    v = x[b, c, di, j_out]
                    k = hist[v]
                    s += table[k - 1] - table[k]
                    hist[v] = k - 1
                    v = x[b, c, di, j_in]
                    k = hist[v]
                    s += table[k + 1] - table[k]
                    hist[v] = k + 1
            out[b, i, j] = (full - s) * scale


def _entropy_torch(x: torch.Tensor, size: int, max_elements: int = 1 << 25) -> torch.Tensor:
    """Sort-and-count local entropy of uint8 ``(B, C, H, W)``; returns float32 ``(B, H, W)``."""
    nb, nc, h, w = x.shape
    r = size // 2
    n = size * size * nc
    ho, wo = h - 2 * r, w - 2 * r
    table = torch.from_numpy(_nlogn_fixed_point(n)).to(x.device)
    # telescoped increments: Σ_runs t[len] = Σ_samples (t[c] − t[c − 1]), c = rank in its run
    delta = table[1:] - table[:-1]
    out = torch.zeros(nb, h, w, dtype=torch.float32, device=x.device)
    chunk = max(1, max_elements // max(1, n * ho * wo))
    ranks = torch.arange(n, device=x.device)
    for start in range(0, nb, chunk):
        xb = x[start : start + chunk]
        m = xb.shape[0]
        # (m, L, C·R·R): the samples of every window (unfold needs float), sorted
        samples = F.unfold(xb.to(torch.float32), size).transpose(1, 2).to(torch.int16)
        samples = samples.sort(dim=-1).values
        is_start = torch.ones_like(samples, dtype=torch.bool)
        is_start[..., 1:] = samples[..., 1:] != samples[..., :-1]
        run_start = torch.where(is_start, ranks, torch.zeros_like(ranks)).cummax(dim=-1).values
        rank_in_run = ranks - run_start  # 0-based rank of each sample in its run of equal values
        s = delta[rank_in_run].sum(dim=-1)  # Σ n ln n in fixed point (int64, exact)
        ent = (table[n] - s).to(torch.float64) * (1.0 / (n * _FIXED_POINT_SCALE))
        out[start : start + m, r : r + ho, r : r + wo] = ent.view(m, ho, wo).to(torch.float32)
    return out


def local_entropy(
    frames: torch.Tensor, size: int = 3, preprocess: bool = True, backend: str = "auto"
) -> torch.Tensor:
    r"""Local entropy (nats) of every pixel, channels pooled into one 256-bin histogram.

    ``H(i, j) = −Σ_v p_v ln p_v`` over the ``size × size × C`` values around ``(i, j)``;
    the ``size // 2`` border is 0. See the module docstring for the full definition.

    :param frames: integer-valued frames ``(B, C, H, W)`` on the 0–255 scale (uint8 or
        float), already at the heatmap grid size (see :func:`prepare_frames`).
    :param size: odd window size R >= 3 (MINT's default 3; the ablations use 5 and 7).
    :param preprocess: apply :func:`local_contrast` first (MINT does).
    :param backend: ``"numba"`` (CPU kernel), ``"torch"`` (vectorised, for CUDA) or
        ``"auto"`` (numba on CPU, torch otherwise). All give the same values.
    :return: float32 ``(B, H, W)`` on the input's device, values in ``[0, ln(R·R·C)]``.

    Example::

        >>> e = local_entropy(torch.full((1, 3, 8, 8), 7, dtype=torch.uint8))
        >>> float(e.max())
        0.0
    """
    if backend not in _BACKENDS:
        raise ValueError(f"`backend` must be one of {_BACKENDS}, got {backend!r}.")
    _check_size(size)
    _check_byte_scale_frames(frames)
    h, w = frames.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"frames of size {h}×{w} are smaller than the {size}×{size} window.")
    with torch.no_grad():
        x = local_contrast(frames) if preprocess else _to_uint8(frames)
        if backend == "auto":
            backend = "numba" if x.device.type == "cpu" else "torch"
        if backend == "torch":
            return _entropy_torch(x, size)
        device = x.device
        x_np = np.ascontiguousarray(x.cpu().numpy())
        out = np.zeros((x_np.shape[0], h, w), np.float32)
        if x_np.shape[0]:
            _entropy_numba(x_np, size, _nlogn_fixed_point(size * size * x_np.shape[1]), out)
        return torch.from_numpy(out).to(device)


def conditional_entropy(entropy: torch.Tensor) -> torch.Tensor:
    r"""New information per frame: ``relu(H_t − H_{t−1})`` for t >= 1, zeros for t = 0.

    MINT writes it as ``max(H_t, H_{t−1}) − H_{t−1}`` (joint minus previous entropy).

    :param entropy: local entropy of consecutive frames, ``(B, T, H, W)``.
    :return: ``(B, T, H, W)``, same dtype and device.
    """
    if not isinstance(entropy, torch.Tensor) or entropy.ndim != 4:
        shape = tuple(entropy.shape) if isinstance(entropy, torch.Tensor) else type(entropy).__name__
        raise ValueError(f"`entropy` must be a (B, T, H, W) tensor of consecutive frames, got {shape}.")
    out = torch.zeros_like(entropy)
    out[:, 1:] = torch.relu(entropy[:, 1:] - entropy[:, :-1])
    return out


class LocalEntropy(torch.nn.Module):
    r"""Raw frames → local-entropy maps on the heatmap grid (no parameters, no gradient).

    ``forward(frames) = local_entropy(prepare_frames(frames, grid_size, sharpen), size,
    preprocess)``.

    :param grid_size: ``(height, width)`` of the heatmap grid.
    :param size: odd window size R >= 3.
    :param preprocess: apply the local-contrast normalisation.
    :param sharpen: sharpen inputs narrower than 100 px after resizing (MINT's rule).
    :param backend: see :func:`local_entropy`.

    Example::

        >>> layer = LocalEntropy((64, 64))
        >>> layer(torch.randint(0, 256, (4, 2, 3, 84, 84), dtype=torch.uint8)).shape
        torch.Size([4, 2, 64, 64])
    """

    def __init__(
        self,
        grid_size: tuple[int, int],
        size: int = 3,
        preprocess: bool = True,
        sharpen: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        _check_size(size)
        if backend not in _BACKENDS:
            raise ValueError(f"`backend` must be one of {_BACKENDS}, got {backend!r}.")
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))
        self.size = size
        self.preprocess = preprocess
        self.sharpen = sharpen
        self.backend = backend

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """:param frames: ``(B, C, H, W)`` or clips ``(B, T, C, H, W)``, uint8 or float in [0, 1].
        :return: float32 ``(B, h, w)`` or ``(B, T, h, w)``.
        """
        if frames.ndim == 5:
            b, t = frames.shape[:2]
            return self.forward(frames.flatten(0, 1)).unflatten(0, (b, t))
        prepared = prepare_frames(frames, self.grid_size, sharpen_small=self.sharpen)
        return local_entropy(prepared, self.size, preprocess=self.preprocess, backend=self.backend)

    def extra_repr(self) -> str:
        return (
            f"grid_size={self.grid_size}, size={self.size}, preprocess={self.preprocess}, "
            f"sharpen={self.sharpen}, backend={self.backend!r}"
        )
