"""MINT's information losses (MINT_METHOD §3), as functions of entropy maps and keypoints.

Shapes: a batch of clips has B clips of T consecutive frames, K keypoints, on an
``(H, W)`` heatmap grid. Entropy maps ``H`` are ``(B, T, H, W)`` (no gradient: they depend
only on the frames); keypoint quantities carry the gradient:

- coords ``(B, T, K, 2)``, (x, y) in [-1, 1], y down, pixel-centre aligned;
- status ``(B, T, K)`` in [0, 1];
- patches ``P`` and active patches ``A = s · P`` ``(B, T, K, H, W)``.

Each term function returns one value per (clip, frame), ``(B, T)``; frames where a temporal
term has no value (t = 0 unless wrap-around) hold 0 and are excluded by ``MintLoss``'s
averaging. ``MintLoss`` sums the terms with the weights of a :class:`MintConfig`.

The term functions take dense ``(N, K, H, W)`` maps and write the formulas as they read.
``MintLoss`` computes the same values and gradients without them (issue 14; tested against a
frozen copy of the dense version in ``tests/reference_loss.py``): an information patch is 0
beyond ``std·sqrt(ln(1/η))`` of its keypoint, so each keypoint's Gaussian, patch and transport
deficit are built on a small window around it (:func:`~mint_rl.keypoints.patch_windows`,
about 10×10 pixels instead of 42×42); the union mask adds the windows into one map per frame;
where neither of a keypoint's two patches (at t and t − 1) reaches, its transport deficit is
``relu(H_t − (H_{t−1} + κ Hc_t))`` for every keypoint, summed once per frame; and the
overlap's ``Σ_k G_k`` is one ``(H, K) @ (K, W)`` product of the separable Gaussian profiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mint_rl.config import MintConfig
from mint_rl.keypoints import Keypoints, gaussian_profiles, information_patches, patch_radius_px, patch_windows

__all__ = [
    "EPS",
    "union_mask",
    "masked_entropy_loss",
    "masked_conditional_entropy_loss",
    "transport_reconstruction_loss",
    "movement_loss",
    "overlap_loss",
    "status_loss",
    "unclipped_patch_area",
    "previous_frames",
    "MintLoss",
    "LossOutput",
]

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


def _window_patches(gy: torch.Tensor, gx: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, lam: float,
                    eta: float) -> torch.Tensor:
    """Information patches on windows: ``(..., K, h, w)`` from the Gaussian profiles ``gy (..., K, H)``,
    ``gx (..., K, W)`` and the window ``rows (..., K, h)``, ``cols (..., K, w)``; the same values as
    :func:`information_patches` of :func:`gaussian_maps` at those pixels."""
    g = gy.gather(-1, rows).unsqueeze(-1) * gx.gather(-1, cols).unsqueeze(-2)
    return information_patches(g, lam, eta)


def _gather_windows(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pixels of ``maps (B, T, H, W)`` at the flat ``index (B, T, K, h, w)`` → ``(B, T, K, h, w)``."""
    b, t = index.shape[:2]
    return maps.flatten(-2).gather(-1, index.reshape(b, t, -1)).reshape(index.shape)


