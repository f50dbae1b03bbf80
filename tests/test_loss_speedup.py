"""The windowed MintLoss equals the frozen dense one (tests/reference_loss.py) in value and gradient."""

import itertools

import pytest
import torch

from mint_rl.config import MintConfig
from mint_rl.keypoints import Keypoints, gaussian_maps, information_patches, patch_radius_px, patch_windows
from mint_rl.losses import MintLoss
from tests.reference_loss import ReferenceMintLoss

pytestmark = pytest.mark.usefixtures("one_thread")


def random_clips(config: MintConfig, b: int, t: int, seed: int, dtype=torch.float32):
    """Random keypoints with the hard cases in it: saturated status (exactly 0 and 1, and a hair
    inside), keypoints on the border, in a corner and off the grid, a pile-up (overlap term
    active), a keypoint that jumps across the grid; entropy with zero regions and ties."""
    g = torch.Generator().manual_seed(seed)
    k = config.num_keypoints
    h, w = config.grid_size
    coords = (torch.rand(b, t, k, 2, generator=g) * 2.2 - 1.1).to(dtype)
    coords[0, :, 0] = torch.tensor([-1.0, -1.0], dtype=dtype)  # corner
    coords[0, :, 1] = torch.tensor([1.0, 0.3], dtype=dtype)  # right border
    coords[0, :, 2] = torch.tensor([1 - 1 / w, -1 + 1 / h], dtype=dtype)  # last pixel centres
    coords[0, :, 3] = torch.tensor([-3.0, 2.5], dtype=dtype)  # off the grid
    coords[1, :, :5] = coords[1, :, :1] + 0.01 * torch.randn(t, 5, 2, generator=g).to(dtype)  # a pile-up
    coords[1, 1:, 5] = -coords[1, :-1, 5]  # jumps across the grid every frame
    status = torch.rand(b, t, k, generator=g).to(dtype)
    status[0, :, 4:8] = 1.0
    status[0, :, 8:10] = 0.0
    status[1, :, 6] = 1 - 1e-7
    status[1, :, 7] = 1e-7
    if b > 2:
        status[2] = torch.sigmoid(torch.randn(t, k, generator=g) * 30).to(dtype)  # mostly saturated
    entropy = torch.rand(b, t, h, w, generator=g) * 3.3
    entropy[..., : h // 3, :] = 0.0  # a flat region: no information
    entropy[:, 1:, h // 3: h // 2] = entropy[:, :1, h // 3: h // 2]  # static texture: H_t = H_{t-1}
    return coords, status, entropy.to(dtype)


def loss_and_grads(loss_fn, coords, status, entropy):
    c = coords.clone().requires_grad_(True)
    s = status.clone().requires_grad_(True)
    out = loss_fn(Keypoints(coords=c, status=s, features=c.new_zeros(*c.shape[:3], 0)), entropy)
    g_c, g_s = torch.autograd.grad(out.total, (c, s))
    return out, g_c, g_s


def assert_same(config: MintConfig, coords, status, entropy, tol: float):
    new, g_c, g_s = loss_and_grads(MintLoss(config), coords, status, entropy)
    ref, r_c, r_s = loss_and_grads(ReferenceMintLoss(config), coords, status, entropy)
    torch.testing.assert_close(new.total, ref.total, rtol=tol, atol=tol)
    for key, value in ref.terms.items():
        assert new.terms[key] == pytest.approx(value, rel=tol, abs=tol), key
    for got, want in ((g_c, r_c), (g_s, r_s)):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * float(want.abs().max()))
    return ref.terms


SWITCHES = list(itertools.product([False, True], repeat=3))  # wrap_around, authors_patch_area, average_all_t


@pytest.mark.parametrize("image", [64, 84])
@pytest.mark.parametrize("wrap, authors_area, all_t", SWITCHES)
def test_equals_reference_at_both_grids(image, wrap, authors_area, all_t):
    config = MintConfig(num_keypoints=16, image_size=(image, image), wrap_around=wrap,
                        authors_patch_area=authors_area, average_all_t=all_t, overlap_beta=2.0)
    coords, status, entropy = random_clips(config, b=4, t=3, seed=image + 8 * wrap + 4 * authors_area + all_t)
    terms = assert_same(config, coords, status, entropy, tol=1e-5)
    assert terms["loss/overlap"] > 0 and terms["loss/movement"] > 0 and terms["loss/transport_reconstruction"] > 0


@pytest.mark.parametrize("seed", range(3))
def test_equals_reference_in_float64_to_rounding(seed):
    config = MintConfig(num_keypoints=16, image_size=(84, 84), overlap_beta=2.0, attach_status_factor=True)
    coords, status, entropy = random_clips(config, b=3, t=3, seed=seed, dtype=torch.float64)
    assert_same(config, coords, status, entropy, tol=1e-10)


@pytest.mark.parametrize("changes", [
    dict(kappa=0.0), dict(kappa=1.0), dict(movement_weight=0.0, w_overlap=0.0, w_status=0.0),
    dict(w_mce=0.0, w_it=0.0), dict(patch_lambda=1.0, patch_eta=0.3),
    dict(patch_eta=0.0),  # the patch never reaches 0: the window is the whole grid
    dict(gaussian_std=0.3),  # a patch wider than the grid: the window is the whole grid
    dict(grid_size=(20, 27), gaussian_std=0.1),  # not square
])
@pytest.mark.parametrize("t", [2, 4])
def test_equals_reference_for_other_settings(changes, t):
    config = MintConfig(num_keypoints=10, image_size=(64, 64), **changes)
    coords, status, entropy = random_clips(config, b=3, t=t, seed=t)
    assert_same(config, coords, status, entropy, tol=1e-5)


def test_patch_windows_hold_every_nonzero_patch_pixel():
    g = torch.Generator().manual_seed(0)
    for (h, w), std, eta in [((32, 32), 2.14, 0.1), ((42, 42), 2.81, 0.1), ((17, 40), 4.5, 0.05), ((8, 9), 6.0, 0.1)]:
        coords = torch.rand(2000, 2, generator=g) * 2.4 - 1.2
        coords[:8] = torch.tensor([[-1, -1], [1, 1], [-1, 1], [1, -1], [0, 0], [1 / w, 1 / h], [-3, 0], [0, 5]])
        patches = information_patches(gaussian_maps(coords, (h, w), std), 3.5, eta)  # (N, H, W)
        rows, cols = patch_windows(coords, (h, w), patch_radius_px(std, eta))
        assert rows.min() >= 0 and rows.max() < h and cols.min() >= 0 and cols.max() < w
        inside = torch.zeros_like(patches, dtype=torch.bool)
        for i in range(coords.shape[0]):
            inside[i, rows[i, 0]: rows[i, -1] + 1, cols[i, 0]: cols[i, -1] + 1] = True
        assert not (patches[~inside] > 0).any()
