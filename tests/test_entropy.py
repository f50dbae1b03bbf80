"""Tests of mint_rl.entropy against the slow numpy reference of mint_rl.entropy_reference and skimage.

The reference is written independently of the implementation (see its module docstring);
``benchmarks/bench_entropy.py`` times it too. The numba and torch paths of ``local_entropy``,
``local_contrast`` and ``prepare_frames`` are checked against each other through their ``backend``
argument.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mint_rl.entropy import (
    LocalEntropy,
    conditional_entropy,
    local_contrast,
    local_entropy,
    prepare_frames,
    sharpen,
)
from mint_rl.entropy_reference import (
    reference_local_contrast,
    reference_local_entropy,
    reference_prepare_frames,
    reference_sharpen,
    scene_frames,
)

# ---------------------------------------------------------------------------------------
# test frames
# ---------------------------------------------------------------------------------------


def random_frames(b: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Uniform noise, plus a few low-entropy frames (few grey levels) for repeated values."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (b, c, h, w), dtype=np.uint8)
    x[: b // 2] = rng.choice(np.array([0, 1, 2, 127, 128, 255], np.uint8), (b // 2, c, h, w))
    return x


SHAPES = [(17, 22), (20, 15)]  # odd and even heights and widths


# ---------------------------------------------------------------------------------------
# local entropy
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("preprocess", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [3, 5, 7])
def test_local_entropy_matches_reference(size: int, channels: int, preprocess: bool, backend: str) -> None:
    for seed, (h, w) in enumerate(SHAPES):
        for make in (random_frames, scene_frames):
            frames = make(3, channels, h, w, seed=seed)
            expected = reference_local_entropy(frames, size, preprocess)
            got = local_entropy(torch.from_numpy(frames), size, preprocess=preprocess, backend=backend)
            assert got.dtype == torch.float32 and got.shape == (3, h, w)
            np.testing.assert_allclose(got.numpy(), expected, atol=1e-5, rtol=0)


def test_backends_agree_exactly_on_full_size_frames() -> None:
    frames = torch.from_numpy(np.concatenate([random_frames(4, 3, 84, 84), scene_frames(4, 3, 84, 84)]))
    for size in (3, 5):
        a = local_entropy(frames, size, backend="numba")
        b = local_entropy(frames, size, backend="torch")
        assert torch.equal(a, b)
        assert torch.equal(local_entropy(frames, size), a)  # auto = numba on CPU


def test_float_input_equals_uint8_input() -> None:
    frames = torch.from_numpy(scene_frames(2, 3, 19, 24))
    for backend in ("numba", "torch"):
        a = local_entropy(frames, backend=backend)
        b = local_entropy(frames.to(torch.float32), backend=backend)
        c = local_entropy(frames.to(torch.int64), backend=backend)
        assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("size", [3, 5, 7])
def test_matches_skimage_on_interior(size: int) -> None:
    rank = pytest.importorskip("skimage.filters.rank")
    frames = np.concatenate([random_frames(2, 1, 23, 18, seed=size), scene_frames(2, 1, 23, 18, seed=size)])
    ours = local_entropy(torch.from_numpy(frames), size, preprocess=False).numpy()
    r = size // 2
    for k, frame in enumerate(frames[:, 0]):
        # skimage: log base 2; footprint clipped to the image at the border, so compare
        # only pixels whose full window lies inside the frame
        theirs = rank.entropy(frame, np.ones((size, size), dtype=bool)) * math.log(2.0)
        np.testing.assert_allclose(ours[k, r:-r, r:-r], theirs[r:-r, r:-r], atol=1e-5, rtol=0)


def test_border_is_zero_and_values_bounded() -> None:
    frames = torch.from_numpy(random_frames(2, 3, 16, 16))
    for size in (3, 5, 7):
        out = local_entropy(frames, size, preprocess=False)
        r = size // 2
        interior = out[:, r:-r, r:-r]
        assert float(out.sum()) == pytest.approx(float(interior.sum()))
        assert float(out.min()) >= 0.0 and float(out.max()) <= math.log(size * size * 3) + 1e-6


def test_all_distinct_window_has_maximal_entropy() -> None:
    frame = torch.arange(27, dtype=torch.uint8).reshape(1, 3, 3, 3)
    out = local_entropy(frame, 3, preprocess=False)
    assert float(out[0, 1, 1]) == pytest.approx(math.log(27), abs=1e-6)
    assert float(out.sum()) == pytest.approx(math.log(27), abs=1e-6)


# ---------------------------------------------------------------------------------------
# local contrast
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [random_frames, scene_frames])
def test_local_contrast_matches_reference(make) -> None:
    blocky = make(3, 3, 4, 3, seed=2).repeat(7, -2).repeat(9, -1)[..., :21, :26]  # flat patches
    frames = np.concatenate([make(3, 3, 21, 26, seed=1), blocky])
    got = local_contrast(torch.from_numpy(frames))
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), reference_local_contrast(frames))


def test_local_contrast_reproduces_authors_float32_formula() -> None:
    frames = torch.from_numpy(np.concatenate([random_frames(8, 3, 30, 31), scene_frames(8, 3, 30, 31)]))
    x = frames.to(torch.float32)
    smooth = F.avg_pool2d(x, 5, stride=1, padding=2, ceil_mode=True, count_include_pad=True).round()
    sharp = torch.clamp(2.5 * x - 1.25 * smooth, min=0, max=255).round()
    ratio = torch.clamp(torch.div(sharp * 255, smooth + 1e-8), min=0, max=255).round()
    assert torch.equal(local_contrast(frames), ratio.to(torch.uint8))


def test_local_contrast_torch_path_equals_numba_path() -> None:
    frames = torch.from_numpy(np.concatenate([random_frames(4, 3, 33, 40), scene_frames(4, 1, 33, 40).repeat(3, 1)]))
    numba_path = local_contrast(frames, backend="numba")
    assert torch.equal(local_contrast(frames, backend="torch"), numba_path)
    assert torch.equal(local_contrast(frames), numba_path)  # auto = numba on CPU
    assert torch.equal(local_contrast(frames.to(torch.float32), backend="torch"), numba_path)
    tiny = torch.from_numpy(random_frames(2, 2, 3, 4))  # smaller than the 5×5 window
    assert torch.equal(local_contrast(tiny, backend="torch"), local_contrast(tiny, backend="numba"))
    np.testing.assert_array_equal(local_contrast(tiny).numpy(), reference_local_contrast(tiny.numpy()))


@pytest.mark.parametrize("value", [0, 1, 3, 7, 100, 128, 200, 255])
def test_uniform_frame_is_flat_and_carries_zero_entropy(value: int) -> None:
    frames = torch.full((2, 3, 16, 19), value, dtype=torch.uint8)
    contrast = local_contrast(frames)
    interior = contrast[..., 2:-2, 2:-2]  # the 5×5 window lies inside the frame
    assert torch.all(interior == (255 if value > 0 else 0))
    for size in (3, 5, 7):
        ent = local_entropy(frames, size, preprocess=True)
        border = 2 + size // 2  # windows made only of flat contrast values
        assert torch.all(ent[:, border:-border, border:-border] == 0)
        assert torch.all(local_entropy(frames, size, preprocess=False) == 0)


def test_flat_region_inside_a_scene_carries_zero_entropy() -> None:
    frame = np.full((1, 3, 40, 40), 90, np.uint8)
    frame[:, :, 25:, :] = 30  # two flat regions
    ent = local_entropy(torch.from_numpy(frame), 3).numpy()[0]
    # local contrast by row: 255 up to row 24, 38 at row 25, 134 at row 26, 255 from row 27
    # (hand-computed), so only the 3×3 windows centred on rows 24..27 see more than one value
    assert np.all(ent[1:24, 1:-1] == 0) and np.all(ent[28:-1, 1:-1] == 0)
    assert np.all(ent[24:28, 1:-1] > 0)  # the edge between the regions carries information


# ---------------------------------------------------------------------------------------
# sharpen and prepare_frames
# ---------------------------------------------------------------------------------------


def test_sharpen_hand_computed() -> None:
    img = torch.full((1, 1, 3, 4), 100.0)
    img[0, 0, 1, 1] = 110.0
    out = sharpen(img, factor=10.0)
    # (1, 1): blurred = (8·100 + 5·110) / 13 = 1350 / 13, 10·110 − 9·1350 / 13 = 165.38… → 165
    # (1, 2): blurred = (7·100 + 110 + 5·100) / 13 = 1310 / 13, 10·100 − 9·1310 / 13 = 93.08… → 93
    # the one-pixel border keeps its values
    expected = torch.full((1, 1, 3, 4), 100, dtype=torch.uint8)
    expected[0, 0, 1, 1] = 165
    expected[0, 0, 1, 2] = 93
    assert torch.equal(out, expected)
    assert sharpen(img, factor=10.0).dtype == torch.uint8
    # clamping at both ends
    spike = torch.zeros(1, 1, 3, 3, dtype=torch.uint8)
    spike[0, 0, 1, 1] = 200
    assert int(sharpen(spike)[0, 0, 1, 1]) == 255
    hole = torch.full((1, 1, 3, 3), 200, dtype=torch.uint8)
    hole[0, 0, 1, 1] = 0
    assert int(sharpen(hole)[0, 0, 1, 1]) == 0


def test_sharpen_matches_reference_and_limits() -> None:
    frames = np.concatenate([scene_frames(2, 3, 20, 23), random_frames(2, 3, 20, 23)])
    x = torch.from_numpy(frames)
    for factor in (0.0, 0.5, 1.0, 2.0, 10.0):
        np.testing.assert_array_equal(sharpen(x, factor).numpy(), reference_sharpen(frames, factor))
    assert torch.equal(sharpen(x, 1.0), x)
    small = torch.from_numpy(random_frames(1, 3, 2, 9))
    assert torch.equal(sharpen(small), small)  # frames of height <= 2 are unchanged
    with pytest.raises(ValueError, match="factor"):
        sharpen(x, -1.0)


@pytest.mark.parametrize(
    "in_shape, grid",
    [((84, 84), (64, 64)), ((64, 64), (64, 64)), ((60, 90), (45, 70)), ((40, 120), (21, 50)), ((9, 11), (20, 17))],
)
def test_prepare_frames_matches_reference(in_shape: tuple[int, int], grid: tuple[int, int]) -> None:
    frames = np.concatenate([scene_frames(2, 3, *in_shape), random_frames(2, 3, *in_shape)])
    got = prepare_frames(torch.from_numpy(frames), grid)
    assert got.dtype == torch.uint8 and got.shape == (4, 3, *grid)
    np.testing.assert_array_equal(got.numpy(), reference_prepare_frames(frames, grid))
    # float frames in [0, 1] give the same result as uint8 frames
    as_float = torch.from_numpy(frames).to(torch.float32) / 255.0
    assert torch.equal(prepare_frames(as_float, grid), got)
    # without sharpening
    np.testing.assert_array_equal(
        prepare_frames(torch.from_numpy(frames), grid, sharpen_small=False).numpy(),
        reference_prepare_frames(frames, grid, sharpen_small=False),
    )


def test_prepare_frames_numba_path_equals_torch_path() -> None:
    """On CPU prepare_frames runs one numba kernel; other devices run the torch ops. Bit for bit the same."""
    shapes = [((84, 84), (42, 42)), ((64, 64), (32, 32)), ((84, 84), (84, 84)), ((96, 96), (135, 135)),
              ((60, 90), (45, 70)), ((40, 120), (21, 50)), ((9, 11), (20, 17)), ((3, 5), (2, 7)), ((1, 1), (3, 3))]
    for seed, (in_shape, grid) in enumerate(shapes):
        frames = [random_frames(2, 3, *in_shape, seed=seed), scene_frames(2, 3, *in_shape, seed=seed),
                  np.full((1, 3, *in_shape), 128, np.uint8), (random_frames(2, 1, *in_shape, seed=seed) > 127) * 255]
        for f in frames:
            x = torch.from_numpy(f.astype(np.uint8))
            for sharpen_small in (True, False):
                numba_path = prepare_frames(x, grid, sharpen_small, backend="numba")
                assert torch.equal(prepare_frames(x, grid, sharpen_small, backend="torch"), numba_path)
                assert torch.equal(prepare_frames(x, grid, sharpen_small), numba_path)  # auto = numba on CPU


def test_prepare_frames_identity_without_resize_or_sharpening() -> None:
    frames = torch.from_numpy(scene_frames(2, 3, 30, 120))
    assert torch.equal(prepare_frames(frames, (30, 120)), frames)  # wide: no sharpening
    narrow = torch.from_numpy(scene_frames(2, 3, 30, 40))
    assert torch.equal(prepare_frames(narrow, (30, 40), sharpen_small=False), narrow)
    assert torch.equal(prepare_frames(narrow, (30, 40)), sharpen(narrow, 10.0))


# ---------------------------------------------------------------------------------------
# conditional entropy and the module
# ---------------------------------------------------------------------------------------


def test_conditional_entropy() -> None:
    ent = torch.tensor([[[[1.0, 2.0]], [[3.0, 1.0]], [[3.5, 4.0]]]])  # (B=1, T=3, H=1, W=2)
    expected = torch.tensor([[[[0.0, 0.0]], [[2.0, 0.0]], [[0.5, 3.0]]]])
    assert torch.equal(conditional_entropy(ent), expected)
    rand = torch.rand(2, 4, 5, 6)
    out = conditional_entropy(rand)
    assert torch.all(out[:, 0] == 0)
    assert torch.allclose(out[:, 1:], torch.relu(rand[:, 1:] - rand[:, :-1]))
    # MINT's formulation: max(H_t, H_{t-1}) - H_{t-1}
    assert torch.allclose(out[:, 1:], torch.maximum(rand[:, 1:], rand[:, :-1]) - rand[:, :-1])
    with pytest.raises(ValueError, match="B, T, H, W"):
        conditional_entropy(torch.rand(4, 5, 6))


def test_local_entropy_module_frames_and_clips() -> None:
    layer = LocalEntropy((40, 40), size=3)
    frames = torch.from_numpy(scene_frames(6, 3, 64, 64))
    out = layer(frames)
    expected = local_entropy(prepare_frames(frames, (40, 40)), 3)
    assert out.shape == (6, 40, 40) and torch.equal(out, expected)
    clips = frames.view(3, 2, 3, 64, 64)
    assert torch.equal(layer(clips), expected.view(3, 2, 40, 40))
    assert torch.equal(layer(frames.float() / 255.0), expected)
    assert "grid_size=(40, 40)" in repr(layer)


def test_runs_without_grad_and_keeps_device() -> None:
    frames = torch.from_numpy(scene_frames(1, 3, 12, 12)).float().requires_grad_(True)
    out = local_entropy(frames)
    assert not out.requires_grad and out.device == frames.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    frames = torch.from_numpy(np.concatenate([random_frames(4, 3, 84, 84), scene_frames(4, 3, 84, 84)]))
    cuda = frames.cuda()
    assert torch.equal(local_contrast(cuda).cpu(), local_contrast(frames))
    for size in (3, 7):
        out = local_entropy(cuda, size)
        assert out.device.type == "cuda"
        assert torch.equal(out.cpu(), local_entropy(frames, size, backend="numba"))
    assert torch.equal(prepare_frames(cuda, (64, 64)).cpu(), prepare_frames(frames, (64, 64)))


# ---------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors() -> None:
    good = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match="rank 4"):
        local_entropy(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN or infinite"):
        local_entropy(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="NaN or infinite"):
        local_entropy(torch.full((1, 1, 8, 8), float("inf")))
    with pytest.raises(ValueError, match="0..255"):
        local_entropy(torch.full((1, 1, 8, 8), 256.0))
    with pytest.raises(ValueError, match="0..255"):
        local_entropy(torch.full((1, 1, 8, 8), -1, dtype=torch.int32))
    with pytest.raises(ValueError, match="integer-valued"):
        local_entropy(torch.full((1, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="odd"):
        local_entropy(good, size=4)
    with pytest.raises(ValueError, match="odd"):
        local_entropy(good, size=1)
    with pytest.raises(TypeError, match="int"):
        local_entropy(good, size=3.0)
    with pytest.raises(ValueError, match="smaller than"):
        local_entropy(good, size=9)
    with pytest.raises(ValueError, match="backend"):
        local_entropy(good, backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        local_contrast(good, backend="cuda")
    with pytest.raises(ValueError, match="backend"):
        prepare_frames(good, (4, 4), backend="cuda")
    with pytest.raises(TypeError, match="bool"):
        local_entropy(good.bool())
    with pytest.raises(TypeError, match="torch.Tensor"):
        local_entropy(good.numpy())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        prepare_frames(torch.full((1, 3, 8, 8), 2.0), (4, 4))
    with pytest.raises(TypeError, match="uint8"):
        prepare_frames(torch.zeros(1, 3, 8, 8, dtype=torch.int32), (4, 4))
    with pytest.raises(ValueError, match="rank 4"):
        local_contrast(torch.zeros(8, 8, dtype=torch.uint8))


def test_entropy_kernel_leaves_torch_threads_alone():
    """numba's OpenMP layer used to reset torch's OpenMP thread count (and slow torch 100×)."""
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(1)\n"
            "from mint_rl.entropy import LocalEntropy\n"
            "LocalEntropy((16, 16))(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8))\n"
            "print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={
        k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