def _union_mask_of_windows(active: torch.Tensor, index: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """:func:`union_mask` of active patches given on windows: ``(B, T, K, h, w)`` at the flat pixel
    ``index`` of the same shape → ``(B, T, H, W)``."""
    b, t = active.shape[:2]
    total = active.new_zeros(b, t, grid[0] * grid[1]).scatter_add(-1, index.reshape(b, t, -1),
                                                                   active.reshape(b, t, -1))
    return torch.clamp(total, 0.0, 1.0).reshape(b, t, *grid)


def _transport_deficits(entropy: torch.Tensor, entropy_prev: torch.Tensor, active: torch.Tensor,
                        active_prev: torch.Tensor, index: torch.Tensor, index_prev: torch.Tensor,
                        rows: torch.Tensor, cols: torch.Tensor, rows_prev: torch.Tensor, cols_prev: torch.Tensor,
                        active_prev_here: torch.Tensor, kappa: float) -> torch.Tensor:
    """``Σ_p relu(H_t − R_k)`` of :func:`transport_reconstruction_loss` per keypoint, from windows.

    Where neither the keypoint's patch at t nor at t − 1 reaches, the deficit is the same for
    every keypoint, ``relu(H_t − (H_{t−1} + κ Hc_t))``: it is summed once per frame over the grid,
    and each keypoint corrects that sum on the pixels of its two windows, with the same per-pixel
    expression as the dense formula (so the same values, kinks and gradients).

    :param entropy: ``(B, T', H, W)`` H_t.   :param entropy_prev: ``(B, T', H, W)`` H_{t−1}.
    :param active: ``(B, T', K, h, w)`` A^t on the keypoint's window at t (flat pixel ``index``, rows, cols).
    :param active_prev: ``(B, T', K, h, w)`` A^{t−1} on its window at t − 1 (``index_prev``, ...).
    :param active_prev_here: ``(B, T', K, h, w)`` A^{t−1} on the window at t.
    :return: ``(B, T', K)``.
    """
    cond = torch.relu(entropy - entropy_prev)
    outside = torch.relu(entropy - (entropy_prev + kappa * cond))  # the deficit with A^t = A^{t−1} = 0
    base = outside.sum(dim=(-2, -1))[..., None]  # (B, T', 1)

    # the window at t: both patches may be nonzero there
    h, hp = _gather_windows(entropy, index), _gather_windows(entropy_prev, index)
    hc, out = _gather_windows(cond, index), _gather_windows(outside, index)
    source = hp * (1 - active) * (1 - active_prev_here)
    target = h * active + kappa * hc * (1 - active)
    here = (torch.relu(h - (source + target)) - out).sum(dim=(-2, -1))

    # the window at t − 1, on pixels outside the window at t (where A^t = 0)
    h, hp = _gather_windows(entropy, index_prev), _gather_windows(entropy_prev, index_prev)
    hc, out = _gather_windows(cond, index_prev), _gather_windows(outside, index_prev)
    in_rows = (rows_prev >= rows[..., :1]) & (rows_prev <= rows[..., -1:])
    in_cols = (cols_prev >= cols[..., :1]) & (cols_prev <= cols[..., -1:])
    elsewhere = ~(in_rows.unsqueeze(-1) & in_cols.unsqueeze(-2))
    deficit_prev = torch.relu(h - (hp * (1 - active_prev) + kappa * hc))
    there = ((deficit_prev - out) * elsewhere).sum(dim=(-2, -1))
    return base + here + there


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


class MintLoss(nn.Module):
    """Total MINT loss of a batch of clips.

    ``L = mean_{b,t}[w_ME L_ME + w_O L_O + w_S (1 − L_ME) L_S]
          + mean_{b, t≥1}[w_MCE L_MCE + w_IT (L_rec + m L_mov)]``

    The switches of :class:`MintConfig` reproduce the authors' code instead: wrap-around at
    t = 0, the status factor left attached, temporal terms averaged over all t, and |P| as
    the area of keypoint 0's first-frame patch in the batch's first clip.

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
        wrap, kappa = cfg.wrap_around, cfg.kappa

        # Every per-keypoint map is built only on a small window around its keypoint that holds its
        # whole patch (outside it the patch and its gradient are exactly 0); see the module docstring.
        gy, gx = gaussian_profiles(coords, grid, cfg.gaussian_std_px)  # (B, T, K, H), (B, T, K, W)
        rows, cols = patch_windows(coords, grid, patch_radius_px(cfg.gaussian_std_px, cfg.patch_eta))
        patches = _window_patches(gy, gx, rows, cols, cfg.patch_lambda, cfg.patch_eta)  # (B, T, K, h, w)
        active = status[..., None, None] * patches
        index = rows[..., :, None] * grid[1] + cols[..., None, :]  # flat pixel index of every window pixel
        mask = _union_mask_of_windows(active, index, grid)  # (B, T, H, W)

        # frames with temporal terms: t >= 1, or every t with the wrap-around (previous of 0 is T - 1)
        now = (lambda x: x) if wrap else (lambda x: x[:, 1:])  # noqa: E731
        prev = (lambda x: torch.roll(x, shifts=1, dims=1)) if wrap else (lambda x: x[:, :-1])  # noqa: E731

        def pad_t0(x: torch.Tensor) -> torch.Tensor:  # (B, T') -> (B, T): t = 0 holds 0 without wrap-around
            return x if wrap else torch.cat([torch.zeros_like(x[:, :1]), x], dim=1)

        l_me = masked_entropy_loss(entropy, mask)  # (B, T)
        # MCE is 0 at t = 0, with or without wrap-around
        cond_mce = torch.relu(entropy[:, 1:] - entropy[:, :-1])
        l_mce = torch.cat([torch.zeros_like(l_me[:, :1]), masked_conditional_entropy_loss(cond_mce, mask[:, 1:])],
                          dim=1)

        if cfg.authors_patch_area:
            # one value for the batch: keypoint 0's patch in frame 0 of the first clip, attached, as the
            # authors' code (``heatmap_size = heatmaps[0, 0, 0].sum()``)
            area = patches[0, 0, 0].sum()
        else:
            area = self.patch_area
        deficit = _transport_deficits(
            now(entropy), prev(entropy), now(active), prev(active), now(index), prev(index), now(rows), now(cols),
            prev(rows), prev(cols),
            prev(status)[..., None, None] * _window_patches(prev(gy), prev(gx), now(rows), now(cols),
                                                            cfg.patch_lambda, cfg.patch_eta),
            kappa)  # (B, T', K)
        l_rec = pad_t0((deficit / area).mean(dim=-1))
        l_mov = pad_t0(movement_loss(now(coords), prev(coords), now(status), prev(status)))
        l_it = l_rec + cfg.movement_weight * l_mov
        # overlap: Σ_k G_k = Σ_k gy_k ⊗ gx_k is one (H, K) @ (K, W) product per frame
        piled = (gy.transpose(-1, -2) @ gx).flatten(-2).amax(dim=-1)  # (B, T)
        l_o = torch.relu(piled - cfg.overlap_beta) / gy.shape[-2]
        l_s = status_loss(status)
        coverage = 1 - l_me
        status_factor = coverage if cfg.attach_status_factor else coverage.detach()

        per_frame = cfg.w_me * l_me + cfg.w_overlap * l_o + cfg.w_status * status_factor * l_s
        # without wrap-around t = 0 has no previous frame: its temporal terms hold 0 (pad_t0)
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
