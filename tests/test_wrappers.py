"""MintKeypointWrapper (envs/wrappers.py): spaces, input layouts, frozen and online encoders,
env checkers, rendering and errors."""

from __future__ import annotations

import warnings

import cv2
import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.wrappers import FrameStackObservation, RecordVideo, TransformObservation
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs  # noqa: F401  (registers the scene ids)
from envs.atari import make_atari_env
from envs.wrappers import (ImageLayout, MintKeypointWrapper, ObservationOptions, OnlineEncoderTrainer, OnlineOptions,
                           keypoint_space)
from mint_rl.baselines.transporter import TransporterEncoder
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder

SCENE = "MintScenes/Bouncing-v0"
CFG = MintConfig(num_keypoints=4, image_size=(32, 32), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=2)
K, D = 4, 2 + 1 + 2


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


@pytest.fixture
def encoder() -> KeypointEncoder:
    torch.manual_seed(0)
    return KeypointEncoder(CFG)


def scene(**kwargs) -> gym.Env:
    return gym.make(SCENE, **kwargs)


def reference(encoder: torch.nn.Module, frame: np.ndarray) -> np.ndarray:
    """What the wrapper should give for one RGB/grey uint8 frame: resize (INTER_AREA), encode."""
    h, w = encoder.config.image_size
    if frame.shape[:2] != (h, w):
        frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    if frame.ndim == 2:
        frame = frame[..., None]
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
    encoder.eval()
    with torch.no_grad():
        return encoder(x).as_vector()[0].numpy()


def rollout(env: gym.Env, seed: int, steps: int) -> list:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(steps):
        obs, *_ = env.step(env.action_space.sample())
        out.append(obs)
    return out


# ---------------------------------------------------------------------------- spaces and values
def test_box_observations_match_the_encoder_and_lie_in_the_space(encoder):
    env = MintKeypointWrapper(scene(), encoder)
    space = env.observation_space
    assert isinstance(space, spaces.Box) and space.shape == (K, D) and space.dtype == np.float32
    np.testing.assert_array_equal(space.low[:, :2], -1) and np.testing.assert_array_equal(space.high[:, :2], 1)
    np.testing.assert_array_equal(space.low[:, 2], 0) and np.testing.assert_array_equal(space.high[:, 2], 1)
    assert np.all(np.isinf(space.low[:, 3:])) and np.all(np.isinf(space.high[:, 3:]))
    raw = scene()
    frames = rollout(raw, 0, 5)
    for obs, frame in zip(rollout(env, 0, 5), frames):
        assert obs in space and obs.dtype == np.float32
        np.testing.assert_allclose(obs, reference(encoder, frame), atol=1e-5)


def test_dict_format(encoder):
    env = MintKeypointWrapper(scene(), encoder, options=ObservationOptions(obs_format="dict"))
    space = env.observation_space
    assert isinstance(space, spaces.Dict)
    assert space["coords"].shape == (K, 2) and space["status"].shape == (K,) and space["features"].shape == (K, 2)
    box = MintKeypointWrapper(scene(), encoder)
    for d, b in zip(rollout(env, 1, 4), rollout(box, 1, 4)):
        assert d in space
        np.testing.assert_array_equal(d["coords"], b[:, :2])
        np.testing.assert_array_equal(d["status"], b[:, 2])
        np.testing.assert_array_equal(d["features"], b[:, 3:])


def test_dict_without_features_has_no_features_key():
    enc = KeypointEncoder(CFG.replace(feature_dim=0))
    env = MintKeypointWrapper(scene(), enc, options=ObservationOptions(obs_format="dict"))
    assert set(env.observation_space.spaces) == {"coords", "status"}
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space
    assert MintKeypointWrapper(scene(), enc).observation_space.shape == (K, 3)


def test_feature_bound_clips_and_is_declared(encoder):
    with torch.no_grad():
        encoder.feature_head.weight.mul_(100.0)  # make features large
    env = MintKeypointWrapper(scene(), encoder, options=ObservationOptions(feature_bound=0.5))
    assert np.all(env.observation_space.high[:, 3:] == 0.5)
    for obs in rollout(env, 0, 3):
        assert obs in env.observation_space and np.abs(obs[:, 3:]).max() <= 0.5
    with pytest.raises(ValueError, match="feature_bound"):
        MintKeypointWrapper(scene(), encoder, options=ObservationOptions(feature_bound=0))


