"""MINT losses: hand-built cases with known answers, and equality with the authors' formulas."""

import math

import pytest
import torch

from mint_rl.config import MintConfig
from mint_rl.coords import pixel_centres
from mint_rl.keypoints import Keypoints, gaussian_maps, information_patches
from mint_rl.losses import (
    MintLoss,
    masked_entropy_loss,
    overlap_loss,
    transport_reconstruction_loss,
    union_mask,
    unclipped_patch_area,
)

GRID = (32, 32)


def px_to_coord(px: float, size: int = 32) -> float:
    return (2 * px + 1) / size - 1


def blob(cx_px: float, cy_px: float, radius: float = 2.5, grid=GRID) -> torch.Tensor:
    """An entropy map that is 1 on a small disc around a pixel and 0 elsewhere."""
    ys, xs = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    return (((xs - cx_px) ** 2 + (ys - cy_px) ** 2) <= radius**2).float()


def cfg(**kw) -> MintConfig:
    base = dict(num_keypoints=2, image_size=(64, 64), grid_size=GRID, gaussian_std=0.2)
    base.update(kw)
    return MintConfig(**base)


def patches_at(coords: torch.Tensor, config: MintConfig) -> torch.Tensor:
    return information_patches(gaussian_maps(coords, config.grid_size, config.gaussian_std_px),
                               config.patch_lambda, config.patch_eta)


# ---------------------------------------------------------------- coverage (L_ME)
def test_coverage_loss_zero_when_covered_and_one_when_all_inactive():
    c = cfg(num_keypoints=1)
    entropy = blob(16, 10)[None]  # (1, H, W)
    coords = torch.tensor([[[px_to_coord(16), px_to_coord(10)]]])
    p = patches_at(coords, c)  # (1, 1, H, W)
    covered = masked_entropy_loss(entropy, union_mask(1.0 * p))
    uncovered = masked_entropy_loss(entropy, union_mask(0.0 * p))
    assert covered.item() == pytest.approx(0.0, abs=1e-6)
    assert uncovered.item() == pytest.approx(1.0, abs=1e-5)
    # a keypoint elsewhere covers nothing of the blob
    far = patches_at(torch.tensor([[[px_to_coord(2), px_to_coord(28)]]]), c)
    assert masked_entropy_loss(entropy, union_mask(far)).item() == pytest.approx(1.0, abs=1e-5)


def test_patch_is_flat_disc_of_documented_radius():
    c = cfg(num_keypoints=1, gaussian_std=9 / 32)  # std 9 px on a 32 grid: the authors' patch
    p = patches_at(torch.tensor([[[px_to_coord(16), px_to_coord(16)]]]), c)[0, 0]
    assert p[16, 16] == 1.0
    assert p[16, 16 + 8] == 1.0  # flat disc radius ≈ 9 px
    assert 0 < p[16, 16 + 12] < 1  # fading rim
    assert p[16, 16 + 15] == 0  # gone by ≈ 14 px
    assert unclipped_patch_area(9.0, 3.5, 0.1) == pytest.approx(float(
        information_patches(gaussian_maps(torch.tensor([[0.0, 0.0]]) + torch.tensor([[1 / 64, 1 / 64]]),
                                          (64, 64), 9.0), 3.5, 0.1).sum()), rel=1e-5)


# ---------------------------------------------------------------- transport
@pytest.mark.parametrize("kappa", [0.0, 0.5, 0.9])
def test_transport_rewards_moving_with_the_object(kappa):
    c = cfg(num_keypoints=1, gaussian_std=0.15)
    h_prev, h_now = blob(8, 16)[None], blob(20, 16)[None]  # object moves 12 px right
    cond = torch.relu(h_now - h_prev)
    at = lambda x: patches_at(torch.tensor([[[px_to_coord(x), px_to_coord(16)]]]), c)  # noqa: E731
    area = unclipped_patch_area(c.gaussian_std_px, c.patch_lambda, c.patch_eta)
    moved = transport_reconstruction_loss(h_now, h_prev, cond, at(20), at(8), kappa, area)
    stayed = transport_reconstruction_loss(h_now, h_prev, cond, at(8), at(8), kappa, area)
    assert moved.item() == pytest.approx(0.0, abs=1e-6)
    # left behind: the new information (1 − κ)·Hc outside the patch is not explained
    assert stayed.item() == pytest.approx((1 - kappa) * float(h_now.sum()) / area, rel=1e-5)
    assert moved.item() < stayed.item()


