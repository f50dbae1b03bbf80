"""The keypoint tracker (mint_rl.tracking) and its SB3 adapter (agents.tracked_vec_env)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents.tracked_vec_env import TrackedKeypointVecEnv
from mint_rl.tracking import COASTING_STATUS, KeypointTracker, TrackerConfig, merge_detections

SIZE = (64, 64)


def norm(px: list[list[float]]) -> np.ndarray:
    """Pixel centres → [-1, 1] (pixel-centre aligned, 64-px frame)."""
    return (np.asarray(px, dtype=np.float64) + 0.5) / 32.0 - 1.0


def test_merge_links_same_category_points_transitively() -> None:
    pts = np.array([[10.0, 10.0], [14.0, 10.0], [18.0, 10.0], [11.0, 11.0], [40.0, 40.0]])
    cats = np.array([0, 0, 0, 1, 0])
    centres, out_cats = merge_detections(pts, cats, merge_px=5.0)
    # the chain 10–14–18 is one entity; the category-1 point beside it stays apart; the far point is alone
    assert out_cats.tolist() == [0, 1, 0]
    np.testing.assert_allclose(centres, [[14.0, 10.0], [11.0, 11.0], [40.0, 40.0]])
    assert merge_detections(np.zeros((0, 2)), np.zeros(0, int), 5.0)[0].shape == (0, 2)


def _union_find_merge(points: np.ndarray, cats: np.ndarray, merge_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Reference: single linkage by union-find over the linked pairs, each group's mean by ``mean(0)``."""
    p = len(points)
    parent = list(range(p))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(p):
        for j in range(i + 1, p):
            if np.linalg.norm(points[i] - points[j]) < merge_px and cats[i] == cats[j]:
                ri, rj = root(i), root(j)
                parent[max(ri, rj)] = min(ri, rj)
    roots = np.array([root(i) for i in range(p)])
    order = np.unique(roots)
    return np.stack([points[roots == r].mean(0) for r in order]), cats[order]


def test_merge_matches_union_find_exactly_on_random_frames() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        p = int(rng.integers(1, 13))
        pts = rng.uniform(0, 30, (p, 2))  # dense enough for chains of several points
        cats = rng.integers(0, 3, p)
        for points in (pts, pts.astype(np.float32)):
            centres, out_cats = merge_detections(points, cats, merge_px=6.0)
            ref_centres, ref_cats = _union_find_merge(points, cats, 6.0)
            assert np.array_equal(out_cats, ref_cats) and np.array_equal(centres, ref_centres)
            assert centres.dtype == ref_centres.dtype


def test_slots_follow_their_entities_when_keypoint_indices_swap() -> None:
    tracker = KeypointTracker(1, SIZE, TrackerConfig(slots=4, merge_px=3.0, gate_px=8.0))
    a, b = [10.0, 10.0], [40.0, 20.0]
    c0, s0, k0 = tracker.update(norm([[a, b]]), np.ones((1, 2)), np.array([[2, 5]]), np.array([True]))
    assert s0[0].tolist() == [1.0, 1.0, 0.0, 0.0] and k0[0].tolist() == [2, 5, -1, -1]
    # next frame: both move 2 px right and the encoder lists them in the other order
    c1, s1, k1 = tracker.update(norm([[[42.0, 20.0], [12.0, 10.0]]]), np.ones((1, 2)), np.array([[5, 2]]))
    np.testing.assert_allclose(c1[0, :2], norm([[12.0, 10.0], [42.0, 20.0]]), atol=1e-9)
    assert k1[0].tolist() == [2, 5, -1, -1]
    np.testing.assert_allclose(tracker.velocity[0, :2], [[2.0, 0.0], [2.0, 0.0]])


def test_misses_are_bridged_then_the_slot_is_freed() -> None:
    tracker = KeypointTracker(1, SIZE, TrackerConfig(slots=2, max_age=2))
    tracker.update(norm([[[10.0, 10.0]]]), np.ones((1, 1)), None, np.array([True]))
    tracker.update(norm([[[10.0, 13.0]]]), np.ones((1, 1)), None)  # falling 3 px per frame
    gone = np.zeros((1, 1))
    c, s, _ = tracker.update(norm([[[0.0, 0.0]]]), gone, None)  # missed: coasts on
    assert s[0, 0] == COASTING_STATUS and s[0, 0] > 0.5
    np.testing.assert_allclose(c[0, 0], norm([[10.0, 16.0]])[0], atol=1e-9)
    _, s, _ = tracker.update(norm([[[0.0, 0.0]]]), gone, None)
    assert s[0, 0] == COASTING_STATUS
    _, s, _ = tracker.update(norm([[[0.0, 0.0]]]), gone, None)  # third miss > max_age: freed
    assert s[0].tolist() == [0.0, 0.0]
    # found again where the coasting prediction is: the same track continues
    tracker.update(norm([[[10.0, 10.0]]]), np.ones((1, 1)), None, np.array([True]))
    tracker.update(norm([[[10.0, 13.0]]]), np.ones((1, 1)), None)
    tracker.update(norm([[[0.0, 0.0]]]), gone, None)
    c, s, _ = tracker.update(norm([[[10.5, 19.0]]]), np.ones((1, 1)), None)
    assert s[0].tolist() == [1.0, 0.0]


