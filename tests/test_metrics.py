"""Object metrics: hand-built keypoint tracks on hand-built masks with known answers."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import t as student_t

from mint_rl.metrics import (
    BACKGROUND,
    INACTIVE,
    aggregate,
    dynamics_success_rate,
    finite_mean,
    keypoint_assignments,
    mask_centroids,
    matched_distances,
    summarize,
    video_metrics,
)

H = W = 8
A, B = 0, 1  # object slots


def c(px: float, size: int = W) -> float:
    """[-1, 1] coordinate of the centre of pixel ``px`` on a ``size`` grid."""
    return (2 * px + 1) / size - 1


def kp(col: float, row: float) -> tuple[float, float]:
    return (c(col), c(row, H))


def scene(frames: int, a: bool = True, b: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A: rows 0-1 × cols 0-1 (area 4); B: rows 4-7 × cols 4-7 (area 16)."""
    masks = np.zeros((frames, 2, H, W), bool)
    masks[:, A, 0:2, 0:2] = a
    masks[:, B, 4:8, 4:8] = b
    visible = masks.any(axis=(2, 3))
    return masks, visible


def tracks(*per_keypoint: list) -> tuple[np.ndarray, np.ndarray]:
    """``tracks([(col, row), ...], ...)``: one list of pixel positions per keypoint."""
    coords = np.array([[kp(*p) for p in frames] for frames in per_keypoint]).transpose(1, 0, 2)
    return coords, np.ones(coords.shape[:2])


ON_A, ON_B, BG = (0, 1), (5, 5), (7, 0)


# --------------------------------------------------------------------------- assignments


def test_assignments_background_and_inactive():
    masks, _ = scene(1)
    coords, status = tracks([ON_A], [ON_B], [BG], [ON_B])
    status[0, 3] = 0.5  # exactly the threshold: inactive
    out = keypoint_assignments(coords, status, masks)
    assert out.tolist() == [[A, B, BACKGROUND, INACTIVE]]


def test_masks_at_another_resolution_and_torch_inputs():
    # Keypoints at the centres of a 4×4 grid's pixels; masks on the 8×8 grid.
    masks, _ = scene(1)
    coords = torch.tensor([[[c(0, 4), c(0, 4)], [c(3, 4), c(3, 4)], [c(3, 4), c(0, 4)]]])
    out = keypoint_assignments(coords, torch.ones(1, 3), torch.from_numpy(masks))
    assert out.tolist() == [[A, B, BACKGROUND]]


# --------------------------------------------------------------------------- DOP, TOP, UAK, RAK


def test_keypoint_staying_on_one_object():
    masks, visible = scene(4, b=False)
    coords, status = tracks([ON_A, (1, 1), (0, 0), ON_A])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 100.0 and m["TOP"] == 100.0
    assert m["UAK"] == 0.0 and m["RAK"] == 0.0 and m["id_switches"] == 0.0


def test_keypoint_jumping_between_objects():
    masks, visible = scene(3)
    coords, status = tracks([ON_A, ON_B, ON_A])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 50.0  # one of two objects each frame
    assert m["TOP"] == 0.0  # neither object keeps the keypoint it had
    assert m["id_switches"] == 0.0  # no object is detected in two consecutive frames


def test_two_keypoints_swapping_objects_are_identity_switches():
    masks, visible = scene(3)
    coords, status = tracks([ON_A, ON_B, ON_A], [ON_B, ON_A, ON_B])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 100.0 and m["TOP"] == 0.0
    assert m["id_switches"] == 4.0  # both objects change identity at t = 1 and t = 2


def test_top_counts_only_the_same_keypoint():
    masks, visible = scene(3)
    # kp0 stays on A; kp1 moves A → B → B: B is untracked at t=1 (kp1 was on A), tracked at t=2.
    coords, status = tracks([ON_A, ON_A, ON_A], [(1, 1), ON_B, (6, 6)])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["TOP"] == pytest.approx((50.0 + 100.0) / 2)
    assert m["DOP"] == pytest.approx((50.0 + 100.0 + 100.0) / 3)


def test_keypoint_on_background():
    masks, visible = scene(2, b=False)
    coords, status = tracks([BG, BG])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["UAK"] == 1.0 and m["DOP"] == 0.0 and m["TOP"] == 0.0
    assert math.isnan(m["RAK"])  # no detected object


def test_rak_two_keypoints_on_one_object():
    masks, visible = scene(1)
    coords, status = tracks([ON_A], [ON_B], [(6, 7)])
    mean_area = 5.0
    expected = (abs(4 - 1 * mean_area) / 4 + abs(16 - 2 * mean_area) / 16) / 2  # (0.25 + 0.375) / 2
    m = video_metrics(coords, status, masks, visible, mean_area=mean_area)
    assert m["RAK"] == pytest.approx(expected) == pytest.approx(0.3125)


