"""Keypoint refinement (mint_rl.refine): colour mean shift to the centre of the object part under a keypoint."""

from __future__ import annotations

import pytest
import torch

from mint_rl.coords import pixel_to_normalised
from mint_rl.refine import refine_keypoints

H = W = 32


def frame_with(*squares: tuple[int, int, int, tuple[int, int, int]], background=(0, 0, 0)) -> torch.Tensor:
    """``(1, 3, H, W)`` uint8: squares ``(column, row, side, rgb)`` (top-left pixel) on a plain background."""
    f = torch.tensor(background, dtype=torch.uint8)[:, None, None].repeat(1, H, W)
    for col, row, side, rgb in squares:
        f[:, row:row + side, col:col + side] = torch.tensor(rgb, dtype=torch.uint8)[:, None, None]
    return f[None]


def at(*pixels: tuple[float, float]) -> torch.Tensor:
    """``(1, K, 2)`` keypoints at pixel (column, row) centres."""
    return torch.as_tensor(pixel_to_normalised(torch.tensor(pixels, dtype=torch.float32), (H, W)))[None]


def test_a_keypoint_on_an_objects_edge_moves_to_its_centre():
    frames = frame_with((10, 12, 7, (255, 0, 0)))  # centre pixel (13, 15)
    for edge in [(10, 12), (16, 15), (13, 18), (11, 17)]:
        out = refine_keypoints(frames, at(edge), window=11)
        torch.testing.assert_close(out, at((13, 15)))


def test_an_odd_sized_object_on_an_even_grid_gives_a_half_pixel_centre():
    frames = frame_with((4, 4, 4, (0, 255, 0)))  # pixels 4..7: centre 5.5
    torch.testing.assert_close(refine_keypoints(frames, at((4, 4)), window=9), at((5.5, 5.5)))


def test_the_keypoint_follows_its_own_colour_not_a_neighbour():
    frames = frame_with((6, 8, 5, (255, 0, 0)), (14, 8, 5, (0, 0, 255)))  # red centre (8, 10), blue (16, 10)
    # each window holds both squares; each keypoint's 5 × 5 colour glimpse only its own
    out = refine_keypoints(frames, at((10, 9), (14, 11)), window=13)
    torch.testing.assert_close(out, at((8, 10), (16, 10)))


def test_a_keypoint_off_every_object_stays_put():
    frames = frame_with((2, 2, 3, (255, 255, 255)))
    far = at((25, 25))  # only background in its window: the colour fills it
    torch.testing.assert_close(refine_keypoints(frames, far, window=7), far)
    grey = frame_with((2, 2, 3, (255, 255, 255)), background=(90, 90, 90))  # a plain non-black background too
    torch.testing.assert_close(refine_keypoints(grey, far, window=7), far)


def test_more_iterations_come_closer_when_the_window_sees_part_of_the_object():
    frames = frame_with((10, 10, 7, (200, 200, 0)))  # centre pixel (13, 13); a 7 px window at a corner sees 4 × 4
    start = at((10, 10))
    errors = [float((refine_keypoints(frames, start, window=7, iterations=i) - at((13, 13))).abs().sum())
              for i in (1, 2, 3)]
    assert float((start - at((13, 13))).abs().sum()) > errors[0] > errors[1] >= errors[2]


def test_inside_an_object_larger_than_the_window_the_keypoint_stays_put():
    frames = frame_with((4, 4, 15, (200, 200, 0)))  # its colour fills the window, as a background's would
    inside = at((9, 8))
    torch.testing.assert_close(refine_keypoints(frames, inside, window=5), inside)


def test_a_keypoint_at_the_frame_edge_stays_inside_the_frame():
    """Pixels outside the frame never match, even when they would read as the keypoint's colour."""
    red = frame_with((0, 10, 4, (255, 0, 0)))  # at the left edge, on black
    out = refine_keypoints(red, at((0, 13)), window=9)
    assert out.abs().max() <= 1.0
    torch.testing.assert_close(out, at((1.5, 11.5)))
    # a near-black object on grey: the glimpse's per-channel maximum is the grey background (mint_rl.appearance
    # reads colours for dark backgrounds), so the keypoint stays, and the zeros outside the frame do not pull it out
    dark = frame_with((0, 10, 4, (10, 10, 10)), background=(120, 120, 120))
    torch.testing.assert_close(refine_keypoints(dark, at((0, 13)), window=9), at((0, 13)))


