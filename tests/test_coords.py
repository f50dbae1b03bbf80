"""The coordinate convention (mint_rl/coords.py): pixel-centre alignment, round trips, numpy and torch alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mint_rl.coords import (
    normalised_to_pixel,
    pixel_centres,
    pixel_index,
    pixel_index_1d,
    pixel_to_normalised,
    pixels_per_unit,
    to_normalised_1d,
    to_pixel_1d,
    units_per_pixel,
)

SIZES = [(48, 64), (21, 37), (84, 84), (1, 3)]


@pytest.mark.parametrize("size", SIZES)
def test_pixel_centres_are_aligned(size: tuple[int, int]) -> None:
    """Pixel 0's centre ↦ -1 + 1/W, the last pixel's ↦ 1 - 1/W, the frame's edges ↦ ±1."""
    h, w = size
    np.testing.assert_allclose(pixel_to_normalised([0, 0], size), [-1 + 1 / w, -1 + 1 / h])
    np.testing.assert_allclose(pixel_to_normalised([w - 1, h - 1], size), [1 - 1 / w, 1 - 1 / h])
    np.testing.assert_allclose(pixel_to_normalised([-0.5, h - 0.5], size), [-1, 1])
    np.testing.assert_allclose(pixel_to_normalised([w - 0.5, -0.5], size), [1, -1])
    xs, ys = pixel_centres(h, w, dtype=torch.float64)
    np.testing.assert_allclose(xs.numpy(), -1 + (2 * np.arange(w) + 1) / w)
    np.testing.assert_allclose(ys.numpy(), -1 + (2 * np.arange(h) + 1) / h)
    assert xs[0].item() == pytest.approx(-1 + 1 / w)


def test_pixel_centres_match_grid_sample_align_corners_false() -> None:
    """``F.grid_sample(align_corners=False)`` reads pixel (i, j) exactly at its normalised centre."""
    image = torch.arange(5 * 7, dtype=torch.float64).reshape(1, 1, 5, 7)
    xs, ys = pixel_centres(5, 7, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)[None]  # (1, H, W, 2)
    sampled = F.grid_sample(image, grid, mode="bilinear", align_corners=False)
    torch.testing.assert_close(sampled, image)


@pytest.mark.parametrize("size", SIZES)
def test_round_trips(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 90, size=(5, 7, 2))
    np.testing.assert_allclose(normalised_to_pixel(pixel_to_normalised(points, size), size), points, atol=1e-12)
    normalised = rng.uniform(-1.5, 1.5, size=(4, 2))
    np.testing.assert_allclose(pixel_to_normalised(normalised_to_pixel(normalised, size), size), normalised,
                               atol=1e-12)
    t = torch.from_numpy(normalised).float()
    torch.testing.assert_close(pixel_to_normalised(normalised_to_pixel(t, size), size), t)


def test_numpy_and_torch_agree_and_keep_dtype_and_kind() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, size=(3, 6, 2))
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        a = normalised_to_pixel(xy.astype(dtype), (30, 40))
        b = normalised_to_pixel(torch.from_numpy(xy.astype(dtype)), (30, 40))
        assert isinstance(a, np.ndarray) and a.dtype == dtype
        assert isinstance(b, torch.Tensor) and b.dtype == tdtype
        np.testing.assert_array_equal(a, b.numpy())
        c = pixel_to_normalised(a, (30, 40))
        d = pixel_to_normalised(b, (30, 40))
        assert c.dtype == dtype and d.dtype == tdtype
        np.testing.assert_array_equal(c, d.numpy())
    # integer pixels and lists become float64 (numpy)
    assert pixel_to_normalised(np.array([[1, 2]]), 8).dtype == np.float64
    assert pixel_to_normalised([1, 2], 8).dtype == np.float64


def test_the_formulas_are_the_documented_ones() -> None:
    """Bit for bit: ``(2x + 1)/W - 1``, ``((x + 1) W - 1)/2`` (= ``(x + 1) W/2 - 0.5``), ``floor((x + 1) W/2)``."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.2, 1.2, 10_000)
    for w in (7, 32, 42, 84, 160):
        np.testing.assert_array_equal(to_normalised_1d(x * 50, w), (2 * (x * 50) + 1) / w - 1)
        np.testing.assert_array_equal(to_pixel_1d(x, w), (x + 1.0) * w / 2.0 - 0.5)
        np.testing.assert_array_equal(to_pixel_1d(x, w), (x + 1.0) * (w / 2.0) - 0.5)
        np.testing.assert_array_equal(pixel_index_1d(x, w), np.floor((x + 1.0) * w / 2.0).astype(np.int64))
        t = torch.from_numpy(x).float()
        torch.testing.assert_close(to_pixel_1d(t, w), (t + 1.0) * w / 2.0 - 0.5, rtol=0, atol=0)


def test_pixel_index_finds_the_containing_pixel_and_clips() -> None:
    h = w = 8

    def c(px: float, size: int = w) -> float:
        return (2 * px + 1) / size - 1

    xy = np.array([[c(0), c(0)], [c(7), c(3)], [0.0, 0.0], [1.0, -1.5], [-0.999, 0.999]])
    clipped = pixel_index(xy, (h, w), clip=True)
    assert clipped[:, 0].tolist() == [0, 7, 4, 7, 0]  # columns; 0.0 is a pixel edge: the right pixel
    assert clipped[:, 1].tolist() == [0, 3, 4, 0, 7]  # rows
    raw = pixel_index(xy, (h, w))
    assert raw[3].tolist() == [8, -2]  # outside the frame without clip
    assert raw.dtype == np.int64
    t = pixel_index(torch.from_numpy(xy).float(), (h, w), clip=True)
    assert t.dtype == torch.long and t.tolist() == clipped.tolist()
    # the pixel containing a point is the one whose centre is nearest
    points = np.random.default_rng(3).uniform(-0.5, w - 0.5, size=(100, 2))
    idx = pixel_index(pixel_to_normalised(points, (h, w)), (h, w))
    np.testing.assert_array_equal(idx, np.floor(points + 0.5).astype(np.int64))


def test_displacements_scale_without_offset() -> None:
    np.testing.assert_array_equal(pixels_per_unit((48, 64)), [32.0, 24.0])
    np.testing.assert_array_equal(units_per_pixel((48, 64)), [2 / 64, 2 / 48])
    a, b = np.array([3.0, 5.0]), np.array([10.0, 1.0])
    delta = pixel_to_normalised(b, (48, 64)) - pixel_to_normalised(a, (48, 64))
    np.testing.assert_allclose(delta, (b - a) * units_per_pixel((48, 64)))
    np.testing.assert_allclose(delta * pixels_per_unit((48, 64)), b - a)


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="xy_px"):
        pixel_to_normalised([1, 2, 3], (48, 64))
    with pytest.raises(ValueError, match="last axis of size 2"):
        normalised_to_pixel(torch.zeros(4, 3), 8)
