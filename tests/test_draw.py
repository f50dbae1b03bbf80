"""Behaviour of mint_rl.draw: pixel placement, active/inactive style, grids, videos, figures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mint_rl.draw import (
    colorize,
    draw_keypoints,
    draw_keypoints_batch,
    draw_mask_boxes,
    entropy_figure,
    image_grid,
    keypoint_colors,
    to_tensorboard_image,
    write_video,
)

H, W = 48, 64


def centre_coords(row: int, col: int, h: int = H, w: int = W) -> np.ndarray:
    """(x, y) of the centre of pixel (row, col) in the pixel-centre convention."""
    return np.array([(2 * col + 1) / w - 1, (2 * row + 1) / h - 1])


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=-1)


def test_top_left_pixel_centre_is_drawn_near_origin():
    frame = np.zeros((H, W, 3), np.uint8)
    coords = np.array([[-1 + 1 / W, -1 + 1 / H]])
    out = draw_keypoints(frame, coords, radius=2)
    diff = changed(out, frame)
    assert diff[0, 0]
    ys, xs = np.nonzero(diff)
    assert ys.max() <= 3 and xs.max() <= 3


def test_keypoint_lands_on_its_pixel_and_colour():
    frame = np.zeros((H, W, 3), np.uint8)
    coords = np.stack([centre_coords(10, 40), centre_coords(30, 5)])
    out = draw_keypoints(frame, torch.tensor(coords), torch.tensor([1.0, 1.0]), radius=3)
    colors = keypoint_colors(2)
    np.testing.assert_array_equal(out[10, 40], colors[0])
    np.testing.assert_array_equal(out[30, 5], colors[1])
    ys, xs = np.nonzero(changed(out, frame))
    assert set(zip(ys.tolist(), xs.tolist())) <= {
        (y, x) for y in range(H) for x in range(W) if min(abs(y - 10) + abs(x - 40), abs(y - 30) + abs(x - 5)) <= 8
    }


def test_active_is_filled_inactive_is_hollow():
    frame = np.full((H, W, 3), 100, np.uint8)
    coords = np.stack([centre_coords(12, 16), centre_coords(30, 44)])
    out = draw_keypoints(frame, coords, status=np.array([0.9, 0.1]), radius=5)
    # Active: the centre pixel takes the keypoint's colour.
    assert changed(out, frame)[12, 16]
    # Inactive: the centre (and its 4-neighbours) keep the frame value, the ring changes.
    for dy, dx in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]:
        np.testing.assert_array_equal(out[30 + dy, 44 + dx], frame[30 + dy, 44 + dx])
    for dy, dx in [(5, 0), (-5, 0), (0, 5), (0, -5)]:
        assert changed(out, frame)[30 + dy, 44 + dx]
    # Threshold is strict: status == threshold is inactive.
    out_eq = draw_keypoints(frame, coords[:1], status=np.array([0.5]), radius=5)
    np.testing.assert_array_equal(out_eq[12, 16], frame[12, 16])


def test_input_is_not_modified():
    frame = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    before = frame.copy()
    coords = np.array([[0.0, 0.0], [0.3, -0.4]])
    out = draw_keypoints(frame, coords, np.array([1.0, 0.0]), scale=2)
    np.testing.assert_array_equal(frame, before)
    assert out is not frame and changed(out[::2, ::2], frame).any()


def test_scale_upsamples_and_keeps_position():
    frame = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    coords = centre_coords(7, 50)[None]
    out = draw_keypoints(frame, coords, np.array([1.0]), scale=4, radius=2)
    assert out.shape == (4 * H, 4 * W, 3)
    # Pixel (7, 50) becomes the 4×4 block rows 28..31, cols 200..203: its centre is (29.5, 201.5).
    np.testing.assert_array_equal(out[29, 201], keypoint_colors(1)[0])
    np.testing.assert_array_equal(out[30, 202], keypoint_colors(1)[0])
    # Far away the upscaled frame is the nearest-neighbour copy.
    np.testing.assert_array_equal(out[4 * 40 + 3, 4 * 10], frame[40, 10])


def test_grey_input_becomes_rgb():
    grey = np.full((H, W), 50, np.uint8)
    out = draw_keypoints(grey, np.zeros((1, 2)))
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert (out[0, 0] == 50).all()


def test_batch_shapes():
    frames = np.zeros((3, H, W, 3), np.uint8)
    coords = np.zeros((3, 4, 2))
    out = draw_keypoints_batch(frames, coords, np.ones((3, 4)), scale=2)
    assert out.shape == (3, 2 * H, 2 * W, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="status"):
        draw_keypoints_batch(frames, coords, np.ones((3, 5)))


def test_colors_distinct_and_stable():
    c = keypoint_colors(32)
    assert c.shape == (32, 3) and c.dtype == np.uint8
    assert len({tuple(x) for x in c}) == 32
    np.testing.assert_array_equal(keypoint_colors(5), c[:5])


def test_colorize_range():
    m = np.linspace(0.0, 2.0, 20).reshape(4, 5)
    img = colorize(m)
    assert img.shape == (4, 5, 3) and img.dtype == np.uint8
    import matplotlib
    lo = np.round(np.array(matplotlib.colormaps["viridis"](0.0)[:3]) * 255)
    hi = np.round(np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255)
    np.testing.assert_array_equal(img[0, 0], lo)
    np.testing.assert_array_equal(img[-1, -1], hi)
    # Explicit range clips: everything at or above vmax has the top colour.
    img2 = colorize(torch.tensor(m), vmin=0.0, vmax=1.0)
    np.testing.assert_array_equal(img2[-1, -1], hi)
    assert (colorize(np.ones((3, 3))) == lo).all()  # constant map → bottom colour


def test_image_grid_shape_and_resize():
    a = np.zeros((10, 12, 3), np.uint8)
    b = np.zeros((5, 4, 3), np.uint8)  # resized to height 10, width 8
    grid = image_grid([a, b, a], ncols=2, pad=2, pad_value=255)
    assert grid.shape == (2 * (10 + 2) + 2, 2 * (12 + 2) + 2, 3)
    assert (grid[0] == 255).all()
    assert (grid[2:12, 2:14] == 0).all()
    assert (grid[2:12, 16:24] == 0).all() and (grid[2:12, 24:28] == 255).all()
    assert image_grid([a, a, a]).shape == (14, 3 * 14 + 2, 3)


def _frames(n: int = 6, h: int = 32, w: int = 48) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i + 1) * w // n] = (255, 40 * i, 0)
        out.append(f)
    return out


def test_write_mp4_readable(tmp_path):
    path = tmp_path / "sub" / "clip.mp4"
    write_video(_frames(), path, fps=10)
    cap = cv2.VideoCapture(str(path))
    n, shape = 0, None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        n, shape = n + 1, f.shape
    cap.release()
    assert n == 6 and shape == (32, 48, 3)
    assert [p.name for p in path.parent.iterdir()] == ["clip.mp4"]


def test_write_mp4_odd_size(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(_frames(3, 33, 47), path)
    cap = cv2.VideoCapture(str(path))
    ok, f = cap.read()
    cap.release()
    assert ok and f.shape[0] >= 33 and f.shape[1] >= 47


def test_write_gif(tmp_path):
    path = tmp_path / "clip.gif"
    write_video(_frames(), path, fps=20)
    with Image.open(path) as im:
        assert im.n_frames == 6 and im.size == (48, 32)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]


def test_write_video_errors(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        write_video(_frames(), tmp_path / "clip.avi")
    with pytest.raises(ValueError, match="no frames"):
        write_video([], tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match="shape"):
        write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], tmp_path / "c.gif")
    with pytest.raises(ValueError, match="uint8"):
        write_video([np.zeros((4, 4, 3), np.float32)], tmp_path / "c.mp4")
    assert list(tmp_path.iterdir()) == []


def test_to_tensorboard_image():
    img = np.random.default_rng(2).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    chw = to_tensorboard_image(img)
    assert chw.shape == (3, 5, 7)
    np.testing.assert_array_equal(chw[1], img[:, :, 1])


def test_entropy_figure_saves_png(tmp_path):
    n, k, h, w = 2, 3, 16, 16
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    entropy = rng.random((n, h, w))
    patches = torch.rand(n, k, h, w)
    coords = torch.rand(n, k, 2) * 2 - 1
    status = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    path = tmp_path / "figs" / "entropy.png"
    fig = entropy_figure(frames, entropy, patches, coords, status, path=path)
    assert len(fig.axes) >= 4 * n
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100
    with pytest.raises(ValueError, match="masks"):
        entropy_figure(frames, entropy, np.zeros((n, 8, 8)), coords, status)


def test_mask_boxes_outline_each_box_at_the_image_scale():
    """A box of rows 2..3, columns 5..7 at scale 3 is outlined on output rows 6..11 and columns 15..23, in its
    colour, and nothing is drawn inside it or for an empty mask; the input is not modified."""
    image = np.zeros((8 * 3, 10 * 3, 3), np.uint8)
    masks = np.zeros((2, 8, 10), bool)
    masks[0, 2:4, 5:8] = True
    out = draw_mask_boxes(image, masks, np.array([[0, 200, 0], [255, 0, 0]], np.uint8), scale=3)
    assert not image.any()
    drawn = changed(out, image)
    ys, xs = np.nonzero(drawn)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (6, 11, 15, 23)
    assert drawn[6, 15:24].all() and drawn[11, 15:24].all() and drawn[6:12, 15].all() and drawn[6:12, 23].all()
    assert not drawn[7:11, 16:23].any()
    np.testing.assert_array_equal(out[6, 15], [0, 200, 0])
    labelled = draw_mask_boxes(image, masks, np.array([[0, 200, 0], [255, 0, 0]], np.uint8), 3, ["ball", "x"])
    assert changed(labelled, image).sum() > drawn.sum()  # the label is written above the box


def test_mask_boxes_refuse_mismatched_inputs():
    image = np.zeros((16, 20, 3), np.uint8)
    masks = np.zeros((1, 8, 10), bool)
    with pytest.raises(ValueError, match="masks must be"):
        draw_mask_boxes(image, masks, np.zeros((1, 3), np.uint8), scale=1)
    with pytest.raises(ValueError, match="colors must be"):
        draw_mask_boxes(image, masks, np.zeros((2, 3), np.uint8), scale=2)
    with pytest.raises(ValueError, match="scale must be"):
        draw_mask_boxes(image, masks, np.zeros((1, 3), np.uint8), scale=0)
    with pytest.raises(ValueError, match="labels must"):
        draw_mask_boxes(image, masks, np.zeros((1, 3), np.uint8), scale=2, labels=["a", "b"])