def test_keypoint_space_helper():
    assert keypoint_space(3, 1, "box", stack=2).shape == (2, 3, 4)
    assert keypoint_space(3, 1, "dict", stack=2)["status"].shape == (2, 3)
    with pytest.raises(ValueError, match="obs_format"):
        keypoint_space(3, 1, "flat")


# ---------------------------------------------------------------------------- input layouts
def test_input_of_another_size_is_resized(encoder):
    env = MintKeypointWrapper(scene(height=48, width=80), encoder)
    frame, _ = scene(height=48, width=80).reset(seed=2)
    obs, _ = env.reset(seed=2)
    np.testing.assert_allclose(obs, reference(encoder, frame), atol=1e-5)
    up = KeypointEncoder(CFG.replace(image_size=(96, 96)))  # upscaling path (INTER_LINEAR)
    obs, _ = MintKeypointWrapper(scene(), up).reset(seed=0)
    assert obs.shape == (K, D)


def test_grey_input(encoder):
    grey_enc = KeypointEncoder(CFG.replace(in_channels=1))
    env = MintKeypointWrapper(make_atari_env(rgb=False), grey_enc)
    frame, _ = make_atari_env(rgb=False).reset(seed=0)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs, reference(grey_enc, frame), atol=1e-5)
    # (H, W, 1) grey frames too
    with_axis = TransformObservation(make_atari_env(rgb=False), lambda o: o[..., None],
                                     spaces.Box(0, 255, (84, 84, 1), np.uint8))
    np.testing.assert_array_equal(MintKeypointWrapper(with_axis, grey_enc).reset(seed=0)[0], obs)
    # grey → RGB encoder only on request
    with pytest.raises(ValueError, match="grey_to_rgb"):
        MintKeypointWrapper(make_atari_env(rgb=False), encoder)
    env = MintKeypointWrapper(make_atari_env(rgb=False), encoder, options=ObservationOptions(grey_to_rgb=True))
    np.testing.assert_allclose(env.reset(seed=0)[0], reference(encoder, np.repeat(frame[..., None], 3, -1)),
                               atol=1e-5)


def test_float_input_in_unit_range(encoder):
    as_float = TransformObservation(scene(), lambda o: o.astype(np.float32) / 255.0,
                                    spaces.Box(0.0, 1.0, (64, 64, 3), np.float32))
    env = MintKeypointWrapper(as_float, encoder)
    for f, u in zip(rollout(env, 3, 3), rollout(MintKeypointWrapper(scene(), encoder), 3, 3)):
        np.testing.assert_array_equal(f, u)


def test_frame_stacked_input_is_encoded_frame_by_frame(encoder):
    env = MintKeypointWrapper(FrameStackObservation(scene(), 3), encoder)
    assert env.observation_space.shape == (3, K, D)
    stacked = rollout(env, 4, 4)
    single = rollout(MintKeypointWrapper(scene(), encoder), 4, 4)
    for t, obs in enumerate(stacked):
        assert obs in env.observation_space
        # batched forwards differ from single ones in the last float bits
        np.testing.assert_allclose(obs[-1], single[t], atol=1e-5)  # newest frame last
        np.testing.assert_allclose(obs[0], single[max(t - 2, 0)], atol=1e-5)  # reset padding at the start
    grey_dict = ObservationOptions(obs_format="dict", layout="grey_stack")  # (4, 84, 84) is ambiguous: a stack
    grey = MintKeypointWrapper(make_atari_env(rgb=False, frame_stack=4), KeypointEncoder(CFG.replace(in_channels=1)),
                               options=grey_dict)
    assert grey.observation_space["coords"].shape == (4, K, 2)
    assert grey.reset(seed=0)[0] in grey.observation_space


def test_layouts():
    box = lambda shape, dtype=np.uint8: spaces.Box(0, 255 if dtype == np.uint8 else 1, shape, dtype)  # noqa: E731
    assert ImageLayout.from_space(box((84, 84))) == ImageLayout(None, 84, 84, 1, False, False)
    assert ImageLayout.from_space(box((84, 84, 3))) == ImageLayout(None, 84, 84, 3, True, False)
    assert ImageLayout.from_space(box((2, 84, 84))) == ImageLayout(2, 84, 84, 1, False, False)  # S not in {1, 3, 4}
    assert ImageLayout.from_space(box((4, 84, 84, 1))) == ImageLayout(4, 84, 84, 1, True, False)
    assert ImageLayout.from_space(box((84, 84, 3), np.float32)).is_float
    # (4, 84, 84): channels-first RGBA or 4 stacked grey frames; "auto" refuses to guess
    with pytest.raises(ValueError, match="ambiguous"):
        ImageLayout.from_space(box((4, 84, 84)))
    assert ImageLayout.from_space(box((4, 84, 84)), layout="grey_stack") == ImageLayout(4, 84, 84, 1, False, False)
    assert ImageLayout.from_space(box((3, 84, 84)), layout="channels_first") == ImageLayout(None, 84, 84, 3, True,
                                                                                         False, True)
    assert ImageLayout.from_space(box((2, 3, 84, 84)), layout="channels_first") == ImageLayout(2, 84, 84, 3, True,
                                                                                            False, True)


