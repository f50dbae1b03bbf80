"""The ``Keypoints`` record and the functional keypoint geometry of MINT.

Coordinate convention (used everywhere in mint-rl, defined in :mod:`mint_rl.coords`): a
keypoint is ``(x, y)``, x to the right, **y down**, both in ``[-1, 1]`` and **pixel-centre
aligned**: pixel column ``i`` of a ``W``-wide grid has its centre at ``x = (2 i + 1) / W - 1``
(PyTorch's ``align_corners=False``), so ``F.grid_sample(..., align_corners=False)`` samples
exactly at a keypoint.

Example::

    >>> maps = torch.zeros(1, 1, 4, 4); maps[0, 0, 1, 2] = 50.0
    >>> spatial_soft_argmax(maps).round(decimals=3)   # column 2, row 1 of a 4×4 grid
    tensor([[[ 0.2500, -0.2500]]])
"""

from __future__ import annotations

import functools

import math
from dataclasses import dataclass, fields
from typing import Optional

import torch
import torch.nn.functional as F

from mint_rl.coords import pixel_centres, to_pixel_1d

__all__ = [
    "Keypoints",
    "spatial_soft_argmax",
    "keypoint_readout",
    "gaussian_profiles",
    "gaussian_maps",
    "information_patches",
    "patch_radius_px",
    "patch_windows",
    "sample_features",
    "encode_in_chunks",
]


@dataclass
class Keypoints:
    """K keypoints per frame.

    :param coords: ``(B, K, 2)`` float, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(B, K)`` active status in [0, 1]; a keypoint is *active* when
        ``status > 0.5`` (one threshold everywhere).
    :param features: ``(B, K, F)`` per-keypoint features (F may be 0).
    :param heatmaps: ``(B, K, H', W')`` non-negative maps the coords came from, or None.
    """

    coords: torch.Tensor
    status: torch.Tensor
    features: torch.Tensor
    heatmaps: Optional[torch.Tensor] = None

    @property
    def num_keypoints(self) -> int:
        return self.coords.shape[-2]

    @property
    def active(self) -> torch.Tensor:
        """``(B, K)`` bool, ``status > 0.5``."""
        return self.status > 0.5

    def detach(self) -> "Keypoints":
        return Keypoints(**{f.name: _map(getattr(self, f.name), torch.Tensor.detach) for f in fields(self)})

    def to(self, device: torch.device | str) -> "Keypoints":
        return Keypoints(**{f.name: _map(getattr(self, f.name), lambda t: t.to(device)) for f in fields(self)})

    def reshape_batch(self, *shape: int) -> "Keypoints":
        """Reshape the leading batch dimension, e.g. ``(B*T, ...)`` → ``(B, T, ...)``."""
        def r(t: torch.Tensor, tail: int) -> torch.Tensor:
            return t.reshape(*shape, *t.shape[t.dim() - tail:])
        return Keypoints(
            coords=r(self.coords, 2), status=r(self.status, 1), features=r(self.features, 2),
            heatmaps=None if self.heatmaps is None else r(self.heatmaps, 3),
        )

    def as_vector(self) -> torch.Tensor:
        """``(B, K, 2 + 1 + F)``: coords, status, features concatenated per keypoint."""
        return torch.cat([self.coords, self.status.unsqueeze(-1), self.features], dim=-1)


def _map(value, fn):
    return None if value is None else fn(value)


