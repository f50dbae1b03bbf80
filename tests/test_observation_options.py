"""The keypoint-observation options (envs.keypoint_observation.ObservationOptions): validation with the
field named, value semantics, and one options object giving the same observations in every adapter."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401  (registers the scene ids)
from agents.vec_env import MintKeypointVecEnv
from envs.keypoint_observation import (GLIMPSE_AT, LAYOUTS, OBS_FORMATS, KeypointObserver, ObservationOptions,
                                       keypoint_space)
from envs.vector import MintKeypointVectorWrapper
from envs.wrappers import MintKeypointWrapper
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.online import OnlineOptions

SCENE = "MintTasks/Catch-v0"  # 64×64 RGB
CFG = MintConfig(num_keypoints=4, image_size=(64, 64), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=2)
CODES = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 1], [0.2, 0.7, 0.1]], np.float32)
N = 2  # sub-envs of the vector adapters

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


@pytest.fixture
def encoder() -> KeypointEncoder:
    torch.manual_seed(0)
    return KeypointEncoder(CFG).eval()


# ---------------------------------------------------------------------------- validation
def test_defaults_are_the_former_keyword_defaults():
    options = ObservationOptions()
    assert dataclasses.asdict(options) == dict(
        config=None, device="cpu", obs_format="box", feature_bound=None, layout="auto", grey_to_rgb=False,
        glimpse_size=0, glimpse_at="keypoints", colour_codes=None, drop_code=None, refine_window=0, refine_snap=0,
        encoder_features=True)


@pytest.mark.parametrize(("fields", "error", "message"), [
    (dict(obs_format="flat"), ValueError, r"obs_format must be one of \('box', 'dict'\), got 'flat'"),
    (dict(feature_bound=0), ValueError, r"feature_bound must be > 0 or None \(unbounded\), got 0"),
    (dict(feature_bound=-1.0), ValueError, "feature_bound must be > 0"),
    (dict(feature_bound=float("nan")), ValueError, "feature_bound must be > 0"),
    (dict(layout="chw"), ValueError, r"layout must be one of \('auto', .*\), got 'chw'.*'channels_first' for "
                                     r"\(C, H, W\) frames, 'grey_stack' for \(S, H, W\) grey stacks"),
    (dict(grey_to_rgb="yes"), TypeError, "grey_to_rgb must be True or False, got 'yes'"),
    (dict(encoder_features=0), TypeError, "encoder_features must be True or False, got 0"),
    (dict(refine_window=4), ValueError, r"refine_window must be 0 \(off\) or an odd int >= 3 .*got 4"),
    (dict(refine_window=1), ValueError, "refine_window must be 0"),
    (dict(refine_window=-3), ValueError, "refine_window must be 0"),
    (dict(refine_window=5.0), ValueError, "refine_window must be 0"),
    (dict(refine_window=True), ValueError, "refine_window must be 0"),
    (dict(refine_window=5, refine_snap=6), ValueError, r"refine_snap must be 0 \(off\) or an odd int >= 3 .*got 6"),
    (dict(refine_window=5, refine_snap=True), ValueError, "refine_snap must be 0"),
    (dict(refine_snap=9), ValueError, r"refine_snap=9 needs refine_window"),
    (dict(glimpse_size=-1), ValueError, r"glimpse_size must be an int >= 0 \(the glimpse side in pixels; 0: no "
                                        r"glimpses\), got -1"),
    (dict(glimpse_size=2.5), ValueError, "glimpse_size must be an int >= 0"),
    (dict(glimpse_size=True), ValueError, "glimpse_size must be an int >= 0"),
    (dict(glimpse_at="grid"), ValueError, r"glimpse_at must be one of \('keypoints', 'random'\), got 'grid'"),
    (dict(glimpse_size=4, obs_format="dict"), ValueError,
     r"glimpse_size needs obs_format='box' \(glimpses are appended to each keypoint's row\), got obs_format='dict'"),
    (dict(glimpse_size=3, colour_codes=CODES[0]), ValueError,
     r"colour_codes must be an \(n, C\) array of finite colours .*got shape \(3,\)"),
    (dict(glimpse_size=3, colour_codes=np.zeros((0, 3))), ValueError, r"colour_codes must be .*n >= 1.*\(0, 3\)"),
    (dict(glimpse_size=3, colour_codes=[[0, 0, np.nan]]), ValueError, "colour_codes must be an \\(n, C\\) array of "
                                                                      "finite colours"),
    (dict(glimpse_size=3, colour_codes=[[0, 0, 0], [1, 1]]), ValueError, "colour_codes must be an \\(n, C\\) array"),
    (dict(colour_codes=CODES), ValueError, r"colour_codes need glimpse_size > 0 \(the window whose colour is coded\)"),
    (dict(drop_code=0), ValueError, r"drop_code must be the index of one of the colour_codes \(0 .. n-1, n = 0\)"),
    (dict(glimpse_size=3, colour_codes=CODES, drop_code=4), ValueError, r"drop_code must be .*n = 4\), got 4"),
    (dict(glimpse_size=3, colour_codes=CODES, drop_code=-1), ValueError, "drop_code must be the index"),
    (dict(glimpse_size=3, colour_codes=CODES, drop_code=True), ValueError, "drop_code must be the index"),
    (dict(config={"num_keypoints": 4}), TypeError, "config must be a MintConfig .*got dict"),
    (dict(device=0), TypeError, r"device must be a str \('cpu', 'cuda', 'cuda:N', 'mps', 'auto'\) or a torch.device"),
])
def test_bad_values_are_refused_with_the_field_named(fields, error, message):
    with pytest.raises(error, match=message):
        ObservationOptions(**fields)


def test_every_allowed_value_is_accepted():
    for obs_format in OBS_FORMATS:
        assert ObservationOptions(obs_format=obs_format).obs_format == obs_format
    for layout in LAYOUTS:
        assert ObservationOptions(layout=layout).layout == layout
    for where in GLIMPSE_AT:
        assert ObservationOptions(glimpse_size=3, glimpse_at=where).glimpse_at == where
    assert ObservationOptions(grey_to_rgb=np.bool_(True)).grey_to_rgb is True
    assert ObservationOptions(device=torch.device("cpu"), feature_bound=np.inf, config=CFG).config is CFG


def test_options_are_keyword_only_frozen_and_compare_by_value(tmp_path):
    with pytest.raises(TypeError):
        ObservationOptions(CFG)  # type: ignore[misc]
    options = ObservationOptions(config=CFG, device="cpu", feature_bound=2.0, glimpse_size=3, colour_codes=CODES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.obs_format = "dict"  # type: ignore[misc]
    # the codebook is kept as float32 values in a tuple: equal, hashable and copyable whatever array came in
    assert options.colour_codes == tuple(map(tuple, CODES.tolist()))
    assert options == ObservationOptions(config=CFG, feature_bound=2.0, glimpse_size=3,
                                         colour_codes=CODES.astype(np.float64).tolist())
    assert copy.deepcopy(options) == options == pickle.loads(pickle.dumps(options))
    assert hash(options) == hash(copy.deepcopy(options))  # config (a mutable MintConfig) is left out of the hash
    assert options.replace(glimpse_at="random").glimpse_at == "random"
    with pytest.raises(ValueError, match="glimpse_size needs obs_format='box'"):  # checked again
        options.replace(obs_format="dict")


def test_adapters_check_what_depends_on_the_env_or_the_encoder(encoder):
    base = gym.make(SCENE)
    with pytest.raises(ValueError, match=r"MintKeypointWrapper\(MintTasks/Catch-v0\): glimpse size 65 px is larger "
                                         r"than the 64×64 frames"):
        MintKeypointWrapper(base, encoder, options=ObservationOptions(glimpse_size=65))
    with pytest.raises(ValueError, match=r"MintKeypointWrapper\(MintTasks/Catch-v0\): colour_codes must be an "
                                         r"\(n, 3\) array"):
        MintKeypointWrapper(base, encoder, options=ObservationOptions(glimpse_size=3, colour_codes=CODES[:, :2]))
    with pytest.raises(ValueError, match=r"MintKeypointWrapper\(MintTasks/Catch-v0\): refinement window 65 px is "
                                         r"larger than the 64×64 frames"):
        MintKeypointWrapper(base, encoder, options=ObservationOptions(refine_window=65))
    with pytest.raises(ValueError, match=r"layout='channels_first' needs \(C, H, W\)"):
        MintKeypointWrapper(base, encoder, options=ObservationOptions(layout="channels_first"))
    with pytest.raises(ValueError, match="device 'tpu'"):
        MintKeypointWrapper(base, encoder, options=ObservationOptions(device="tpu"))
    with pytest.raises(TypeError, match=r"options must be an ObservationOptions .*got dict \(ObservationOptions"
                                        r"\(\*\*kwargs\) builds one from a dict\)"):
        MintKeypointWrapper(base, encoder, options={"obs_format": "dict"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options must be an ObservationOptions"):
        KeypointObserver(base.observation_space, encoder, options=OnlineOptions())  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the former keyword arguments
def sb3_venv() -> DummyVecEnv:
    return DummyVecEnv([lambda: gym.make(SCENE)] * N)


def test_former_keyword_arguments_say_where_they_went(encoder):
    with pytest.raises(TypeError, match=r"^MintKeypointWrapper\(MintTasks/Catch-v0\): obs_format is an "
                                        r"ObservationOptions field: pass options=ObservationOptions\(obs_format=...\) "
                                        r"\(envs.keypoint_observation\)$"):
        MintKeypointWrapper(gym.make(SCENE), encoder, obs_format="dict")
    with pytest.raises(TypeError, match=r"^MintKeypointVectorWrapper\(MintTasks/Catch-v0 × 2\): config, device are "
                                        r"ObservationOptions fields: pass options=ObservationOptions\(config=...\)"):
        MintKeypointVectorWrapper(gym.make_vec(SCENE, N, vectorization_mode="sync"), online=True, config=CFG,
                                  device="cpu")
    with pytest.raises(TypeError, match=r"^MintKeypointVecEnv\(MintTasks/Catch-v0 × 2\): glimpse_size is an "
                                        r"ObservationOptions field: .*; buffer_size is an OnlineOptions field: pass "
                                        r"online=OnlineOptions\(buffer_size=...\) \(mint_rl.online\); unexpected "
                                        r"keyword argument 'glimpse'$"):
        MintKeypointVecEnv(sb3_venv(), encoder, glimpse_size=3, buffer_size=64, glimpse=3)


# ---------------------------------------------------------------------------- one options object, same observations
def rollout_single(env: gym.Env, seed: int, steps: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        out.append(env.step(env.action_space.sample())[0])
    return out


def rollout_vector(venv: gym.vector.VectorEnv, seed: int, steps: int) -> list[np.ndarray]:
    obs, _ = venv.reset(seed=seed)
    out = [obs]
    for t in range(steps):
        out.append(venv.step(np.full(N, t % 3))[0])
    return out


def rollout_sb3(venv: MintKeypointVecEnv, seed: int, steps: int) -> list[np.ndarray]:
    venv.seed(seed)
    out = [venv.reset()]
    for t in range(steps):
        out.append(venv.step(np.full(N, t % 3))[0])
    return out


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("options", [
    ObservationOptions(feature_bound=0.5),
    ObservationOptions(glimpse_size=3, glimpse_at="random"),  # the random glimpse positions are seeded per adapter
    ObservationOptions(glimpse_size=5, colour_codes=CODES),
    ObservationOptions(glimpse_size=5, colour_codes=CODES, refine_window=9),
], ids=["feature_bound", "random_glimpses", "colour_codes", "refine"])
def test_two_adapters_from_the_same_options_give_the_same_observations(encoder, options):
    singles = [MintKeypointWrapper(gym.make(SCENE), encoder, options=options)]
    # the second from the first's options, as an eval env beside a training env
    singles.append(MintKeypointWrapper(gym.make(SCENE), singles[0].encoder, options=singles[0].observation_options))
    vectors = [MintKeypointVectorWrapper(gym.make_vec(SCENE, N, vectorization_mode="sync"), encoder, options=options)
               for _ in range(2)]
    sb3s = [MintKeypointVecEnv(sb3_venv(), encoder, options=options) for _ in range(2)]
    for a, b in (singles, vectors, sb3s):
        assert a.observation_options is options and b.observation_options is options
        assert a.observation_space == b.observation_space
    assert same(rollout_single(singles[0], 3, 6), rollout_single(singles[1], 3, 6))
    assert same(rollout_vector(vectors[0], 3, 6), rollout_vector(vectors[1], 3, 6))
    assert same(rollout_sb3(sb3s[0], 3, 6), rollout_sb3(sb3s[1], 3, 6))


def test_no_options_are_the_default_options(encoder):
    plain = MintKeypointWrapper(gym.make(SCENE), encoder)
    default = MintKeypointWrapper(gym.make(SCENE), encoder, options=ObservationOptions())
    assert plain.observation_options == ObservationOptions()
    assert plain.observation_space == default.observation_space
    assert same(rollout_single(plain, 1, 5), rollout_single(default, 1, 5))


@pytest.mark.parametrize(("options", "columns"), [
    (ObservationOptions(), 3 + 2),
    (ObservationOptions(glimpse_size=3), 3 + 2 + 3 * 3 * 3),
    (ObservationOptions(glimpse_size=3, colour_codes=CODES), 3 + 2 + len(CODES)),
], ids=["plain", "glimpses", "colour_codes"])
def test_the_space_follows_the_options(encoder, options, columns):
    expected = keypoint_space(4, 2, options.obs_format, None, options.feature_bound, columns - 5)
    single = MintKeypointWrapper(gym.make(SCENE), encoder, options=options)
    assert single.observation_space == expected and expected.shape == (4, columns)
    assert MintKeypointVecEnv(sb3_venv(), encoder, options=options).observation_space == expected
    obs, _ = single.reset(seed=0)
    assert obs in expected and single.step(0)[0] in expected


def test_without_encoder_features_the_rows_are_the_same_minus_the_features(encoder):
    """encoder_features=False: F = 0 in the space and the rows; every other column as with the features."""
    keep = ObservationOptions(glimpse_size=5, colour_codes=CODES)
    with_f = np.stack(rollout_sb3(MintKeypointVecEnv(sb3_venv(), encoder, options=keep), 3, 6))  # (T, N, K, 3+2+4)
    env = MintKeypointVecEnv(sb3_venv(), encoder, options=keep.replace(encoder_features=False))
    assert env.observation_space == keypoint_space(4, 0, "box", None, None, len(CODES))
    without = np.stack(rollout_sb3(env, 3, 6))
    assert with_f.shape[-1] == 3 + 2 + len(CODES) and np.abs(with_f[..., 3:5]).max() > 0  # features were there
    np.testing.assert_array_equal(without, np.concatenate([with_f[..., :3], with_f[..., 5:]], axis=-1))


def test_drop_code_reports_the_keypoints_of_that_code_inactive_and_nothing_else(encoder):
    """Same frames, with and without ``drop_code``: the status of exactly the keypoints whose one-hot code is the
    dropped one becomes 0; coordinates, codes and every other status are unchanged."""
    # glimpses at random positions (seeded per adapter, so the same in both): the untrained encoder's keypoints sit
    # together, the random windows see both background and objects
    keep = ObservationOptions(glimpse_size=9, glimpse_at="random", colour_codes=CODES)
    plain = np.stack(rollout_sb3(MintKeypointVecEnv(sb3_venv(), encoder, options=keep), 5, 8))  # (T, N, K, 3+F+4)
    codes = plain[..., -len(CODES):]
    code = int(codes.sum(axis=(0, 1, 2)).argmax())  # the most frequent code
    dropped = np.stack(rollout_sb3(MintKeypointVecEnv(sb3_venv(), encoder, options=keep.replace(drop_code=code)), 5, 8))
    coded = codes[..., code] == 1.0
    assert coded.any() and (~coded).any() and (plain[..., 2][coded] > 0).any()  # so the check below can fail
    np.testing.assert_array_equal(dropped[..., 2], np.where(coded, 0.0, plain[..., 2]))
    others = [i for i in range(plain.shape[-1]) if i != 2]
    np.testing.assert_array_equal(dropped[..., others], plain[..., others])


def test_refine_window_moves_the_keypoints_and_reads_the_codes_there(encoder):
    """With ``refine_window``, the coordinates are :func:`mint_rl.refine.refine_keypoints` of the encoder's, the
    colour codes are read at the refined positions, and the status is unchanged (same frames, 80 steps)."""
    from mint_rl.appearance import colour_categories, glimpse_colours
    from mint_rl.refine import refine_keypoints

    plain_opts = ObservationOptions(glimpse_size=5, colour_codes=CODES)
    plain = MintKeypointWrapper(gym.make(SCENE), encoder, options=plain_opts)
    refined = MintKeypointWrapper(gym.make(SCENE), encoder, options=plain_opts.replace(refine_window=11))
    frames = gym.make(SCENE)
    moved = 0
    for t in range(80):
        (a, _), (b, _), (frame, _) = ((e.reset(seed=3) if t == 0 else e.step(0)[:2]) for e in (plain, refined, frames))
        x = torch.from_numpy(frame).permute(2, 0, 1)[None].contiguous()
        expected = refine_keypoints(x, torch.from_numpy(a[None, :, :2]), 11, colour_size=5)[0]
        np.testing.assert_allclose(b[:, :2], expected.numpy(), atol=1e-6)
        np.testing.assert_array_equal(a[:, 2:5], b[:, 2:5])  # status and the encoder's features
        codes = colour_categories(glimpse_colours(x, expected[None], 5), torch.from_numpy(CODES))[0]
        np.testing.assert_array_equal(b[:, 5:], codes.numpy())
        moved += int(not np.allclose(a[:, :2], b[:, :2]))
    assert moved > 0  # the checks above can fail: the untrained encoder's keypoints met an object