def test_keypoint_stack_with_frame_stack_observation(encoder):
    """Velocity: stack keypoint observations after the wrapper."""
    env = FrameStackObservation(MintKeypointWrapper(scene(), encoder), 2)
    assert env.observation_space.shape == (2, K, D)
    single = rollout(MintKeypointWrapper(scene(), encoder), 5, 3)
    for t, obs in enumerate(rollout(env, 5, 3)):
        assert obs in env.observation_space
        np.testing.assert_array_equal(obs[1], single[t])
        np.testing.assert_array_equal(obs[0], single[max(t - 1, 0)])


# ---------------------------------------------------------------------------- checkers
def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(*args, **kwargs)


@pytest.mark.parametrize("online", [False, True])
@pytest.mark.parametrize("obs_format", ["box", "dict"])
def test_env_checkers_scene(encoder, online, obs_format):
    kwargs = dict(online=OnlineOptions(buffer_size=64)) if online else dict(encoder=encoder)
    options = ObservationOptions(config=CFG if online else None, obs_format=obs_format)
    env = MintKeypointWrapper(scene(), options=options, **kwargs)
    _quiet(check_env, env)
    _quiet(sb3_check_env, env)
    if online:
        assert env.online_trainer.rounds == 0 and len(env.online_trainer.buffers[0]) > 0


@pytest.mark.parametrize("online", [False, True])
def test_env_checkers_atari(encoder, online):
    kwargs = dict(online=OnlineOptions(buffer_size=64), options=ObservationOptions(config=CFG)) if online else \
        dict(encoder=encoder)
    env = MintKeypointWrapper(make_atari_env(), **kwargs)
    _quiet(check_env, env, skip_render_check=True)  # the "human" mode would open a window
    _quiet(sb3_check_env, env)


@pytest.mark.parametrize("online", [False, True])
def test_seeded_reset_is_reproducible(encoder, online):
    kwargs = dict(online=OnlineOptions(buffer_size=64), options=ObservationOptions(config=CFG)) if online else \
        dict(encoder=encoder)
    env = MintKeypointWrapper(make_atari_env(), **kwargs)
    a, b = rollout(env, 7, 5), rollout(env, 7, 5)
    assert data_equivalence(a, b)
    assert not data_equivalence(a, rollout(env, 8, 5))


# ---------------------------------------------------------------------------- encoders
def test_frozen_encoder_is_never_changed(encoder):
    encoder.train()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    env = MintKeypointWrapper(scene(), encoder)
    rollout(env, 0, 5)
    assert encoder.training  # mode restored after every forward
    for key, value in encoder.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)  # BatchNorm stats untouched too
    assert env.online_trainer is None and not env.auto_update
    for call in (lambda: env.update_encoder(1), lambda: env.save_online_state("x.pt"),
                 lambda: env.load_online_state("x.pt")):
        with pytest.raises(RuntimeError, match="online=True"):
            call()


def test_checkpoint_path_encoders(tmp_path, encoder):
    mint = save_checkpoint(tmp_path / "mint.pt", {"config": CFG.to_dict(), "encoder": encoder.state_dict(),
                                                  "encoder_type": "mint"})
    from_path, _ = MintKeypointWrapper(scene(), mint).reset(seed=0)
    from_module, _ = MintKeypointWrapper(scene(), encoder).reset(seed=0)
    np.testing.assert_array_equal(from_path, from_module)
    torch.manual_seed(1)
    transporter = TransporterEncoder(CFG)
    path = save_checkpoint(tmp_path / "tr.pt", {"config": CFG.to_dict(), "encoder": transporter.state_dict(),
                                                "encoder_type": "transporter"})
    env = MintKeypointWrapper(scene(), str(path), options=ObservationOptions(obs_format="dict"))
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space and np.all(obs["status"] == 1.0)
    assert isinstance(env.encoder, TransporterEncoder)


