"""agents/dynamics.py (keypoint dynamics models, windows, loss, trainer, checkpoints),
envs/dynamics_evaluation.py (ground-truth events, metrics) and experiments/object_dynamics.py through its
entry point (a tiny end-to-end run)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.dynamics import (
    ConstantVelocity, DynamicsCheckpointError, DynamicsPrediction, KeypointInteractionNetwork, PerKeypointGRU,
    build_dynamics, dynamics_loss, encoder_identifier, load_dynamics, make_windows, predict_sequence, save_dynamics,
    train_dynamics)
from envs.dynamics_evaluation import collision_events, crossing_border, episode_metrics, windows_of
from tests.conftest import load_script

LEARNED = (KeypointInteractionNetwork, PerKeypointGRU)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


def randomize_head(model: torch.nn.Module, seed: int = 0) -> None:
    """The decoders start at zero ("stay as you are"); give them weights so inputs matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.head.weight.copy_(torch.randn(model.head.weight.shape, generator=g) * 0.5)


def random_history(b=3, t=4, k=5, f=0, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coords = torch.rand(b, t, k, 2, generator=g) * 2 - 1
    status = (torch.rand(b, t, k, 1, generator=g) > 0.3).float()
    return torch.cat([coords, status, torch.randn(b, t, k, f, generator=g)], dim=-1)


def two_body(n_seq: int, length: int, seed: int, radius: float = 0.2):
    """Two equal discs in free space (no walls) that bounce elastically off each other.

    :return: coords list of ``(T, 2, 2)`` and, per sequence, ``(T,)`` bool: a collision
        changed the velocities between frame t and t + 1.
    """
    rng = np.random.default_rng(seed)
    coords, events = [], []
    for _ in range(n_seq):
        p = np.array([[-0.9, 0.0], [0.9, 0.0]]) + rng.normal(0, 0.1, (2, 2))
        v = np.array([[0.06, 0.0], [-0.06, 0.0]]) + rng.normal(0, 0.01, (2, 2))
        cs, ev = [], []
        for _ in range(length):
            cs.append(p.copy())
            p = p + v
            d = p[1] - p[0]
            dist = np.linalg.norm(d)
            hit = False
            if dist < 2 * radius:
                n = d / dist
                rel = np.dot(v[1] - v[0], n)
                if rel < 0:
                    v[0] += rel * n
                    v[1] -= rel * n
                    hit = True
            ev.append(hit)
        coords.append(np.array(cs, np.float32))
        events.append(np.array(ev))
    return coords, events


# --------------------------------------------------------------------------- shapes and basics
@pytest.mark.parametrize("cls", LEARNED + (ConstantVelocity,))
def test_output_shapes(cls):
    model = cls(num_keypoints=5, horizon=3, feature_dim=2)
    pred = model(random_history(b=3, t=6, k=5, f=2))  # a longer history is cut to the model's window
    assert isinstance(pred, DynamicsPrediction)
    assert pred.coords.shape == (3, 3, 5, 2) and pred.status_logits.shape == (3, 3, 5)
    assert ((pred.status >= 0) & (pred.status <= 1)).all()


@pytest.mark.parametrize("cls", LEARNED)
def test_untrained_model_predicts_staying(cls):
    hist = random_history()
    pred = cls(num_keypoints=5)(hist)
    assert torch.allclose(pred.coords, hist[:, -1, :, :2].unsqueeze(1).expand_as(pred.coords))
    assert torch.allclose(pred.status, hist[:, -1, :, 2].clamp(1e-4, 1 - 1e-4).unsqueeze(1).expand(-1, 3, -1), atol=1e-5)


def test_constant_velocity_is_exact_on_a_linear_track():
    t = np.arange(20, dtype=np.float32)
    coords = np.stack([np.stack([-0.9 + 0.05 * t, 0.3 - 0.02 * t], -1), np.stack([0.1 + 0 * t, 0.5 - 0.04 * t], -1)], 1)
    status = np.ones((20, 2), np.float32)
    windows = make_windows(coords, status, history=4, horizon=3)
    pred = ConstantVelocity(num_keypoints=2)(windows.inputs)
    torch.testing.assert_close(pred.coords, windows.target_coords, atol=1e-5, rtol=0)
    assert (pred.status > 0.99).all()


def test_constant_velocity_ignores_steps_from_inactive_frames():
    hist = torch.zeros(1, 2, 1, 3)
    hist[0, 0, 0] = torch.tensor([-0.8, 0.0, 0.0])  # inactive: its position is no position
    hist[0, 1, 0] = torch.tensor([0.5, 0.5, 1.0])
    pred = ConstantVelocity(num_keypoints=1)(hist)
    assert torch.allclose(pred.coords, torch.tensor([0.5, 0.5]).expand(1, 3, 1, 2))


@pytest.mark.parametrize("cls", LEARNED)
def test_permutation_equivariance(cls):
    torch.manual_seed(0)
    model = cls(num_keypoints=6)
    randomize_head(model)
    hist = random_history(b=2, k=6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, out_perm = model(hist), model(hist[:, :, perm])
    torch.testing.assert_close(out_perm.coords, out.coords[:, :, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_perm.status_logits, out.status_logits[:, :, perm], atol=1e-5, rtol=1e-5)


def test_interaction_network_masks_inactive_senders_and_gru_has_no_interactions():
    torch.manual_seed(0)
    hist = random_history(b=1, k=4)
    hist[:, :, :3, 2] = 1.0
    hist[:, :, 3, 2] = 0.0  # keypoint 3 inactive throughout
    moved = hist.clone()
    moved[:, :, 3, :2] += 0.3
    net = KeypointInteractionNetwork(num_keypoints=4)
    randomize_head(net)
    a, b = net(hist), net(moved)
    torch.testing.assert_close(a.coords[:, :, :3], b.coords[:, :, :3])  # others do not see keypoint 3
    moved_active = hist.clone()
    moved_active[:, :, 0, :2] += 0.3
    assert not torch.allclose(net(moved_active).coords[:, :, 1], a.coords[:, :, 1])  # they do see keypoint 0
    gru = PerKeypointGRU(num_keypoints=4)
    randomize_head(gru)
    torch.testing.assert_close(gru(moved_active).coords[:, :, 1:], gru(hist).coords[:, :, 1:])


@pytest.mark.parametrize("cls", LEARNED)
def test_action_conditioning_changes_predictions(cls):
    torch.manual_seed(0)
    model = cls(num_keypoints=3, action_dim=2)
    randomize_head(model)
    hist = random_history(b=2, k=3)
    a0 = torch.zeros(2, 4, 2)
    a1 = a0.clone()
    a1[:, -1, 0] = 1.0
    assert not torch.allclose(model(hist, a0).coords, model(hist, a1).coords)
    with pytest.raises(ValueError, match="action-conditioned"):
        model(hist)
    with pytest.raises(ValueError, match="actions must have shape"):
        model(hist, torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="takes no actions"):
        cls(num_keypoints=3)(hist, a0)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", LEARNED + (ConstantVelocity,))
def test_input_errors(cls):
    model = cls(num_keypoints=5, history=4)
    with pytest.raises(ValueError, match="needs at least 4"):
        model(random_history(t=3, k=5))
    with pytest.raises(ValueError, match="K = 6"):
        model(random_history(k=6))
    with pytest.raises(ValueError, match="D = 4"):
        model(random_history(k=5, f=1))
    with pytest.raises(ValueError, match=r"\(B, T, K, D\)"):
        model(torch.zeros(4, 5, 3))
    with pytest.raises(ValueError, match="unknown dynamics model"):
        build_dynamics("transformer", num_keypoints=5)


def test_make_windows():
    coords = [np.random.rand(10, 3, 2).astype(np.float32), np.random.rand(8, 3, 2).astype(np.float32)]
    status = [np.ones((10, 3)), np.zeros((8, 3))]
    w = make_windows(coords, status, history=4, horizon=3)
    assert len(w) == (10 - 6) + (8 - 6) and w.inputs.shape == (6, 4, 3, 3)
    i = 1  # sequence 0, newest history frame 4
    assert w.sequence[i] == 0 and w.source[i] == 4
    np.testing.assert_allclose(w.inputs[i, :, :, :2], coords[0][1:5])
    np.testing.assert_allclose(w.target_coords[i], coords[0][5:8])
    assert (w.sequence[4:] == 1).all() and (w.target_status[4:] == 0).all()  # no window spans sequences
    assert len(make_windows(coords[1][:5], status[1][:5], 4, 3)) == 0
    feats = make_windows(coords[0], status[0], 4, 3, features=np.zeros((10, 3, 2)), actions=np.ones((10, 5)))
    assert feats.inputs.shape[-1] == 5 and feats.actions.shape == (4, 4, 5)
    with pytest.raises(ValueError, match="same K"):
        make_windows([coords[0], np.zeros((9, 4, 2))], [status[0], np.zeros((9, 4))])


def test_dynamics_loss_masks_inactive_targets():
    target = torch.zeros(2, 3, 4, 2)
    status = torch.ones(2, 3, 4)
    status[:, :, 3] = 0.0
    logits = torch.full((2, 3, 4), 20.0)
    logits[:, :, 3] = -20.0
    coords = target.clone()
    coords[:, :, 3] = 5.0  # wrong, but inactive in the target: not counted
    loss, terms = dynamics_loss(DynamicsPrediction(coords, logits), target, status)
    assert terms["loss/coords"] == 0.0 and loss.item() < 1e-6
    coords[:, :, 0, 0] = 0.05  # an error of δ costs 0.5 per affected keypoint-step
    _, terms = dynamics_loss(DynamicsPrediction(coords, logits), target, status, delta=0.05)
    assert terms["loss/coords"] == pytest.approx(0.5 / 3, rel=1e-4)
    with pytest.raises(ValueError, match="shape"):
        dynamics_loss(DynamicsPrediction(coords, logits), target[:, :2], status)


# --------------------------------------------------------------------------- learning
def test_interaction_network_fits_a_small_dataset():
    torch.manual_seed(0)
    coords, _ = two_body(4, 40, seed=0)
    windows = make_windows(coords, [np.ones(c.shape[:2]) for c in coords])
    model = KeypointInteractionNetwork(num_keypoints=2, hidden=16)
    log = train_dynamics(model, windows, steps=100, batch=16, lr=3e-3, seed=0, progress=False)
    first, last = np.mean([h["loss/total"] for h in log[:10]]), np.mean([h["loss/total"] for h in log[-10:]])
    assert last < 0.3 * first, (first, last)
    assert not model.training
    assert train_dynamics(ConstantVelocity(2), windows, steps=10, progress=False) == []


@pytest.mark.slow
def test_interaction_beats_no_interaction_on_toy_collisions():
    """Two discs in free space: only collisions deviate from constant velocity."""
    coords, _ = two_body(100, 30, seed=1)
    test_coords, test_events = two_body(40, 30, seed=2)
    ones = [np.ones(c.shape[:2]) for c in coords]
    train = make_windows(coords, ones)
    test = make_windows(test_coords, [np.ones(c.shape[:2]) for c in test_coords])
    # windows whose predicted steps (source .. source + 3) cross a collision
    coll = torch.tensor([test_events[s][t:t + 3].any() for s, t in zip(test.sequence.tolist(), test.source.tolist())])
    assert coll.sum() > 50
    errors = {}
    for name in ("interaction", "gru", "constant_velocity"):
        torch.manual_seed(0)
        model = build_dynamics(name, num_keypoints=2)
        train_dynamics(model, train, steps=1500, batch=64, seed=0, progress=False)
        with torch.no_grad():
            pred = model(test.inputs)
        errors[name] = (pred.coords - test.target_coords).norm(dim=-1)[coll][:, 2].mean().item()
    assert errors["interaction"] < 0.8 * errors["gru"], errors
    assert errors["interaction"] < 0.8 * errors["constant_velocity"], errors


def test_predict_sequence_rows():
    coords = np.cumsum(np.full((12, 2, 2), 0.01, np.float32), axis=0)
    pred, status = predict_sequence(ConstantVelocity(2, history=4), coords, np.ones((12, 2)))
    assert pred.shape == (12, 3, 2, 2) and np.isnan(pred[:3]).all() and np.isfinite(pred[3:]).all()
    np.testing.assert_allclose(pred[5, 1], coords[7], atol=1e-6)
    assert (status[3:] > 0.99).all()


# --------------------------------------------------------------------------- checkpoints
def test_save_load_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    model = KeypointInteractionNetwork(num_keypoints=5, hidden=16, rounds=2)
    randomize_head(model)
    encoder_ckpt = tmp_path / "encoder.pt"
    encoder_ckpt.write_bytes(b"pretend encoder weights")
    other_ckpt = tmp_path / "other.pt"
    other_ckpt.write_bytes(b"another encoder")
    path = save_dynamics(tmp_path / "dyn" / "model.pt", model,
                         {"encoder_id": encoder_identifier(encoder_ckpt), "scene": "x"})
    loaded, meta = load_dynamics(path, expected_num_keypoints=5, expected_encoder=encoder_ckpt)
    assert isinstance(loaded, KeypointInteractionNetwork) and loaded.rounds == 2 and meta["scene"] == "x"
    hist = random_history()
    torch.testing.assert_close(loaded(hist).coords, model(hist).coords)
    assert not list((tmp_path / "dyn").glob("*.tmp"))  # atomic write leaves no temporary file
    with pytest.raises(DynamicsCheckpointError, match="K = 5 keypoints but K = 6"):
        load_dynamics(path, expected_num_keypoints=6)
    with pytest.raises(DynamicsCheckpointError, match="another encoder|expected encoder"):
        load_dynamics(path, expected_encoder=other_ckpt)
    with pytest.raises(DynamicsCheckpointError, match="expected encoder"):
        load_dynamics(path, expected_encoder="ground_truth")
    with pytest.raises(DynamicsCheckpointError, match="does not exist"):
        load_dynamics(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DynamicsCheckpointError, match="cannot be read"):
        load_dynamics(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="encoder_id"):
        save_dynamics(tmp_path / "x.pt", model, {})
    cv_path = save_dynamics(tmp_path / "cv.pt", ConstantVelocity(5), {"encoder_id": "ground_truth"})
    cv, _ = load_dynamics(cv_path, expected_num_keypoints=5, expected_encoder="ground_truth")
    assert isinstance(cv, ConstantVelocity)
    assert encoder_identifier(encoder_ckpt) == encoder_identifier(str(encoder_ckpt)) != encoder_identifier(other_ckpt)


# --------------------------------------------------------------------------- the evaluation protocol
def hand_made_gt(length: int = 12) -> dict:
    """Objects 0 and 1 (size 8 px) approach along x and bounce at frame 6; object 2 bounces off the left wall."""
    n = 3
    gt = {"centres_px": np.zeros((length, n, 2)), "velocities_px": np.zeros((length, n, 2))}
    for t in range(length):
        step = min(t, 5) - max(t - 5, 0)  # ±1 px per step, reversed after frame 5
        gt["centres_px"][t, 0] = (16 + step, 30)
        gt["centres_px"][t, 1] = (36 - step, 30)
        gt["velocities_px"][t, 0] = (1 if t < 6 else -1, 0)
        gt["velocities_px"][t, 1] = (-1 if t < 6 else 1, 0)
        gt["centres_px"][t, 2] = (8 - min(t, 4) + max(t - 4, 0), 50)
        gt["velocities_px"][t, 2] = (-1 if t < 5 else 1, 0)
    scale = np.array([32.0, 32.0])
    return {"centres": (gt["centres_px"] + 0.5) / scale - 1, "velocities": gt["velocities_px"] / scale,
            "sizes": np.full((length, n), 8.0), "present": np.ones((length, n), bool),
            "visible": np.ones((length, n), bool), "static": np.zeros((length, n), bool),
            "ids": np.tile(np.arange(n), (length, 1)), "areas": np.full((length, n), 40)}


def test_collision_events_and_windows():
    gt = hand_made_gt()
    events = collision_events(gt, 64, 64)
    assert events[:, 0].nonzero()[0].tolist() == [6] and events[:, 1].nonzero()[0].tolist() == [6]
    assert not events[:, 2].any()  # a wall bounce is no collision
    win = windows_of(events, gt["ids"], horizon=2)
    assert win[:, 0].nonzero()[0].tolist() == [4, 5, 6]
    assert not crossing_border(gt, n_walled=3, height=64, width=64).any()
    entering = dict(gt, centres=gt["centres"].copy())
    entering["centres"][:, 2, 0] = -1.0  # centre on the left edge: half outside
    assert crossing_border(entering, n_walled=2, height=64, width=64)[:, 2].all()


def test_episode_metrics_perfect_predictions():
    gt = hand_made_gt()
    yy, xx = np.mgrid[0:64, 0:64]
    px = (gt["centres"] + 1) * 32 - 0.5
    gt["masks"] = (np.hypot(xx[None, None] - px[..., 0, None, None], yy[None, None] - px[..., 1, None, None]) <= 3.5)
    coords, status = gt["centres"].astype(np.float32), np.ones((12, 3), np.float32)
    pred = np.stack([np.roll(coords, -h, axis=0) for h in (1, 2, 3)], axis=1)  # the true future
    m = episode_metrics(pred, np.ones((12, 3, 3)), coords, status, gt, history=4, n_walled=3)
    for h in (1, 2, 3):
        assert m[f"success@{h}"] == 1.0 and m[f"success_coll@{h}"] == 1.0
        assert m[f"err_px@{h}"] < 1e-5 and m[f"motion_err_px@{h}"] < 1e-5 and m[f"status_acc@{h}"] == 1.0
        assert np.isnan(m[f"success_border@{h}"])


# --------------------------------------------------------------------------- the script, through main
ENCODERS = ("mint", "transporter", "ground_truth")


def tiny(out: Path) -> list[str]:
    return ["--out", str(out), "--seeds", "1", "--encoder-steps", "2", "--batch-size", "2", "-k", "3",
            "--train-episodes", "2", "--episode-length", "20", "--eval-episodes", "1", "--eval-length", "24",
            "--dyn-steps", "5", "--dyn-hidden", "8", "--video-frames", "4", "--checkpoint-every", "1", "--no-progress"]


def test_main_end_to_end_tiny(tmp_path):
    od = load_script("object_dynamics")
    out = tmp_path / "run"
    report = od.main(tiny(out) + ["--export", str(tmp_path / "export")])
    for name in ("results.csv", "summary.json", "table.md", "success_vs_horizon_Collisions.png",
                 "rollouts_Collisions.png"):
        assert (out / name).is_file() and (tmp_path / "export" / name).is_file(), name
    for encoder in ENCODERS:
        for model in ("interaction", "gru", "constant_velocity"):
            run = out / "Collisions" / "seed0" / encoder / model
            assert (run / "metrics.json").is_file() and (run / "dynamics.pt").is_file()
            assert (out / "videos" / f"Collisions_{encoder}_{model}.mp4").stat().st_size > 0
        assert (out / "Collisions" / "seed0" / encoder / "interaction" / "metrics.json").is_file()
    k_gt = json.loads((out / "Collisions/seed0/ground_truth/gru/metrics.json").read_text())["num_keypoints"]
    assert k_gt == 8  # one keypoint per object slot of Collisions-v0
    model, meta = load_dynamics(out / "Collisions/seed0/mint/interaction/dynamics.pt", expected_num_keypoints=3,
                                expected_encoder=out / "Collisions/seed0/mint/encoder.pt")
    assert meta["encoder"] == "mint"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["encoder"] for r in rows} == set(ENCODERS)
    for r in rows:
        v = float(r["value"])
        if r["metric"].startswith(("success", "status_acc")) and np.isfinite(v):
            assert 0.0 <= v <= 1.0
    gt_cv = report["summary"]["Collisions"]["ground_truth"]["constant_velocity"]
    assert gt_cv["success@1"]["mean"] > 0.9  # object centres move smoothly
    assert "| ground_truth | interaction | 3 | 1 |" in report["table"]

    before = (out / "Collisions/seed0/mint/gru/metrics.json").stat().st_mtime_ns
    od.main(tiny(out))  # everything finished: skipped
    assert (out / "Collisions/seed0/mint/gru/metrics.json").stat().st_mtime_ns == before
    with pytest.raises(SystemExit, match="another budget"):
        od.main(tiny(out)[:-1] + ["--dyn-steps", "6", "--no-progress"])


def test_help_lists_every_option(capsys):
    od = load_script("object_dynamics")
    with pytest.raises(SystemExit):
        od.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--scenes", "--encoders", "--models", "--seeds", "--mint-checkpoint", "--device", "--dyn-steps"):
        assert flag in text
    with pytest.raises(SystemExit):
        od.main(["--scenes", "Pong"])