def test_far_or_other_category_detections_start_new_tracks_and_new_episode_frees() -> None:
    tracker = KeypointTracker(2, SIZE, TrackerConfig(slots=3, gate_px=5.0, max_age=1))
    tracker.update(norm([[[10.0, 10.0]], [[30.0, 30.0]]]), np.ones((2, 1)), np.zeros((2, 1), int))
    _, s, k = tracker.update(norm([[[30.0, 10.0]], [[31.0, 30.0]]]), np.ones((2, 1)), np.array([[0], [1]]))
    assert s[0].tolist() == [COASTING_STATUS, 1.0, 0.0]  # stream 0: jumped 20 px → new track, old one coasts
    assert k[1].tolist() == [0, 1, -1]  # stream 1: category changed → new track
    _, s, _ = tracker.update(norm([[[30.0, 10.0]], [[31.0, 30.0]]]), np.ones((2, 1)), np.array([[0], [1]]),
                             new_episode=np.array([True, False]))
    assert s[0].tolist() == [1.0, 0.0, 0.0]  # stream 0 started over: one track in slot 0


def test_tracker_refuses_bad_settings_and_shapes() -> None:
    for bad in (dict(slots=0), dict(merge_px=-1.0), dict(gate_px=float("nan")), dict(max_age=-1), dict(slots=2.5)):
        with pytest.raises(ValueError, match="TrackerConfig"):
            TrackerConfig(**bad)
    tracker = KeypointTracker(2, SIZE)
    with pytest.raises(ValueError, match=r"\(n, K, 2\)"):
        tracker.update(np.zeros((1, 4, 2)), np.zeros((1, 4)), None)
    with pytest.raises(ValueError, match="categories"):
        tracker.update(np.zeros((2, 4, 2)), np.zeros((2, 4)), np.zeros((2, 3), int))


class _Rows(VecEnv):
    """Two envs whose keypoint rows are scripted: (x, y, status, 3 one-hot codes), K = 4."""

    def __init__(self, frames: list[np.ndarray], dones: list[list[bool]]) -> None:
        space = gym.spaces.Box(-1.0, 1.0, (4, 6), np.float32)
        super().__init__(2, space, gym.spaces.Discrete(2))
        self.frames, self.dones, self.t = frames, dones, 0

    def reset(self):
        self.t = 0
        return self.frames[0]

    def step_async(self, actions):
        pass

    def step_wait(self):
        self.t += 1
        dones = np.array(self.dones[self.t])
        infos = [{"terminal_observation": self.frames[self.t][i] * 1} if dones[i] else {} for i in range(2)]
        return self.frames[self.t], np.zeros(2), dones, infos

    def close(self): pass
    def get_attr(self, *a, **k): return [None] * 2
    def set_attr(self, *a, **k): pass
    def env_method(self, *a, **k): return [None] * 2
    def env_is_wrapped(self, *a, **k): return [False] * 2
    def seed(self, seed=None): return [None] * 2


def _row(px: list[float], code: int, status: float = 1.0) -> np.ndarray:
    onehot = np.eye(3)[code]
    return np.concatenate([norm([px])[0], [status], onehot]).astype(np.float32)


def test_vec_env_adapter_merges_duplicates_keeps_codes_and_handles_episode_ends() -> None:
    off = np.zeros(6, np.float32)
    f0 = np.stack([np.stack([_row([10, 10], 1), _row([12, 10], 1), _row([40, 40], 2), off])] * 2)
    f1 = np.stack([np.stack([_row([41, 42], 2), _row([12, 12], 1), _row([11, 12], 1), off])] * 2)
    env = TrackedKeypointVecEnv(_Rows([f0, f1], [[False, False], [False, True]]), n_codes=3, image_size=SIZE)
    assert env.observation_space.shape == (4, 6)
    obs = env.reset()
    assert obs[0, :, 2].tolist() == [1.0, 1.0, 0.0, 0.0]  # two keypoints on one object merged
    np.testing.assert_allclose(obs[0, 0, :2], norm([[11.0, 10.0]])[0], atol=1e-6)
    assert obs[0, 0, 3:].tolist() == [0, 1, 0] and obs[0, 1, 3:].tolist() == [0, 0, 1]
    obs, _, dones, infos = env.step(np.zeros(2, int))
    # env 0 carries on: its slots keep their objects though the encoder listed them in another order
    np.testing.assert_allclose(obs[0, 0, :2], norm([[11.5, 12.0]])[0], atol=1e-6)
    np.testing.assert_allclose(obs[0, 1, :2], norm([[41.0, 42.0]])[0], atol=1e-6)
    # env 1 finished: its terminal observation continued the old tracks, the new episode starts afresh
    term = infos[1]["terminal_observation"]
    np.testing.assert_allclose(term[:2, :2], obs[0, :2, :2], atol=1e-6)
    assert obs[1, :, 2].tolist() == [1.0, 1.0, 0.0, 0.0] and obs[1, 0, 3:].tolist() == [0, 0, 1]