def test_online_encoder_from_config_is_seeded():
    a = MintKeypointWrapper(scene(), online=OnlineOptions(buffer_size=32), options=ObservationOptions(config=CFG))
    b = MintKeypointWrapper(scene(), online=OnlineOptions(buffer_size=32), options=ObservationOptions(config=CFG))
    assert data_equivalence(rollout(a, 0, 3), rollout(b, 0, 3))
    assert isinstance(a.encoder, KeypointEncoder) and a.mint_config is CFG


def test_online_buffer_records_episodes_and_updates_run(encoder):
    env = MintKeypointWrapper(scene(max_steps=4), encoder,
                              online=OnlineOptions(buffer_size=100, update_every=10, updates_per_round=2))
    trainer = env.online_trainer
    buffer = trainer.buffers[0]
    assert trainer.encoder is encoder and buffer.frame_shape == (3, 32, 32)
    before = [p.detach().clone() for p in encoder.parameters()]
    env.reset(seed=0)
    for _ in range(9):  # episodes of 5 frames: reset + 4 steps
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            env.reset()
    assert trainer.rounds == 0 and trainer.trainer.step_count == 0  # 9 < update_every
    episodes = buffer.episode[:len(buffer)].tolist()
    assert episodes == [1] * 5 + [2] * 5 + [3] * 2  # each reset started a new episode
    assert buffer.num_clips(3) == 3 + 3 + 0  # no clip spans a reset
    env.step(0)  # the 10th step runs a round before encoding
    assert trainer.rounds == 1 and trainer.trainer.step_count == 2 and len(trainer.last_terms) == 2
    assert any(not torch.equal(p, q) for p, q in zip(before, encoder.parameters()))
    assert trainer.env_steps == 10


def test_manual_updates_between_rollouts(encoder):
    env = MintKeypointWrapper(scene(), encoder,
                              online=OnlineOptions(buffer_size=100, update_every=2, auto_update=False))
    env.reset(seed=0)
    assert env.update_encoder(3) == []  # one frame: no clip yet
    for _ in range(5):
        env.step(0)
    assert env.online_trainer.rounds == 0  # auto_update is off
    terms = env.update_encoder(3)
    assert len(terms) == 3 and "loss/total" in terms[0]
    env.auto_update = True
    env.step(0), env.step(0)
    assert env.online_trainer.rounds == 2


