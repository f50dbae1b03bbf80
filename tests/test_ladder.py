"""The observation ladder's pieces: glimpses, true objects as keypoints (degraded), keypoint properties."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers MintTasks/*)
from agents.extractors import KeypointSetExtractor
from envs.keypoint_audit import Episode, keypoint_properties, record_episodes
from envs.object_keypoints import ObjectKeypoints
from mint_rl.glimpses import check_glimpse_size, extract_glimpses, glimpse_coverage
from tests.conftest import load_script


# --------------------------------------------------------------------------- glimpses
def test_glimpse_is_the_block_around_the_keypoint_pixel() -> None:
    frames = torch.arange(2 * 3 * 10 * 12, dtype=torch.int64).reshape(2, 3, 10, 12)
    # pixel (column 4, row 7) of a 12 × 10 frame: centre x = (2·4 + 1)/12 − 1, y = (2·7 + 1)/10 − 1
    coords = torch.tensor([[[9 / 12 - 1, 15 / 10 - 1]], [[9 / 12 - 1 + 0.04, 15 / 10 - 1 - 0.04]]])
    g = extract_glimpses(frames, coords, 3)
    assert g.shape == (2, 1, 3, 3, 3)
    for b in range(2):
        assert torch.equal(g[b, 0], frames[b, :, 6:9, 3:6])  # anywhere inside the pixel: the same block


def test_glimpse_outside_the_frame_reads_zero_and_keeps_dtype() -> None:
    frames = torch.full((1, 1, 4, 4), 7, dtype=torch.uint8)
    g = extract_glimpses(frames, torch.tensor([[[-1.0 + 1 / 4, -1.0 + 1 / 4], [3.0, 3.0]]]), 3)
    assert g.dtype == torch.uint8
    assert g[0, 0, 0].tolist() == [[0, 0, 0], [0, 7, 7], [0, 7, 7]]
    assert g[0, 1].sum() == 0


def test_glimpse_size_checks_name_both_sides() -> None:
    with pytest.raises(ValueError, match=r"glimpse size 80 px is larger than the 64×64 frames"):
        check_glimpse_size(80, 64, 64)
    with pytest.raises(ValueError, match=r"cover 25.0% of a 64×64 frame, more than the allowed 12.5%"):
        check_glimpse_size(16, 64, 64, num_keypoints=4, max_coverage=1 / 8)
    check_glimpse_size(8, 64, 64, num_keypoints=8, max_coverage=1 / 8)  # exactly 1/8
    assert glimpse_coverage(8, 8, 64, 64) == pytest.approx(0.125)


def test_set_extractor_with_glimpses_checks_the_layout() -> None:
    space = gym.spaces.Box(-1, 1, (8, 2 * (3 + 3 * 4 * 4)), np.float32)
    ext = KeypointSetExtractor(space, n_stack=2, glimpse=(3, 4), attention_heads=2)
    assert ext(torch.rand(5, 8, 2 * 51)).shape == (5, 128)
    with pytest.raises(ValueError, match=r"KeypointSetExtractor\(glimpse=\(3, 4\)\) expects 48 glimpse values .* carries 1 features per keypoint"):
        KeypointSetExtractor(gym.spaces.Box(-1, 1, (8, 8), np.float32), n_stack=2, glimpse=(3, 4))


def test_glimpses_of_inactive_keypoints_do_not_reach_the_policy() -> None:
    space = gym.spaces.Box(-1, 1, (2, 3 + 3 * 4 * 4), np.float32)
    ext = KeypointSetExtractor(space, glimpse=(3, 4))
    obs = torch.rand(1, 2, 51)
    obs[0, 1, 2] = 0.0  # keypoint 1 inactive
    other = obs.clone()
    other[0, 1, 3:] = torch.rand(48)
    assert torch.allclose(ext(obs), ext(other))


# --------------------------------------------------------------------------- true objects as keypoints
def _catch(**kw):
    return ObjectKeypoints(gym.make("MintTasks/Catch-v0"), **kw)


def test_rung0_rows_are_the_true_objects_in_slot_order() -> None:
    env = _catch()
    obs, info = env.reset(seed=3)
    for _ in range(25):
        obs, *_, info = env.step(env.action_space.sample())
        o = info["objects"]
        assert obs.shape == env.observation_space.shape == (4, 4)
        assert env.observation_space.contains(obs)
        np.testing.assert_allclose(obs[:, :2], np.clip(o["centres"], -1, 1), atol=1e-6)
        np.testing.assert_array_equal(obs[:, 2], o["visible"].astype(np.float32))
        expected_flag = np.where(o["ids"] < 0, 0, np.where(o["good"], 1, -1))
        expected_flag[0] = 0
        np.testing.assert_array_equal(obs[:, 3], expected_flag)


def test_miss_rate_and_run_length_are_what_was_asked() -> None:
    env = _catch(miss_rate=0.3, miss_run=4.0, seed=1)
    env.reset(seed=0)
    missed, seen = [], []
    for _ in range(3000):
        obs, *_, info = env.step(env.action_space.sample())
        vis = info["objects"]["visible"][1:]
        missed.append((obs[1:, 2] < 0.5) & vis)
        seen.append(vis)
    missed, seen = np.array(missed), np.array(seen)
    assert missed.sum() / seen.sum() == pytest.approx(0.3, abs=0.05)
    assert 0 == env.agent_miss_rate and (np.asarray(missed)[:, 0].sum() > 0)


def test_position_noise_has_the_asked_mean_error() -> None:
    env = _catch(position_noise_px=3.0, seed=2)
    env.reset(seed=0)
    errors = []
    for _ in range(400):
        obs, *_, info = env.step(0)
        o = info["objects"]
        inside = o["visible"] & (np.abs(o["centres"]) < 0.9).all(1)
        errors += list(np.linalg.norm((obs[inside, :2] - o["centres"][inside]) * 32.0, axis=1))
    assert np.mean(errors) == pytest.approx(3.0, rel=0.1)


def test_switches_permute_rows_and_copies_add_rows() -> None:
    env = _catch(num_keypoints=8, keypoints_per_obj=2.0, switch_rate=20.0, seed=4)
    env.reset(seed=0)
    moved, copies = 0, []
    for _ in range(300):
        obs, *_, info = env.step(env.action_space.sample())
        moved += int(np.abs(obs[0, :2] - info["objects"]["centres"][0]).max() > 1e-6)
        copies.append(obs[:, 2].sum() / max(info["objects"]["visible"].sum(), 1))
    assert moved > 0  # row 0 does not always show the paddle
    assert 1.3 < np.mean(copies) < 2.2


def test_no_flag_drops_the_feature_and_reset_seed_reproduces() -> None:
    env = _catch(flag=False, miss_rate=0.2, position_noise_px=2.0, seed=5)
    assert env.observation_space.shape == (4, 3)
    a = [env.reset(seed=9)[0]] + [env.step(i % 3)[0] for i in range(20)]
    b = [env.reset(seed=9)[0]] + [env.step(i % 3)[0] for i in range(20)]
    np.testing.assert_array_equal(np.array(a), np.array(b))


def test_object_keypoints_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="miss_rate must be a probability"):
        _catch(miss_rate=1.5)
    with pytest.raises(ValueError, match="fewer than the env's 4 object slots"):
        _catch(num_keypoints=2)
    with pytest.raises(TypeError, match="needs an object task"):
        ObjectKeypoints(gym.make("CartPole-v1"))


# --------------------------------------------------------------------------- properties
def test_properties_of_perfect_and_empty_keypoints() -> None:
    episodes = record_episodes("MintTasks/Catch-v0", 1, seed=7)
    ep = episodes[0]
    t, n = ep.visible.shape
    perfect = (np.clip(ep.centres, -0.999, 0.999), ep.visible.astype(np.float32))
    props = keypoint_properties(episodes, [perfect], tolerance_px=0)
    assert props["detect_agent"] == 100.0
    assert props["detect_objects"] > 95.0  # centres of objects partly above the frame fall outside their mask
    assert props["detect_focus"] > 95.0
    assert props["error_px"] < 0.5 and props["jumps_per_100"] == 0.0 and props["keypoints_per_obj"] == 1.0
    stages = props["detect_by_stage"]  # entering / falling / passed the paddle
    assert stages[1] == 100.0 and 90.0 < stages[2] <= 100.0 and 50.0 < stages[0] <= 100.0  # centres off the frame
    empty = (np.zeros((t, 3, 2)), np.zeros((t, 3)))
    props = keypoint_properties(episodes, [empty])
    assert props["detect_objects"] == 0.0 and np.isnan(props["error_px"]) and props["detect_by_stage"] == [0.0] * 3
    # keypoints only on objects still in the paddle's reach: the passed stage reads 0, the falling one 100
    h = ep.masks.shape[-2]
    y = (ep.centres[..., 1] + 1) / 2 * h
    reach = (y < y[:, ep.agent.argmax()][:, None] - 2.0) | ep.agent[None]
    props = keypoint_properties(episodes, [(perfect[0], perfect[1] * reach)], tolerance_px=0)
    assert props["detect_by_stage"][1] == 100.0 and props["detect_by_stage"][2] == 0.0
    assert isinstance(episodes[0], Episode)


# --------------------------------------------------------------------------- glimpses in the keypoint wrappers
def _tiny_encoder(k: int = 4):
    from mint_rl.config import MintConfig
    from mint_rl.encoder import KeypointEncoder

    torch.manual_seed(0)
    return KeypointEncoder(MintConfig(num_keypoints=k, image_size=(64, 64), feature_dim=0)).eval()


def test_wrapper_glimpses_match_extract_glimpses() -> None:
    from envs.wrappers import MintKeypointWrapper, ObservationOptions

    base = gym.make("MintTasks/Catch-v0")
    env = MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=4))
    frame, _ = base.reset(seed=1)
    obs = env.observation(frame)
    expected = extract_glimpses(torch.from_numpy(frame).permute(2, 0, 1)[None], torch.from_numpy(obs[None, :, :2]), 4)
    np.testing.assert_allclose(obs[:, 3:], expected.flatten(2)[0].numpy() / 255.0, atol=1e-6)


def test_random_glimpses_are_a_control_and_bad_glimpse_settings_are_refused() -> None:
    from envs.wrappers import MintKeypointWrapper, ObservationOptions

    base = gym.make("MintTasks/Catch-v0")
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    at_kp = MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=4)).observation(frame)
    rand = MintKeypointWrapper(base, _tiny_encoder(),
                               options=ObservationOptions(glimpse_size=4, glimpse_at="random")).observation(frame)
    np.testing.assert_array_equal(at_kp[:, :3], rand[:, :3])
    assert not np.array_equal(at_kp[:, 3:], rand[:, 3:])
    with pytest.raises(ValueError, match=r"glimpse size 65 px is larger than the 64×64 frames"):
        MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=65))
    with pytest.raises(ValueError, match="glimpse_at must be one of"):
        MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=4, glimpse_at="grid"))
    with pytest.raises(ValueError, match="glimpse_size needs obs_format='box'"):
        MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=4, obs_format="dict"))


def test_mlp_extractor_with_glimpses() -> None:
    from agents.extractors import KeypointMlpExtractor

    space = gym.spaces.Box(-1, 1, (8, 2 * (3 + 3 * 4 * 4)), np.float32)
    ext = KeypointMlpExtractor(space, n_stack=2, glimpse=(3, 4))
    obs = torch.rand(5, 8, 2 * 51)
    assert ext(obs).shape == (5, 128)
    obs[:, 3, 2::51] = 0.0  # keypoint 3 inactive in both frames: its glimpses do not matter
    other = obs.clone()
    other[:, 3, 3:51] = torch.rand(5, 48)
    assert torch.allclose(ext(obs), ext(other))
    with pytest.raises(ValueError, match=r"KeypointMlpExtractor\(glimpse=\(3, 8\)\) expects 192"):
        KeypointMlpExtractor(space, n_stack=2, glimpse=(3, 8))


# --------------------------------------------------------------------------- the main job's ladder and glimpse flags
def _refused_by_parser(argv: list[str], capsys) -> str:
    pk = load_script("ppo_keypoints")
    with pytest.raises(SystemExit) as info:
        pk.main(argv + ["--out", "/nonexistent/never-written"])  # refused by the parser: no folder is made
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if "error:" in line][0]


def test_ladder_and_glimpse_flags_are_checked(tmp_path, capsys) -> None:
    assert "needs measured keypoint properties" in _refused_by_parser(["--agents", "objects-miss"], capsys)
    assert "--glimpse-size must be >= 0" in _refused_by_parser(["--glimpse-size", "-1"], capsys)
    bad = tmp_path / "p.json"
    bad.write_text("{}")
    assert "not a properties.json" in _refused_by_parser(["--agents", "objects-noise", "--object-properties",
                                                          str(bad)], capsys)
    bad.write_text('{"encoders": {"a": {}}}')
    assert "--object-properties-label b: not in" in _refused_by_parser(
        ["--agents", "objects-noise", "--object-properties", str(bad), "--object-properties-label", "b"], capsys)
    assert "lack" in _refused_by_parser(["--agents", "objects-noise", "--object-properties", str(bad)], capsys)


def test_glimpses_covering_more_than_an_eighth_of_the_frame_are_refused(tmp_path) -> None:
    pk = load_script("ppo_keypoints")
    with pytest.raises(SystemExit, match=r"--glimpse-size: 8 glimpses of 16×16 px cover 50.0% of a 64×64 frame"):
        pk.main(["--glimpse-size", "16", "-k", "8", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_keypoint_attention_equals_torch_multihead_attention() -> None:
    from agents.extractors import KeypointAttention

    torch.manual_seed(0)
    ours, ref = KeypointAttention(16, 4), torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    h = torch.randn(3, 5, 16)
    keys = torch.tensor([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    expected = ref(h, h, h, key_padding_mask=~keys, need_weights=False)[0]
    torch.testing.assert_close(ours(h, keys), expected, atol=1e-5, rtol=1e-5)


def test_colour_rung_gives_the_objects_colours() -> None:
    env = _catch(flag="colour")
    assert env.observation_space.shape == (4, 6)
    obs, info = env.reset(seed=2)
    for _ in range(10):
        obs, *_, info = env.step(0)
        np.testing.assert_allclose(obs[:, 3:], info["objects"]["colours"] / 255.0, atol=1e-6)
        assert env.observation_space.contains(obs)
    for bad in ("hue", 1, 0.0):  # (1 == True, but a flag must be a bool)
        with pytest.raises(ValueError, match="flag must be True, False or 'colour'"):
            _catch(flag=bad)


# --------------------------------------------------------------------------- colour codes
def test_colour_categories_and_glimpse_colours() -> None:
    from mint_rl.appearance import colour_categories, glimpse_colours

    frames = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    frames[0, 0, 1:3, 1:3] = 255  # a red square at the top left
    frames[0, 1, 5:7, 5:7] = 200  # a green one at the bottom right
    coords = torch.tensor([[[2 * 1 / 8 - 1 + 1 / 8, -1 + 3 / 8], [1 - 3 / 8, 1 - 3 / 8], [0.0, -0.9]]])
    colours = glimpse_colours(frames, coords, 3)
    torch.testing.assert_close(colours[0, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(colours[0, 1], torch.tensor([0.0, 200 / 255, 0.0]))
    codebook = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert colour_categories(colours, codebook)[0].argmax(-1).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="colours have 3 channels but the codebook 2"):
        colour_categories(colours, codebook[:, :2])


def test_fitted_codebook_finds_the_task_palette() -> None:
    from envs.tasks import BAD_COLOUR
    from mint_rl.appearance import fit_colour_codebook

    class EdgeKeypoints(torch.nn.Module):  # a stand-in encoder: one active keypoint on every lit pixel's row start
        def encode(self, x: torch.Tensor):
            from mint_rl.keypoints import Keypoints

            lit = x.amax(1) > 0  # (N, H, W)
            coords = torch.zeros(x.shape[0], 4, 2)
            for i, frame in enumerate(lit):
                ys, xs = torch.nonzero(frame, as_tuple=True)
                pick = torch.linspace(0, max(len(xs) - 1, 0), 4).long()
                if len(xs):
                    coords[i, :, 0] = (2 * xs[pick] + 1) / x.shape[-1] - 1
                    coords[i, :, 1] = (2 * ys[pick] + 1) / x.shape[-2] - 1
            return Keypoints(coords=coords, status=torch.ones(x.shape[0], 4), features=torch.zeros(x.shape[0], 4, 0))

        forward = encode

    env = gym.make("MintTasks/Catch-v0", bad_fraction=0.5)
    frames = [env.reset(seed=0)[0]] + [env.step(env.action_space.sample())[0] for _ in range(300)]
    codebook = fit_colour_codebook(EdgeKeypoints(), np.stack(frames), 3, 6, max_frames=300)
    assert codebook.shape == (6, 3)
    assert np.abs(codebook - BAD_COLOUR / 255.0).sum(1).min() < 0.05  # red has a code of its own


def test_wrapper_colour_codes_give_one_hot_categories() -> None:
    from envs.wrappers import MintKeypointWrapper, ObservationOptions

    base = gym.make("MintTasks/Catch-v0")
    codes = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 1]], np.float32)
    env = MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(glimpse_size=3, colour_codes=codes))
    assert env.observation_space.shape == (4, 3 + 3)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[:, 3:].sum(1), np.ones(4))
    with pytest.raises(ValueError, match="colour_codes need glimpse_size > 0"):
        MintKeypointWrapper(base, _tiny_encoder(), options=ObservationOptions(colour_codes=codes))
    with pytest.raises(ValueError, match=r"colour_codes must be an \(n, 3\) array"):
        MintKeypointWrapper(base, _tiny_encoder(),
                            options=ObservationOptions(glimpse_size=3, colour_codes=codes[:, :2]))


def test_report_only_trains_nothing_and_tables_the_finished_runs(tmp_path) -> None:
    import json

    pk = load_script("ppo_keypoints")
    argv = ["--agents", "objects", "--extractor", "set", "--timesteps", "512", "--eval-episodes", "1",
            "--out", str(tmp_path), "--no-progress", "--overlay-every", "0"]
    pk.main(argv)
    report = pk.main(argv + ["--agents", "objects", "objects-noflag", "--seeds", "2", "--report-only"])
    env_dir = tmp_path / "MintTasks_Catch-v0"
    assert not (env_dir / "objects-noflag-set-auxr2").exists()
    assert not (env_dir / "objects-set-auxr2" / "seed1").exists()
    summary = json.loads((env_dir / "summary.json").read_text())
    assert summary["agents"]["objects-set-auxr2"]["final_return"]["n"] == 1.0
    assert "objects-set-auxr2" in report["table"]


def test_all_degradations_rung_with_and_without_the_flag() -> None:
    from envs.object_keypoints import LADDER_RUNGS, ladder_rung_kwargs

    props = {"detect_by_band": [78.0, 95.0, 74.0], "detect_agent": 99.95, "miss_run": 2.4, "error_px": 3.1,
             "jumps_per_100": 10.5, "keypoints_per_obj": 2.26, "status_flips": 1.8, "num_keypoints": 8}
    blind, flagged = ladder_rung_kwargs("objects-mint", props), ladder_rung_kwargs("objects-mint-flag", props)
    assert blind.pop("flag") is False and flagged.pop("flag") is True
    assert blind == flagged and blind["miss_rate"] == pytest.approx([0.22, 0.05, 0.26])
    assert blind["position_noise_px"] == 3.1 and blind["keypoints_per_obj"] == 2.26 and blind["num_keypoints"] == 8
    assert "objects-mint-flag" in LADDER_RUNGS
    env = ObjectKeypoints(gym.make("MintTasks/Catch-v0"), **flagged, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8, 4)  # (x, y, status, flag) in 8 rows


def test_background_code_is_the_code_nearest_the_median_colour():
    from mint_rl.appearance import background_code

    frames = np.full((6, 16, 16, 3), 20, np.uint8)  # a dark grey background with a red square
    frames[:, 2:6, 2:6] = (250, 0, 0)
    codebook = np.array([[1.0, 0.0, 0.0], [0.1, 0.1, 0.1], [1.0, 1.0, 1.0]])
    assert background_code(codebook, frames) == 1
    frames[:, :, :] = (250, 0, 0)  # now red covers the frame
    assert background_code(codebook, frames) == 0
    with pytest.raises(ValueError, match=r"frames must be \(N, H, W, 3\)"):
        background_code(codebook, frames[..., :2])