def test_inactive_keypoints_are_ignored():
    masks, visible = scene(2)
    coords, status = tracks([ON_A, ON_A], [ON_B, ON_B], [BG, BG])
    status[:, 1:] = 0.2  # the keypoint on B and the one on the background are inactive
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 50.0 and m["UAK"] == 0.0 and m["RAK"] == 0.0


def test_static_and_moving_dop():
    masks, visible = scene(2)
    coords, status = tracks([ON_A, ON_A])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0, static=np.array([True, False]))
    assert (m["DOP"], m["DOP_static"], m["DOP_moving"]) == (50.0, 100.0, 0.0)
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert math.isnan(m["DOP_static"]) and math.isnan(m["DOP_moving"])


def test_frames_without_visible_objects_are_skipped():
    masks, visible = scene(3, b=False)
    masks[1:] = False
    visible[1:] = False
    coords, status = tracks([ON_A, BG, ON_A])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 100.0  # only frame 0 counts
    assert math.isnan(m["TOP"])  # no frame t ≥ 1 has a visible object
    assert m["UAK"] == pytest.approx(2 / 3)  # every frame counts: frames 1 and 2 have one on no object


def test_object_that_leaves_is_not_counted():
    masks, visible = scene(2)
    visible[1, B] = False  # B left; its stale mask must be ignored
    coords, status = tracks([ON_A, ON_A], [ON_B, ON_B])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["DOP"] == 100.0  # frame 1: 1 of 1 visible objects
    assert m["TOP"] == 100.0
    assert m["UAK"] == 0.5  # the keypoint left on B's old place is on the background at t=1


# --------------------------------------------------------------------------- ground-truth tracking


def test_hungarian_matched_distance():
    centres = np.array([[[0.3, 0.0], [0.95, 0.0]]])
    coords = np.array([[[0.0, 0.0], [0.5, 0.0], [0.95, 0.0]]])
    status = np.array([[1.0, 1.0, 0.0]])  # the inactive keypoint on a centre is ignored
    # Optimal one-to-one: kp0–0.3 (0.3) + kp1–0.95 (0.45) = 0.75. Greedy smallest-first
    # would take kp1–0.3 (0.2) then kp0–0.95 (0.95) = 1.15; nearest-centre per keypoint,
    # not one-to-one, would give (0.3 + 0.2) / 2.
    dist, dist_px = matched_distances(coords, status, centres, np.ones((1, 2), bool), grid_size=(4, 8))
    assert dist == pytest.approx(0.375)
    assert dist_px == pytest.approx(0.375 * 8 / 2)  # x distances: W / 2 = 4 pixels per unit


def test_matched_distance_pixels_on_a_non_square_grid_and_extra_keypoints():
    centres = np.array([[[0.0, 0.0]], [[0.0, 0.0]]])
    coords = np.array([[[0.0, 0.5], [0.9, 0.9]], [[0.0, 0.0], [0.0, 0.0]]])
    status = np.ones((2, 2))
    visible = np.array([[True], [False]])  # frame 1 has no visible object: skipped
    dist, dist_px = matched_distances(coords, status, centres, visible, grid_size=(4, 8))
    assert dist == pytest.approx(0.5)
    assert dist_px == pytest.approx(0.5 * 4 / 2)  # y distance: H / 2 = 2 pixels per unit


def test_video_metrics_uses_mask_centroids_by_default():
    masks, visible = scene(1, b=False)
    np.testing.assert_allclose(mask_centroids(masks)[0, A], [c(0.5), c(0.5)])
    coords, status = tracks([ON_A])
    m = video_metrics(coords, status, masks, visible, mean_area=4.0)
    assert m["match_dist"] == pytest.approx(math.hypot(0.125, 0.125))
    assert m["match_dist_px"] == pytest.approx(math.hypot(0.5, 0.5))
    # Given centres replace the centroids; an invisible slot's centre is never matched.
    coords, status = tracks([(0, 0)])
    given = video_metrics(coords, status, masks, visible, mean_area=4.0, centres=np.array([[[c(0), c(3)], [9.0, 9.0]]]))
    assert (given["match_dist"], given["match_dist_px"]) == (pytest.approx(0.75), pytest.approx(3.0))


def test_identity_is_the_keypoint_nearest_the_centre():
    masks, visible = scene(2, b=False)
    masks[:, A, 0:4, 0:4] = True
    # Two keypoints on A; the nearest to its centre changes from kp0 to kp1: one switch.
    coords, status = tracks([(1, 1), (0, 0)], [(3, 3), (2, 2)])
    m = video_metrics(coords, status, masks, visible, mean_area=16.0)
    assert m["id_switches"] == 1.0 and m["TOP"] == 100.0


# --------------------------------------------------------------------------- dynamics