def test_online_state_round_trip(tmp_path, encoder):
    def make():
        torch.manual_seed(0)
        return MintKeypointWrapper(scene(), KeypointEncoder(CFG),
                                   online=OnlineOptions(buffer_size=50, update_every=4, updates_per_round=2))

    a = make()
    rollout(a, 0, 9)  # two rounds
    path = tmp_path / "online.pt"
    a.save_online_state(path)
    b = make()
    b.load_online_state(path)
    for p, q in zip(a.encoder.state_dict().values(), b.encoder.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    ta, tb = a.online_trainer, b.online_trainer
    assert tb.trainer.step_count == ta.trainer.step_count == 4 and tb.env_steps == 9 and tb.rounds == 2
    torch.testing.assert_close(tb.buffers[0].frames, ta.buffers[0].frames, rtol=0, atol=0)
    # both continue identically (optimiser and sampling RNG restored)
    la, lb = a.update_encoder(1), b.update_encoder(1)
    assert la == lb
    # the file is an encoder checkpoint too
    assert isinstance(load_encoder(path), KeypointEncoder)
    # without the buffer
    a.save_online_state(tmp_path / "light.pt", include_buffer=False)
    c = make()
    c.load_online_state(tmp_path / "light.pt")
    assert len(c.online_trainer.buffers[0]) == 0 and c.online_trainer.trainer.step_count == 5


def test_checkpoint_path_written_after_each_round(tmp_path, encoder):
    path = tmp_path / "co.pt"
    env = MintKeypointWrapper(scene(), encoder, online=OnlineOptions(buffer_size=50, update_every=4,
                                                                      updates_per_round=1, checkpoint_path=path))
    rollout(env, 0, 3)
    assert not path.exists()
    env.step(0)
    assert path.exists() and isinstance(load_encoder(path), KeypointEncoder)


def test_online_trainer_sampling_over_streams():
    trainer = OnlineEncoderTrainer(CFG, num_streams=2, options=OnlineOptions(buffer_size=20, batch_size=8))
    assert all(b.capacity == 10 for b in trainer.buffers)
    frames = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    for t in range(4):
        frames[0], frames[1] = t, 100 + t  # stream 1's frames are distinguishable
        trainer.add(frames, [t == 0, t == 0])
    clips, entropy = trainer.sample()
    assert clips.shape == (8, 3, 3, 32, 32) and entropy.shape == (8, 3, *CFG.grid_size)
    first = clips[:, :, 0, 0, 0].long()
    assert torch.all((first < 100).all(1) | (first >= 100).all(1))  # no clip mixes streams
    assert torch.all(first[:, 1:] - first[:, :-1] == 1)  # consecutive frames


# ---------------------------------------------------------------------------- rendering
def test_render_draws_keypoints(encoder):
    env = MintKeypointWrapper(scene(render_mode="rgb_array"), encoder)
    env.reset(seed=0)
    frame = env.render()
    raw = env.env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    assert not np.array_equal(frame, np.repeat(np.repeat(raw, 4, 0), 4, 1))
    small = MintKeypointWrapper(scene(render_mode="rgb_array"), encoder, render_scale=1)
    small.reset(seed=0)
    assert small.render().shape == (64, 64, 3)
    plain = MintKeypointWrapper(scene(), encoder)
    plain.reset(seed=0)
    assert plain.render() is None  # no render mode


def test_record_video_writes_keypoint_mp4(tmp_path, encoder):
    env = MintKeypointWrapper(scene(render_mode="rgb_array", max_steps=6), encoder)
    env = RecordVideo(env, str(tmp_path / "videos"), episode_trigger=lambda e: True, disable_logger=True)
    env.reset(seed=0)
    for _ in range(6):
        env.step(0)
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 0


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("space", "error", "match"),
    [
        (spaces.Discrete(4), TypeError, "Discrete"),
        (spaces.Box(-1, 1, (8,), np.float32), ValueError, r"\(8,\)"),
        (spaces.Box(0, 255, (4, 2), np.uint8), ValueError, "does not look like images"),
        (spaces.Dict({"image": spaces.Box(0, 255, (64, 64, 3), np.uint8)}), TypeError, "Dict"),
        (spaces.Box(0, 255, (64, 64, 3), np.int16), TypeError, "int16"),
        (spaces.Box(0, 255, (64, 64, 3), np.float32), ValueError, r"\[0, 1\]"),
        (spaces.Box(0, 255, (2, 64, 64, 5), np.uint8), ValueError, "shape"),
    ],
)
def test_rejects_spaces_it_cannot_encode(encoder, space, error, match):
    class Env(gym.Env):
        observation_space = space
        action_space = spaces.Discrete(2)

    with pytest.raises(error, match=match):
        MintKeypointWrapper(Env(), encoder)


def test_rejects_checkpoint_for_another_channel_count(tmp_path):
    grey = KeypointEncoder(CFG.replace(in_channels=1))
    path = save_checkpoint(tmp_path / "grey.pt", {"config": grey.config.to_dict(), "encoder": grey.state_dict()})
    with pytest.raises(ValueError, match="grey.pt.*1-channel.*3-channel"):
        MintKeypointWrapper(scene(), path)
    with pytest.raises(ValueError, match="in_channels=3"):
        MintKeypointWrapper(make_atari_env(rgb=False, frame_stack=2), KeypointEncoder(CFG))


def test_rejects_bad_arguments(tmp_path, encoder):
    with pytest.raises(ValueError, match="device"):
        MintKeypointWrapper(scene(), encoder,
                            options=ObservationOptions(device="cuda:7" if torch.cuda.is_available() else "cuda"))
    with pytest.raises(ValueError, match="device"):
        MintKeypointWrapper(scene(), encoder, options=ObservationOptions(device="tpu"))
    with pytest.raises(ValueError, match="obs_format"):
        MintKeypointWrapper(scene(), encoder, options=ObservationOptions(obs_format="flat"))
    with pytest.raises(ValueError, match="online=True"):
        MintKeypointWrapper(scene())
    with pytest.raises(ValueError, match="layout"):
        MintKeypointWrapper(scene(), encoder, options=ObservationOptions(layout="chw"))
    with pytest.raises(TypeError, match="KeypointEncoder"):
        MintKeypointWrapper(scene(), TransporterEncoder(CFG), online=True)
    with pytest.raises(TypeError, match="config"):
        MintKeypointWrapper(scene(), torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="num_keypoints"):
        MintKeypointWrapper(scene(), encoder, options=ObservationOptions(config=CFG.replace(num_keypoints=5)))
    with pytest.raises(Exception, match="does not exist"):
        MintKeypointWrapper(scene(), tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="update_every"):
        MintKeypointWrapper(scene(), encoder, online=OnlineOptions(update_every=0))