def test_a_background_keypoint_beside_an_object_is_not_pushed_away():
    """Its colour window sees only background, its larger window part of an object: it stays put."""
    frames = frame_with((10, 10, 4, (255, 0, 0)))
    near = at((11, 17))  # 4 rows below the object: the 5 × 5 colour glimpse is all black
    torch.testing.assert_close(refine_keypoints(frames, near, window=11), near)


def test_with_snap_a_background_keypoint_beside_a_thin_object_lands_on_its_centre():
    """A 2 × 8 paddle: a keypoint 4 px left of it stays without snap; with a 9 px snap window it moves to the paddle
    pixel level with it (the nearest, not a corner: a 3 px refinement from there centres it on rows 12–14) and the
    mean shift centres it; a keypoint with no object within its snap window stays; one already on the object refines
    as without snap."""
    frames = frame_with((14, 10, 2, (255, 0, 0)), (14, 12, 2, (255, 0, 0)), (14, 14, 2, (255, 0, 0)),
                        (14, 16, 2, (255, 0, 0)))  # columns 14–15, rows 10–17: centre (14.5, 13.5)
    beside = at((10, 13))
    torch.testing.assert_close(refine_keypoints(frames, beside, window=9), beside)
    torch.testing.assert_close(refine_keypoints(frames, beside, window=3, iterations=1, snap=9), at((14.5, 13)))
    torch.testing.assert_close(refine_keypoints(frames, beside, window=9, snap=9), at((14.5, 13.5)))
    far = at((3, 28))
    torch.testing.assert_close(refine_keypoints(frames, far, window=9, snap=9), far)
    on = at((14, 11))
    torch.testing.assert_close(refine_keypoints(frames, on, window=9, snap=9), refine_keypoints(frames, on, window=9))


def test_snap_goes_to_the_nearest_object_first_in_row_major_order_on_ties():
    """Two squares 4 rows from the keypoint, one above and one below: the upper one (earlier rows) wins the tie; move
    the lower one a row closer and it wins."""
    ties = frame_with((12, 5, 3, (0, 255, 0)), (12, 15, 3, (0, 0, 255)))  # rows 5–7 (centre 6) and 15–17
    torch.testing.assert_close(refine_keypoints(ties, at((13, 11)), window=7, snap=9), at((13, 6)))
    closer = frame_with((12, 5, 3, (0, 255, 0)), (12, 14, 3, (0, 0, 255)))  # now rows 14–16 (centre 15)
    torch.testing.assert_close(refine_keypoints(closer, at((13, 11)), window=7, snap=9), at((13, 15)))


def test_batches_are_refined_independently():
    a, b = frame_with((10, 12, 7, (255, 0, 0))), frame_with((3, 3, 5, (0, 255, 0)))
    both = refine_keypoints(torch.cat([a, b]), torch.cat([at((10, 12), (3, 3)), at((10, 12), (3, 3))]), window=9)
    torch.testing.assert_close(both[0:1], refine_keypoints(a, at((10, 12), (3, 3)), window=9))
    torch.testing.assert_close(both[1:2], refine_keypoints(b, at((10, 12), (3, 3)), window=9))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(window=4), r"refinement window must be an odd int >= 3 \(pixels, centred on the keypoint\), got 4"),
    (dict(window=1), "refinement window must be an odd int >= 3"),
    (dict(window=33), r"refinement window 33 px is larger than the 32×32 frames; give a window <= 32"),
    (dict(window=5, iterations=0), "iterations must be >= 1, got 0"),
    (dict(window=5, tolerance=0.0), r"tolerance must be in \(0, 1\]"),
    (dict(window=5, snap=4), r"snap window must be an odd int >= 3 \(pixels, centred on the keypoint\), got 4"),
    (dict(window=5, snap=35), r"snap window 35 px is larger than the 32×32 frames"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        refine_keypoints(frame_with(), at((3, 3)), **kwargs)


def test_frames_must_be_uint8_images():
    with pytest.raises(ValueError, match=r"frames must be \(B, C, H, W\) uint8"):
        refine_keypoints(frame_with().float(), at((3, 3)), window=5)
