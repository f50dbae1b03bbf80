"""A frozen copy of MINT's loss as it was before the speed-up of issue 14 (commit 604d04f).

The test ``tests/test_loss_speedup.py`` checks that :class:`mint_rl.losses.MintLoss` gives
the same values and gradients as this copy. It is the code of ``mint_rl/losses.py`` and of
``pixel_centres``, ``gaussian_maps`` and ``information_patches`` from ``mint_rl/keypoints.py``
at that commit, verbatim (one full ``(B, T, K, H, W)`` tensor per step of the formulas).
Do not edit it to follow later changes: it is the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mint_rl.config import MintConfig
from mint_rl.keypoints import Keypoints

__all__ = ["ReferenceMintLoss", "gaussian_maps", "information_patches", "transport_reconstruction_loss",
           "overlap_loss", "union_mask"]


def pixel_centres(height: int, width: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates of a grid in [-1, 1].

    :return: ``xs (W,)`` and ``ys (H,)`` with ``xs[i] = (2 i + 1) / W - 1``.
    """
    xs = (2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1
    return xs, ys


def gaussian_maps(coords: torch.Tensor, grid_size: tuple[int, int], std_px: float) -> torch.Tensor:
    """MINT's Gaussian map per keypoint, ``G(p) = exp(-‖p − μ‖² / std²)`` (std², not 2σ²).

    Distances are measured in grid pixels. The map is separable, so it is built as the outer
    product of a row and a column profile (``O(K·(H+W))`` exponentials instead of ``K·H·W``).

    :param coords: ``(..., K, 2)`` (x, y) in [-1, 1].
    :param grid_size: ``(H, W)`` of the output grid.
    :param std_px: std in grid pixels.
    :return: ``(..., K, H, W)`` in (0, 1].
    """
    h, w = grid_size
    xs, ys = pixel_centres(h, w, device=coords.device, dtype=coords.dtype)
    # [-1, 1] distance → grid pixels: one grid pixel spans 2 / W in x and 2 / H in y.
    dx = (xs - coords[..., 0:1]) * (w / 2)  # (..., K, W)
    dy = (ys - coords[..., 1:2]) * (h / 2)  # (..., K, H)
    gx = torch.exp(-(dx**2) / std_px**2)
    gy = torch.exp(-(dy**2) / std_px**2)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def information_patches(gaussians: torch.Tensor, lam: float = 3.5, eta: float = 0.1) -> torch.Tensor:
    """Information patch ``P = clamp(λ · relu(G − η), 0, 1)``: a flat disc fading at its rim.

    :param gaussians: ``(..., H, W)`` Gaussian maps.
    :return: same shape, in [0, 1].
    """
    return torch.clamp(lam * torch.relu(gaussians - eta), 0.0, 1.0)


EPS = 1e-6


def union_mask(active_patches: torch.Tensor) -> torch.Tensor:
    """``M = clamp(Σ_k A_k, 0, 1)``: ``(..., K, H, W)`` → ``(..., H, W)``."""
    return torch.clamp(active_patches.sum(dim=-3), 0.0, 1.0)


def masked_entropy_loss(entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``L_ME = Σ_p H (1 − M) / (Σ_p H + ε)``: the fraction of the frame's entropy left uncovered.

    :param entropy: ``(..., H, W)`` local entropy.
    :param mask: ``(..., H, W)`` union of active patches in [0, 1].
    :return: ``(...)`` in [0, 1]: 0 when every bit of entropy is covered, 1 when none is.
    """
    return (entropy * (1 - mask)).sum(dim=(-2, -1)) / (entropy.sum(dim=(-2, -1)) + EPS)


def masked_conditional_entropy_loss(cond_entropy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``L_MCE``: the same fraction for the conditional entropy (the new information)."""
    return masked_entropy_loss(cond_entropy, mask)


def transport_reconstruction_loss(entropy: torch.Tensor, entropy_prev: torch.Tensor, cond_entropy: torch.Tensor,
                                  active: torch.Tensor, active_prev: torch.Tensor, kappa: float,
                                  patch_area: torch.Tensor | float) -> torch.Tensor:
    """Information-transport reconstruction term ``L_rec``.

    Per keypoint k: source ``S = H_{t−1}(1 − A^t)(1 − A^{t−1})``, target
    ``T = H_t A^t + κ Hc_t (1 − A^t)``, reconstruction ``R = S + T``;
    ``L_rec = mean_k Σ_p relu(H_t − R) / |P|``.

    :param entropy: ``(N, H, W)`` H_t.   :param entropy_prev: ``(N, H, W)`` H_{t−1}.
    :param cond_entropy: ``(N, H, W)`` Hc_t.
    :param active: ``(N, K, H, W)`` A^t.  :param active_prev: ``(N, K, H, W)`` A^{t−1}.
    :param kappa: κ.  :param patch_area: |P|, a scalar or ``(N,)``.
    :return: ``(N,)``.
    """
    h, hp, hc = entropy.unsqueeze(-3), entropy_prev.unsqueeze(-3), cond_entropy.unsqueeze(-3)
    source = hp * (1 - active) * (1 - active_prev)
    target = h * active + kappa * hc * (1 - active)
    deficit = torch.relu(h - (source + target)).sum(dim=(-2, -1))  # (N, K)
    area = patch_area if not torch.is_tensor(patch_area) or patch_area.dim() == 0 else patch_area.unsqueeze(-1)
    return (deficit / area).mean(dim=-1)


def movement_loss(coords: torch.Tensor, coords_prev: torch.Tensor, status: torch.Tensor,
                  status_prev: torch.Tensor) -> torch.Tensor:
    """``L_mov = Σ_k s^t s^{t−1} ‖c^t − c^{t−1}‖`` with distances on the [0, 1] scale.

    :param coords: ``(N, K, 2)`` in [-1, 1] (halved here to the authors' [0, 1] scale).
    :param status: ``(N, K)``.
    :return: ``(N,)``.
    """
    dist = torch.linalg.vector_norm(coords - coords_prev, dim=-1) / 2
    return (status * status_prev * dist).sum(dim=-1)


def overlap_loss(gaussians: torch.Tensor, beta: float) -> torch.Tensor:
    """``L_O = relu(max_p Σ_k G_k(p) − β) / K``: positive only where more than β Gaussians pile up.

    :param gaussians: ``(N, K, H, W)`` raw Gaussian maps.
    :return: ``(N,)``.
    """
    k = gaussians.shape[-3]
    return torch.relu(gaussians.sum(dim=-3).flatten(-2).amax(dim=-1) - beta) / k


def status_loss(status: torch.Tensor) -> torch.Tensor:
    """``L_S = mean_k s_k``: ``(N, K)`` → ``(N,)``."""
    return status.mean(dim=-1)


def unclipped_patch_area(std_px: float, lam: float, eta: float) -> float:
    """Area (in grid pixels) of one information patch centred on a pixel, far from any border."""
    r = int(math.ceil(std_px * math.sqrt(math.log(1 / max(eta, 1e-12))))) + 2
    d = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / std_px**2)
    return float(information_patches(g, lam, eta).sum())


def previous_frames(x: torch.Tensor, wrap_around: bool) -> torch.Tensor:
    """The previous frame's value for every t along dim 1: ``x[:, t−1]``.

    At t = 0 it is ``x[:, T−1]`` with ``wrap_around`` (the authors' quirk) and ``x[:, 0]``
    otherwise (a placeholder; those entries are masked out).
    """
    if wrap_around:
        return torch.roll(x, shifts=1, dims=1)
    return torch.cat([x[:, :1], x[:, :-1]], dim=1)


_FINITE_HINTS = {
    "coords": "the encoder's output diverged or the inputs hold NaN: check the frames, lower config.lr "
              "or set config.grad_clip",
    "status": "the encoder's output diverged or the inputs hold NaN: check the frames, lower config.lr "
              "or set config.grad_clip",
    "entropy": "compute it from the frames with mint_rl.trainer.make_entropy(config)",
}


def _check_finite(**tensors: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the first tensor holding NaN or ±inf (one device sync for all of them).

    :param tensors: the tensors by the name the message gives them (``coords``, ``status``, ``entropy``).
    """
    device = next(iter(tensors.values())).device
    finite = torch.stack([torch.isfinite(x).all().to(device) for x in tensors.values()]).tolist()
    for (name, x), ok in zip(tensors.items(), finite):
        if not ok:
            where = "keypoints." + name if name in ("coords", "status") else name
            raise ValueError(f"MintLoss: {where} {tuple(x.shape)} holds NaN or inf "
                             f"({int((~torch.isfinite(x)).sum())} value(s)); {_FINITE_HINTS[name]}")


@dataclass
class LossOutput:
    """The total loss (with gradient) and every term, detached, for logging."""

    total: torch.Tensor
    terms: dict[str, float]


class ReferenceMintLoss(nn.Module):
    """Total MINT loss of a batch of clips.

    ``L = mean_{b,t}[w_ME L_ME + w_O L_O + w_S (1 − L_ME) L_S]
          + mean_{b, t≥1}[w_MCE L_MCE + w_IT (L_rec + m L_mov)]``

    The switches of :class:`MintConfig` reproduce the authors' code instead: wrap-around at
    t = 0, the status factor left attached, temporal terms averaged over all t, and |P| as
    the area of keypoint 0's first-frame patch.

    :param config: weights and constants.
    """

    def __init__(self, config: MintConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_area = unclipped_patch_area(config.gaussian_std_px, config.patch_lambda, config.patch_eta)

    def forward(self, keypoints: Keypoints, entropy: torch.Tensor) -> LossOutput:
        """
        :param keypoints: a clip batch: coords ``(B, T, K, 2)``, status ``(B, T, K)``.
        :param entropy: ``(B, T, H, W)`` local entropy of the clip frames on the heatmap grid
            (``(H, W) = config.grid_size``).
        :raises ValueError: for shapes that do not fit, an entropy grid other than ``config.grid_size``,
            or NaN/inf in the coords, status or entropy (the message names the tensor).
        """
        cfg = self.config
        coords, status = keypoints.coords, keypoints.status
        if entropy.dim() != 4 or coords.dim() != 4 or status.dim() != 3:
            raise ValueError("MintLoss expects clip tensors: entropy (B, T, H, W), coords (B, T, K, 2), status "
                             f"(B, T, K); got {tuple(entropy.shape)}, {tuple(coords.shape)}, {tuple(status.shape)}")
        b, t = entropy.shape[:2]
        if tuple(coords.shape[:2]) != (b, t) or tuple(status.shape[:2]) != (b, t):
            raise ValueError(f"keypoints (B, T) = {tuple(coords.shape[:2])} do not match entropy (B, T) = {(b, t)}")
        if t < 2:
            raise ValueError(f"clips need at least 2 frames for the temporal terms, got T = {t}")
        grid = tuple(entropy.shape[-2:])
        if grid != tuple(cfg.grid_size):
            raise ValueError(f"entropy maps are on a {grid} grid but config.grid_size is {tuple(cfg.grid_size)}: "
                             "compute the entropy on the config's grid, e.g. with mint_rl.trainer.make_entropy(config) "
                             "or LocalEntropy(config.grid_size, config.entropy_window)")
        _check_finite(coords=coords, status=status, entropy=entropy)
        entropy = entropy.to(coords.dtype)

        gauss = gaussian_maps(coords, grid, cfg.gaussian_std_px)  # (B, T, K, H, W)
        patches = information_patches(gauss, cfg.patch_lambda, cfg.patch_eta)
        active = status[..., None, None] * patches
        mask = union_mask(active)  # (B, T, H, W)

        entropy_prev = previous_frames(entropy, cfg.wrap_around)
        cond = torch.relu(entropy - entropy_prev)  # Hc_t
        if not cfg.wrap_around:
            cond = torch.cat([torch.zeros_like(cond[:, :1]), cond[:, 1:]], dim=1)
        cond_mce = torch.cat([torch.zeros_like(cond[:, :1]), cond[:, 1:]], dim=1)  # MCE is 0 at t = 0

        l_me = masked_entropy_loss(entropy, mask)  # (B, T)
        l_mce = masked_conditional_entropy_loss(cond_mce, mask)

        flat = lambda x: x.reshape(b * t, *x.shape[2:])  # noqa: E731
        unflat = lambda x: x.reshape(b, t)  # noqa: E731
        if cfg.authors_patch_area:
            area = patches[0, 0, 0].sum()  # the batch's first clip, for every clip, attached, as the authors' code
        else:
            area = self.patch_area
        l_rec = unflat(transport_reconstruction_loss(
            flat(entropy), flat(entropy_prev), flat(cond), flat(active),
            flat(previous_frames(active, cfg.wrap_around)), cfg.kappa, area))
        l_mov = unflat(movement_loss(flat(coords), flat(previous_frames(coords, cfg.wrap_around)),
                                     flat(status), flat(previous_frames(status, cfg.wrap_around))))
        l_it = l_rec + cfg.movement_weight * l_mov
        l_o = unflat(overlap_loss(flat(gauss), cfg.overlap_beta))
        l_s = status_loss(status)
        coverage = 1 - l_me
        status_factor = coverage if cfg.attach_status_factor else coverage.detach()

        per_frame = cfg.w_me * l_me + cfg.w_overlap * l_o + cfg.w_status * status_factor * l_s
        if not cfg.wrap_around:  # t = 0 has no previous frame: its temporal terms are empty (0)
            first = torch.ones(t, device=entropy.device, dtype=l_it.dtype)
            first[0] = 0
            l_rec, l_mov, l_it = l_rec * first, l_mov * first, l_it * first
        temporal = cfg.w_mce * l_mce + cfg.w_it * l_it
        # Temporal terms are averaged over the frames that have them (t >= 1) unless the
        # authors' all-t averaging is asked for; with wrap-around every t has them.
        t_from = 0 if (cfg.average_all_t or cfg.wrap_around) else 1
        total = per_frame.mean() + temporal[:, t_from:].mean()

        def tmean(x: torch.Tensor) -> float:
            return float(x.detach()[:, t_from:].mean())

        terms = {
            "loss/total": float(total.detach()),
            "loss/masked_entropy": float(l_me.detach().mean()),
            "loss/masked_conditional_entropy": tmean(l_mce),
            "loss/transport": tmean(l_it),
            "loss/transport_reconstruction": tmean(l_rec),
            "loss/movement": tmean(l_mov),
            "loss/overlap": float(l_o.detach().mean()),
            "loss/status": float(l_s.detach().mean()),
            "keypoints/coverage": float(coverage.detach().mean()),
            "keypoints/active_fraction": float((status.detach() > 0.5).float().mean()),
        }
        return LossOutput(total=total, terms=terms)