def test_total_loss_lower_with_keypoints_on_objects_than_on_background():
    c = cfg(num_keypoints=2, gaussian_std=0.1)
    loss = MintLoss(c)
    t0 = blob(8, 8) + blob(24, 24)
    t1 = blob(10, 8) + blob(24, 22)
    entropy = torch.stack([t0, t1])[None]  # (1, 2, H, W)
    on = torch.tensor([[[8, 8], [24, 24]], [[10, 8], [24, 22]]], dtype=torch.float32)
    off = torch.tensor([[[8, 24], [24, 8]], [[8, 24], [24, 8]]], dtype=torch.float32)
    to_kp = lambda px: Keypoints(coords=((2 * px + 1) / 32 - 1)[None], status=torch.ones(1, 2, 2),  # noqa: E731
                                 features=torch.zeros(1, 2, 2, 0))
    l_on, l_off = loss(to_kp(on), entropy), loss(to_kp(off), entropy)
    assert l_on.terms["loss/masked_entropy"] < 0.05 < 0.9 < l_off.terms["loss/masked_entropy"]
    assert l_on.total.item() < l_off.total.item()


# ---------------------------------------------------------------- overlap
def test_overlap_zero_when_separated_and_positive_when_piled_up():
    c = cfg(num_keypoints=6, gaussian_std=0.05)
    xs = torch.linspace(-0.8, 0.8, 6)
    separated = torch.stack([xs, torch.zeros(6)], dim=-1)[None]
    g_sep = gaussian_maps(separated, GRID, c.gaussian_std_px)
    assert overlap_loss(g_sep, beta=4.0).item() == 0.0
    piled = torch.zeros(1, 6, 2) + torch.tensor([1 / 32, 1 / 32])  # all on one pixel centre
    g_pile = gaussian_maps(piled, GRID, c.gaussian_std_px)
    assert overlap_loss(g_pile, beta=4.0).item() == pytest.approx((6 - 4) / 6, rel=1e-5)
    assert overlap_loss(g_pile[:, :4], beta=4.0).item() == pytest.approx(0.0, abs=1e-5)


# ---------------------------------------------------------------- status
def test_status_term_detached_by_default_and_attached_with_flag():
    c = cfg(num_keypoints=2)
    entropy = torch.rand(1, 2, *GRID)
    for attach in (False, True):
        loss = MintLoss(c.replace(attach_status_factor=attach, w_me=0, w_mce=0, w_it=0, w_overlap=0))
        coords = torch.zeros(1, 2, 2, 2, requires_grad=True)
        status = torch.full((1, 2, 2), 0.7)
        out = loss(Keypoints(coords=coords, status=status, features=torch.zeros(1, 2, 2, 0)), entropy)
        out.total.backward()
        # coords only influence the status term through the coverage factor
        has_grad = coords.grad is not None and coords.grad.abs().sum() > 0
        assert has_grad == attach