def test_vec_env_adapter_refuses_rows_that_are_not_codes() -> None:
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(ValueError, match=r"box keypoint observations \(K, 3 \+ F\)"):
        TrackedKeypointVecEnv(venv, 0, SIZE)
    rows = _Rows([np.zeros((2, 4, 6), np.float32)], [[False, False]])
    with pytest.raises(ValueError, match="F = 3 features but n_codes is 2"):
        TrackedKeypointVecEnv(rows, 2, SIZE)


def test_tracked_duplicates_and_index_jumps_become_one_keypoint_per_object() -> None:
    from envs.keypoint_audit import keypoint_properties, record_episodes, track_episodes

    episodes = record_episodes("MintTasks/Catch-v0", 1, seed=7)
    ep = episodes[0]
    t, n = ep.visible.shape
    centres = np.clip(ep.centres, -0.999, 0.999)
    # three rows per slot (a 1-px copy on each side), listed in a different random order every frame
    rows = np.concatenate([centres, centres + 1 / 32, centres - 1 / 32], axis=1)
    status = np.tile(ep.visible, 3).astype(np.float32)
    order = np.stack([np.random.default_rng(i).permutation(3 * n) for i in range(t)])
    shuffled = (np.take_along_axis(rows, order[..., None], 1), np.take_along_axis(status, order, 1))
    raw = keypoint_properties(episodes, [shuffled])
    tracked = keypoint_properties(episodes, track_episodes(episodes, [shuffled]))
    assert raw["keypoints_per_obj"] > 2.9 and raw["jumps_per_100"] > 50  # (copies at the frame edge fall off)
    assert tracked["keypoints_per_obj"] < 1.05 and tracked["jumps_per_100"] < 2
    assert tracked["detect_objects"] >= raw["detect_objects"] - 1


def test_properties_script_track_flags_are_checked(tmp_path, capsys) -> None:
    import subprocess
    import sys

    enc = tmp_path / "encoder.pt"
    enc.write_bytes(b"x")
    for argv, msg in ((["--codebook", str(enc)], "--codebook is read by --track only"),
                      (["--track", "--codebook", str(tmp_path / "none.npy")], "no such file"),
                      (["--track", "--glimpse-size", "0"], "--glimpse-size must be >= 1")):
        r = subprocess.run([sys.executable, "experiments/keypoint_properties.py", "--encoder", str(enc), *argv],
                           capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_properties_script_measures_refined_keypoints(tmp_path) -> None:
    """--refine W adds an entry '<label>-rf<W>': the audit of mint_rl.refine's keypoints on the same frames."""
    import subprocess
    import sys

    import torch

    from envs.keypoint_audit import encode_episodes, keypoint_properties, record_episodes
    from tests.conftest import load_script
    from mint_rl.checkpoint import save_checkpoint
    from mint_rl.config import MintConfig
    from mint_rl.encoder import KeypointEncoder
    from mint_rl.refine import refine_keypoints

    torch.manual_seed(0)
    cfg = MintConfig(num_keypoints=4, image_size=(64, 64), hidden_channels=8, feature_dim=0)
    encoder = KeypointEncoder(cfg).eval()
    path = save_checkpoint(tmp_path / "e" / "encoder.pt", {"config": cfg.to_dict(), "encoder": encoder.state_dict(),
                                                           "encoder_type": "mint"})
    results = load_script("keypoint_properties").main(["--encoder", str(path), "--episodes", "1", "--refine", "9", "--out", str(tmp_path / "p")])
    assert list(results) == ["e", "e-rf9"]
    episodes = record_episodes("MintTasks/Catch-v0", 1, seed=20_000)  # the script's held-out episodes
    (coords, status), = encode_episodes(encoder, episodes)
    refined = refine_keypoints(torch.from_numpy(episodes[0].frames).permute(0, 3, 1, 2).contiguous(),
                               torch.from_numpy(coords), 9).numpy()
    assert not np.allclose(refined, coords)  # some keypoint met an object, so the checks below can fail
    expected = keypoint_properties(episodes, [(refined, status)])
    raw = keypoint_properties(episodes, [(coords, status)])
    assert results["e"]["error_px"] == pytest.approx(raw["error_px"], nan_ok=True)
    assert (expected["error_px"], expected["detect_objects"]) != (raw["error_px"], raw["detect_objects"])
    assert results["e-rf9"]["error_px"] == pytest.approx(expected["error_px"], nan_ok=True)
    assert results["e-rf9"]["detect_objects"] == pytest.approx(expected["detect_objects"])
    r = subprocess.run([sys.executable, "experiments/keypoint_properties.py", "--encoder", str(path), "--refine", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--refine 4: give odd windows >= 3 pixels" in r.stderr, r.stderr