def spatial_soft_argmax(maps: torch.Tensor, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Expected (x, y) of the spatial softmax of each map.

    :param maps: ``(B, K, H, W)`` logits.
    :param temperature: softmax temperature (scalar); logits are ``maps / temperature``.
    :return: ``(B, K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    """
    if maps.dim() != 4:
        raise ValueError(f"spatial_soft_argmax expects maps of shape (B, K, H, W), got {tuple(maps.shape)}")
    b, k, h, w = maps.shape
    probs = torch.softmax((maps / temperature).reshape(b, k, h * w), dim=-1)
    xs, ys = pixel_centres(h, w, device=maps.device, dtype=maps.dtype)
    grid = torch.stack([xs.repeat(h), ys.repeat_interleave(w)], dim=-1)  # (H·W, 2): (x, y) of each pixel, row-major
    return probs @ grid  # expectation of (x, y) in one matrix product


def _spatial_view(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A 3-D view of ``(B, K, H, W)`` maps: ``(B, K, H·W)`` (spatial dim 2) for contiguous maps,
    ``(B, H·W, K)`` (spatial dim 1, no copy) for channels-last ones."""
    b, k, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return x.permute(0, 2, 3, 1).reshape(b, h * w, k), 1
    return x.reshape(b, k, h * w), 2


def _maps_view(flat: torch.Tensor, dim: int, shape: torch.Size) -> torch.Tensor:
    """Inverse of :func:`_spatial_view`: the ``(B, K, H, W)`` view of ``flat``."""
    b, k, h, w = shape
    if dim == 1:
        return flat.reshape(b, h, w, k).permute(0, 3, 1, 2)
    return flat.reshape(b, k, h, w)


@functools.lru_cache(maxsize=16)
def _centre_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(2, H·W)``: (x, y) of each pixel centre of an ``H × W`` grid, row-major; built once per grid and kept
    (read only; the readout runs at every env step, where building it took about half the softmax's time)."""
    with torch.inference_mode(False):  # a normal tensor even when first asked for under inference mode
        xs, ys = pixel_centres(h, w, device=device, dtype=dtype)
        return torch.stack([xs.repeat(h), ys.repeat_interleave(w)])


class _Readout(torch.autograd.Function):
    """See :func:`keypoint_readout`."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, temperature: torch.Tensor):
        b, k, h, w = logits.shape
        maps = F.softplus(logits)
        flat, dim = _spatial_view(maps)
        probs = torch.softmax(flat / temperature, dim=dim)
        # (2, H·W): (x, y) of each pixel, row-major; not cached while torch.compile / export traces (fake tensors)
        grid = (_centre_grid.__wrapped__ if torch.compiler.is_compiling() else _centre_grid)(h, w, logits.device,
                                                                                             logits.dtype)
        if dim == 1:
            coords = torch.matmul(grid, probs).transpose(1, 2)  # (2, HW) @ (B, HW, K): no copy of probs
        else:
            coords = torch.matmul(probs, grid.t())
        peaks, argmax = flat.max(dim=dim)  # (B, K)
        ctx.save_for_backward(logits, maps, probs, coords, peaks, argmax, temperature, grid)
        ctx.dim = dim
        ctx.set_materialize_grads(False)
        return maps, coords, peaks

    @staticmethod
    def backward(ctx, g_maps, g_coords, g_peaks):
        logits, maps, probs, coords, peaks, argmax, temperature, grid = ctx.saved_tensors
        dim = ctx.dim
        flat, _ = _spatial_view(maps)
        g_flat = None  # gradient w.r.t. the maps, in the (B, ·, ·) view
        g_temperature = None
        if g_coords is not None:
            # coords = Σ_p probs_p grid_p, probs = softmax(maps / T): d/d(maps_p / T) = probs_p (grid_p − coords) · g
            if dim == 1:
                g_probs = torch.matmul(grid.t(), g_coords.transpose(1, 2))  # (B, HW, K)
            else:
                g_probs = torch.matmul(g_coords, grid)  # (B, K, HW)
            # softmax's own backward kernel, as autograd would call it: probs (g − Σ probs g)
            g_flat = torch.ops.aten._softmax_backward_data(g_probs, probs, dim, probs.dtype)
            if ctx.needs_input_grad[1]:  # d(maps / T)/dT = −maps / T²
                g_temperature = -torch.mul(g_flat, flat).sum() / (temperature * temperature)
            g_flat.div_(temperature)
        if g_peaks is not None:  # amax's backward: the peak's gradient, shared evenly between tied maxima
            if g_flat is None:
                g_flat = torch.zeros_like(flat)
            ties = flat == peaks.unsqueeze(dim)
            if int(torch.count_nonzero(ties)) == peaks.numel():  # no ties (the rule): one pixel per map
                g_flat.scatter_add_(dim, argmax.unsqueeze(dim), g_peaks.unsqueeze(dim))
            else:
                g_flat.add_(ties * (g_peaks.unsqueeze(dim) / ties.sum(dim=dim, keepdim=True)))
        g_all = None if g_flat is None else _maps_view(g_flat, dim, maps.shape)
        if g_maps is not None:
            g_all = g_maps if g_all is None else g_all + g_maps
        g_logits = None
        if g_all is not None and ctx.needs_input_grad[0]:
            g_logits = torch.ops.aten.softplus_backward(g_all, logits, 1.0, 20.0)
        return g_logits, g_temperature


def keypoint_readout(logits: torch.Tensor,
                     temperature: torch.Tensor | float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keypoint maps, coordinates and map peaks from keypoint logits, in one autograd node.

    The same as ``maps = F.softplus(logits)``, ``coords = spatial_soft_argmax(maps, temperature)``
    and ``peaks = maps.flatten(2).amax(-1)``, values and gradients (ties in the peak share its
    gradient, as ``amax`` does). Channels-last logits are read in place.

    :param logits: ``(B, K, H, W)``.
    :param temperature: softmax temperature > 0, a float or a scalar tensor (which may require grad).
    :return: maps ``(B, K, H, W)`` ≥ 0 (the memory format of ``logits``), coords ``(B, K, 2)``
        (x, y) in [-1, 1], y down, pixel-centre aligned, and peaks ``(B, K)``.

    Example::

        >>> logits = torch.full((1, 1, 4, 4), -20.0); logits[0, 0, 1, 2] = 60.0
        >>> maps, coords, peaks = keypoint_readout(logits)
        >>> coords.round(decimals=3), peaks
        (tensor([[[ 0.2500, -0.2500]]]), tensor([[60.]]))
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"keypoint_readout expects logits of shape (B, K, H, W), got {shape}")
    temperature = torch.as_tensor(temperature, dtype=logits.dtype, device=logits.device)
    return _Readout.apply(logits, temperature)


def gaussian_profiles(coords: torch.Tensor, grid_size: tuple[int, int],
                      std_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The row and column profiles of :func:`gaussian_maps`: ``G = gy[..., :, None] · gx[..., None, :]``.

    :param coords: ``(..., K, 2)`` (x, y) in [-1, 1].
    :param grid_size: ``(H, W)`` of the grid.
    :param std_px: std in grid pixels.
    :return: ``gy (..., K, H)`` and ``gx (..., K, W)``, ``exp(-d² / std²)`` of the distance in grid
        pixels from each row (column) centre to the keypoint.
    """
    h, w = grid_size
    xs, ys = pixel_centres(h, w, device=coords.device, dtype=coords.dtype)
    # [-1, 1] distance → grid pixels: one grid pixel spans 2 / W in x and 2 / H in y.
    dx = (xs - coords[..., 0:1]) * (w / 2)  # (..., K, W)
    dy = (ys - coords[..., 1:2]) * (h / 2)  # (..., K, H)
    gx = torch.exp(-(dx**2) / std_px**2)
    gy = torch.exp(-(dy**2) / std_px**2)
    return gy, gx


def gaussian_maps(coords: torch.Tensor, grid_size: tuple[int, int], std_px: float) -> torch.Tensor:
    """MINT's Gaussian map per keypoint, ``G(p) = exp(-‖p − μ‖² / std²)`` (std², not 2σ²).

    Distances are measured in grid pixels. The map is separable, so it is built as the outer
    product of a row and a column profile (``O(K·(H+W))`` exponentials instead of ``K·H·W``;
    see :func:`gaussian_profiles`).

    :param coords: ``(..., K, 2)`` (x, y) in [-1, 1].
    :param grid_size: ``(H, W)`` of the output grid.
    :param std_px: std in grid pixels.
    :return: ``(..., K, H, W)`` in (0, 1].
    """
    gy, gx = gaussian_profiles(coords, grid_size, std_px)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def information_patches(gaussians: torch.Tensor, lam: float = 3.5, eta: float = 0.1) -> torch.Tensor:
    """Information patch ``P = clamp(λ · relu(G − η), 0, 1)``: a flat disc fading at its rim.

    :param gaussians: ``(..., H, W)`` Gaussian maps.
    :return: same shape, in [0, 1].
    """
    return torch.clamp(lam * torch.relu(gaussians - eta), 0.0, 1.0)


def patch_radius_px(std_px: float, eta: float) -> float:
    """Half-width (grid pixels) of the square that holds a whole information patch: ``std·sqrt(ln(1/η))``.

    ``P > 0`` needs ``G > η``; since ``G = gy · gx`` with both factors ≤ 1, that needs
    ``|dx| < std·sqrt(ln(1/η))`` and the same for ``|dy|``. Infinite for ``η ≤ 0`` (the patch
    then covers the whole grid).
    """
    if eta <= 0:
        return math.inf
    return std_px * math.sqrt(max(math.log(1 / eta), 0.0))


def _window_starts(centre_px: torch.Tensor, size: int, half: float) -> tuple[torch.Tensor, int]:
    """First index and width of the window of ``size`` pixels holding every pixel whose centre lies
    strictly within ``half`` of ``centre_px`` (pixel coordinates, pixel i centred at i)."""
    width = size if not math.isfinite(half) else min(size, int(math.ceil(2 * half)) + 1)
    # clamp: any far-off value clips the same
    low = centre_px.detach().clamp(-2.0 * size - 0.5, 3.0 * size - 0.5) - half
    start = torch.floor(low).to(torch.long).clamp_(0, size - width)
    return start, width


def patch_windows(coords: torch.Tensor, grid_size: tuple[int, int],
                  radius_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows and columns of a square window around each keypoint that holds its whole patch.

    Every grid pixel within ``radius_px`` (in x and in y) of the keypoint is inside its window;
    windows are shifted to lie inside the grid, and are the whole grid when it is smaller.
    The window gets no gradient (it only says where to look).

    :param coords: ``(..., K, 2)`` (x, y) in [-1, 1].
    :param grid_size: ``(H, W)``.
    :param radius_px: half-width in grid pixels, e.g. :func:`patch_radius_px` (``inf``: the whole grid).
    :return: ``rows (..., K, h)`` and ``cols (..., K, w)``, consecutive int64 indices, ``h ≤ H``, ``w ≤ W``.
    """
    h, w = grid_size
    # a little slack so that rounding in the Gaussian never puts a nonzero patch pixel outside
    half = radius_px * (1 + 1e-5) + 1e-3 if math.isfinite(radius_px) else radius_px
    row0, wh = _window_starts(to_pixel_1d(coords[..., 1], h), h, half)
    col0, ww = _window_starts(to_pixel_1d(coords[..., 0], w), w, half)
    rows = row0.unsqueeze(-1) + torch.arange(wh, device=coords.device)
    cols = col0.unsqueeze(-1) + torch.arange(ww, device=coords.device)
    return rows, cols


def sample_features(feature_maps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample feature maps at keypoints.

    :param feature_maps: ``(B, F, H, W)``.
    :param coords: ``(B, K, 2)`` (x, y) in [-1, 1], pixel-centre aligned.
    :return: ``(B, K, F)``.
    """
    grid = coords.unsqueeze(2)  # (B, K, 1, 2)
    out = F.grid_sample(feature_maps, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(-1).transpose(1, 2)


@torch.no_grad()
def encode_in_chunks(encoder: torch.nn.Module, frames: torch.Tensor, batch_size: int = 256) -> Keypoints:
    """Run any keypoint encoder in eval mode over ``frames (N, C, H, W)`` in chunks, without
    gradient, restoring its train/eval mode; heatmaps are dropped to save memory."""
    was_training = encoder.training
    encoder.eval()
    try:
        parts = [encoder(frames[i:i + batch_size]) for i in range(0, frames.shape[0], batch_size)]
    finally:
        encoder.train(was_training)
    return Keypoints(
        coords=torch.cat([p.coords for p in parts]),
        status=torch.cat([p.status for p in parts]),
        features=torch.cat([p.features for p in parts]),
    )