def test_gradients_flow_through_masks_and_status_only():
    from mint_rl.encoder import KeypointEncoder

    c = cfg(num_keypoints=4, image_size=(32, 32), grid_size=(16, 16))
    enc = KeypointEncoder(c)
    frames = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    kp = enc(frames).reshape_batch(2, 2)
    coords = kp.coords.detach().requires_grad_(True)
    status = kp.status.detach().requires_grad_(True)
    entropy = torch.rand(2, 2, 16, 16)
    out = MintLoss(c)(Keypoints(coords=coords, status=status, features=kp.features), entropy)
    out.total.backward()
    assert coords.grad.abs().sum() > 0 and status.grad.abs().sum() > 0
    assert not entropy.requires_grad
    # and through the real encoder to its parameters
    out = MintLoss(c)(enc(frames).reshape_batch(2, 2), entropy)
    out.total.backward()
    grads = [p.grad for p in enc.backbone.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_all_inactive_gives_unit_coverage_loss():
    c = cfg(num_keypoints=3)
    out = MintLoss(c)(Keypoints(coords=torch.zeros(2, 3, 3, 2), status=torch.zeros(2, 3, 3),
                                features=torch.zeros(2, 3, 3, 0)), torch.rand(2, 3, *GRID) + 0.1)
    assert out.terms["loss/masked_entropy"] == pytest.approx(1.0, abs=1e-5)
    assert out.terms["keypoints/coverage"] == pytest.approx(0.0, abs=1e-5)


def test_rejects_short_clips_and_mismatched_shapes():
    loss = MintLoss(cfg())
    kp = Keypoints(coords=torch.zeros(2, 1, 2, 2), status=torch.ones(2, 1, 2), features=torch.zeros(2, 1, 2, 0))
    with pytest.raises(ValueError, match="at least 2 frames"):
        loss(kp, torch.rand(2, 1, *GRID))
    kp = Keypoints(coords=torch.zeros(2, 3, 2, 2), status=torch.ones(2, 3, 2), features=torch.zeros(2, 3, 2, 0))
    with pytest.raises(ValueError, match="do not match"):
        loss(kp, torch.rand(3, 3, *GRID))


# ---------------------------------------------------------------- authors' formulas, literally
def authors_reference(coords, status, entropy, c: MintConfig):
    """MINT's total loss written out loop by loop with every quirk of the authors' code:
    wrap-around at t = 0, |P| from keypoint 0's first-frame patch in the batch's first clip
    (``heatmaps[0, 0, 0].sum()``, one value for every clip), the status factor attached,
    temporal terms averaged over all t."""
    b_, t_, k_, _ = coords.shape
    h, w = entropy.shape[-2:]
    xs, ys = pixel_centres(h, w, dtype=coords.dtype)
    px, py = torch.meshgrid(xs, ys, indexing="xy")  # (H, W)
    std = c.gaussian_std_px
    totals = []
    area = None
    for b in range(b_):
        G = torch.zeros(t_, k_, h, w, dtype=coords.dtype)
        for t in range(t_):
            for k in range(k_):
                dx = (px - coords[b, t, k, 0]) * w / 2
                dy = (py - coords[b, t, k, 1]) * h / 2
                G[t, k] = torch.exp(-(dx**2 + dy**2) / std**2)
        P = torch.clamp(c.patch_lambda * torch.relu(G - c.patch_eta), 0, 1)
        A = status[b][:, :, None, None] * P
        M = torch.clamp(A.sum(1), 0, 1)
        if area is None:  # the first clip's, for the whole batch
            area = P[0, 0].sum()
        for t in range(t_):
            p = (t - 1) % t_
            H, Hp = entropy[b, t], entropy[b, p]
            Hc = torch.relu(H - Hp)
            me = (H * (1 - M[t])).sum() / (H.sum() + 1e-6)
            mce = torch.tensor(0.0, dtype=coords.dtype) if t == 0 else (Hc * (1 - M[t])).sum() / (Hc.sum() + 1e-6)
            rec = 0.0
            mov = 0.0
            for k in range(k_):
                S = Hp * (1 - A[t, k]) * (1 - A[p, k])
                T = H * A[t, k] + c.kappa * Hc * (1 - A[t, k])
                rec = rec + torch.relu(H - (S + T)).sum() / area
                d = coords[b, t, k] - coords[b, p, k]
                mov = mov + status[b, t, k] * status[b, p, k] * torch.sqrt((d**2).sum()) / 2
            it = rec / k_ + c.movement_weight * mov
            ov = torch.relu(G[t].sum(0).max() - c.overlap_beta) / k_
            st = status[b, t].mean()
            totals.append(c.w_me * me + c.w_mce * mce + c.w_it * it + c.w_overlap * ov
                          + c.w_status * (1 - me) * st)
    return torch.stack(totals).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mint_loss_equals_authors_formulas_with_their_switches(seed):
    g = torch.Generator().manual_seed(seed)
    c = cfg(num_keypoints=3, grid_size=(12, 14), gaussian_std=0.25, wrap_around=True, attach_status_factor=True,
            average_all_t=True, authors_patch_area=True, kappa=0.9, overlap_beta=1.5)
    coords = (torch.rand(2, 3, 3, 2, generator=g) * 1.6 - 0.8).double().requires_grad_(True)
    status = torch.rand(2, 3, 3, generator=g).double().requires_grad_(True)
    entropy = (torch.rand(2, 3, 12, 14, generator=g) * 3).double()
    ours = MintLoss(c)(Keypoints(coords=coords, status=status, features=coords.new_zeros(2, 3, 3, 0)), entropy)
    ref = authors_reference(coords, status, entropy, c)
    assert ours.total.item() == pytest.approx(ref.item(), rel=1e-9, abs=1e-9)
    g_ours = torch.autograd.grad(ours.total, (coords, status))
    g_ref = torch.autograd.grad(ref, (coords, status))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_authors_patch_area_is_the_first_clips_for_the_whole_batch():
    """With authors_patch_area, |P| comes from clip 0 only, so the batch loss depends on the order of its clips
    when clip 0's keypoint 0 sits at the border (its patch clipped) in one clip and not in the other; with the
    constant area (our default) the order does not matter."""
    g = torch.Generator().manual_seed(3)
    coords = (torch.rand(2, 3, 2, 2, generator=g) * 1.0 - 0.5).double()
    coords[0, 0, 0] = torch.tensor([-1.0, -1.0], dtype=torch.float64)  # a corner: a quarter of the patch
    status = torch.ones(2, 3, 2, dtype=torch.float64)
    entropy = (torch.rand(2, 3, 16, 16, generator=g) * 3).double()

    def total(c, order):
        cs = coords[order]
        return MintLoss(c)(Keypoints(coords=cs, status=status, features=cs.new_zeros(2, 3, 2, 0)),
                           entropy[order]).total.item()

    for authors in (True, False):
        c = cfg(num_keypoints=2, grid_size=(16, 16), gaussian_std=0.25, authors_patch_area=authors)
        forward, backward = total(c, [0, 1]), total(c, [1, 0])
        if authors:
            assert forward != pytest.approx(backward, rel=1e-3)
        else:
            assert forward == pytest.approx(backward, rel=1e-12)


def test_default_switches_drop_t0_from_temporal_terms():
    c = cfg(num_keypoints=2)
    g = torch.Generator().manual_seed(3)
    coords = torch.rand(2, 3, 2, 2, generator=g) * 2 - 1
    status = torch.rand(2, 3, 2, generator=g)
    entropy = torch.rand(2, 3, *GRID, generator=g)
    kp = Keypoints(coords=coords, status=status, features=torch.zeros(2, 3, 2, 0))
    base = MintLoss(c)(kp, entropy).total.item()
    # changing frame 0's keypoints relative to the last frame must not matter through wrap-around:
    # with wrap_around on, moving the last frame's keypoints changes the t = 0 transport term.
    moved = kp.coords.clone()
    moved[:, -1] = -moved[:, -1]
    kp2 = Keypoints(coords=moved, status=status, features=kp.features)
    wrap = MintLoss(c.replace(wrap_around=True))
    d_wrap = wrap(kp2, entropy).terms["loss/movement"] - wrap(kp, entropy).terms["loss/movement"]
    assert abs(d_wrap) > 1e-4
    assert math.isfinite(base)