def test_dynamics_success_rate():
    masks, _ = scene(3)
    masks[1:, A] = False
    masks[1:, A, 0:2, 2:4] = True  # A moved two pixels right
    coords, status = tracks([ON_A, (2, 1), (2, 1)], [ON_B, ON_B, ON_B], [(6, 6), (6, 6), (6, 6)], [BG, BG, BG])
    src = keypoint_assignments(coords, status, masks)
    pred = coords.copy()
    pred[0, 0] = kp(2, 1)  # A's keypoint predicted onto A's new place: success
    pred[0, 1] = kp(0, 0)  # one of B's two keypoints predicted off B: B scores 1/2
    pred[0, 3] = kp(5, 5)  # background keypoints are not scored
    pred[1, 0] = kp(0, 1)  # A's keypoint predicted onto A's old place: failure
    pred[2] = np.nan  # no target frame for t = 2: ignored
    rate = dynamics_success_rate(pred, masks, src, horizon=1)
    assert rate == pytest.approx(((1 + 0.5) / 2 + (0 + 1) / 2) / 2)
    # h = 2: only source frame 0 has a target; both of B's keypoints must be on B at t=2.
    assert dynamics_success_rate(pred[:1], masks, src[:1], horizon=2) == pytest.approx((1 + 0.5) / 2)


def test_dynamics_skips_objects_that_vanish():
    masks, _ = scene(2)
    masks[1, B] = False
    coords, status = tracks([ON_A, ON_A], [ON_B, ON_B])
    src = keypoint_assignments(coords, status, masks)
    assert dynamics_success_rate(coords, masks, src) == 1.0


# --------------------------------------------------------------------------- aggregation


def test_aggregate_student_t_interval():
    values = [1.0, 2.0, 4.0]
    out = aggregate(values, confidence=0.95)
    mean = 7 / 3
    s = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 2)
    half = student_t.ppf(0.975, 2) * s / math.sqrt(3)
    assert out["n"] == 3 and out["mean"] == pytest.approx(mean)
    assert out["half_width"] == pytest.approx(half)
    assert (out["ci_low"], out["ci_high"]) == (pytest.approx(mean - half), pytest.approx(mean + half))
    assert aggregate(values + [float("nan")])["n"] == 3  # undefined seeds are dropped


def test_aggregate_single_seed_has_no_interval():
    out = aggregate([5.0])
    assert out["mean"] == 5.0 and out["n"] == 1 and math.isnan(out["half_width"]) and math.isnan(out["ci_low"])


def test_summarize_videos_then_seeds():
    per_seed = {
        0: [{"DOP": 100.0, "RAK": float("nan")}, {"DOP": 50.0, "RAK": 1.0}],  # seed mean: 75, 1
        1: [{"DOP": 25.0, "RAK": 3.0}],  # seed mean: 25, 3
    }
    out = summarize(per_seed)
    assert out["DOP"]["mean"] == 50.0 and out["DOP"]["n"] == 2
    assert out["DOP"]["half_width"] == pytest.approx(aggregate([75.0, 25.0])["half_width"])
    assert out["RAK"]["mean"] == 2.0
    assert summarize(list(per_seed.values()))["DOP"]["mean"] == 50.0


# --------------------------------------------------------------------------- errors


def test_errors_name_the_problem():
    masks, visible = scene(2)
    coords, status = tracks([ON_A, ON_A])
    with pytest.raises(ValueError, match="frames"):
        video_metrics(coords[:1], status[:1], masks, visible, mean_area=4.0)
    with pytest.raises(ValueError, match="4-D bool"):
        video_metrics(coords, status, masks.astype(np.uint8), visible, mean_area=4.0)
    with pytest.raises(ValueError, match="4-D bool"):
        video_metrics(coords, status, masks[:, 0], visible, mean_area=4.0)
    with pytest.raises(ValueError, match="visible"):
        video_metrics(coords, status, masks, visible[:, :1], mean_area=4.0)
    with pytest.raises(ValueError, match="mean_area"):
        video_metrics(coords, status, masks, visible, mean_area=0.0)
    with pytest.raises(ValueError, match="status"):
        video_metrics(coords, status[:, :0], masks, visible, mean_area=4.0)
    with pytest.raises(ValueError, match="static"):
        video_metrics(coords, status, masks, visible, mean_area=4.0, static=np.ones(3, bool))
    with pytest.raises(ValueError, match="finite"):
        keypoint_assignments(np.full_like(coords, np.nan), status, masks)
    with pytest.raises(ValueError, match="confidence"):
        aggregate([1.0, 2.0], confidence=95)


def test_finite_mean_skips_non_finite_values_like_summarize():
    assert finite_mean([1.0, float("nan"), 3.0, float("inf")]) == 2.0
    assert math.isnan(finite_mean([float("nan")])) and math.isnan(finite_mean([]))
    videos = [{"DOP": 1.0}, {"DOP": float("nan")}, {"DOP": 3.0}]
    assert summarize([videos])["DOP"]["mean"] == finite_mean([v["DOP"] for v in videos])
