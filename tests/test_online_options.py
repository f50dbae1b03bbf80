"""Online co-training options (mint_rl/online.py) and the public API the three keypoint adapters share
(envs.wrappers.KeypointAdapterMixin): MintKeypointWrapper, MintKeypointVectorWrapper, MintKeypointVecEnv."""

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
from envs.vector import MintKeypointVectorWrapper
from envs.keypoint_observation import ObservationOptions
from envs.wrappers import KeypointAdapterMixin, MintKeypointWrapper
from mint_rl.baselines import load_encoder
from mint_rl.baselines.transporter import TransporterEncoder
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.online import OnlineEncoderTrainer, OnlineOptions, online_options

SCENE = "MintScenes/Bouncing-v0"
CFG = MintConfig(num_keypoints=4, image_size=(32, 32), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=2)
OPTIONS = ObservationOptions(config=CFG)
N = 2  # sub-envs of the vector adapters

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


# ---------------------------------------------------------------------------- the options
def test_defaults_are_the_former_keyword_defaults():
    options = OnlineOptions()
    assert (options.buffer_size, options.update_every, options.updates_per_round, options.batch_size,
            options.checkpoint_path) == (10_000, 1_000, 50, None, None)
    assert options.auto_update is None  # the adapter's default
    trainer = OnlineEncoderTrainer(CFG)
    assert (trainer.update_every, trainer.updates_per_round, trainer.batch_size, trainer.auto_update,
            trainer.checkpoint_path, trainer.buffers[0].capacity) == (1_000, 50, CFG.batch_size, True, None, 10_000)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("buffer_size", 0, "buffer_size must be >= 1, got 0"),
    ("update_every", 0, "update_every must be >= 1, got 0"),
    ("updates_per_round", -3, "updates_per_round must be >= 1, got -3"),
    ("batch_size", 0, r"batch_size must be >= 1 or None \(config.batch_size\), got 0"),
])
def test_bad_values_are_refused_with_the_field_named(field, value, message):
    with pytest.raises(ValueError, match=message):
        OnlineOptions(**{field: value})
    with pytest.raises(ValueError, match=message):  # before anything is built
        MintKeypointWrapper(gym.make(SCENE), online=OnlineOptions(**{field: value}), options=OPTIONS)


def test_options_are_frozen_and_copy_by_value(tmp_path):
    options = OnlineOptions(buffer_size=64, update_every=8, checkpoint_path=tmp_path / "co.pt")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.buffer_size = 1  # type: ignore[misc]
    assert copy.deepcopy(options) == options == pickle.loads(pickle.dumps(options))
    assert options.resolved(auto_update=False) == dataclasses.replace(options, auto_update=False)
    assert options.resolved(auto_update=False).resolved(auto_update=True).auto_update is False  # set once


def test_online_argument_forms():
    assert online_options(False) is None
    assert online_options(True) == OnlineOptions(auto_update=True)
    assert online_options(np.bool_(True), auto_update=False) == OnlineOptions(auto_update=False)
    with pytest.raises(TypeError, match=r"MintKeypointWrapper\(.*online must be False .*OnlineOptions.*got 'yes'"):
        MintKeypointWrapper(gym.make(SCENE), online="yes", options=OPTIONS)
    with pytest.raises(TypeError, match="online must be"):
        MintKeypointWrapper(gym.make(SCENE), online={"buffer_size": 64}, options=OPTIONS)
    with pytest.raises(TypeError, match=r"MintKeypointWrapper\(MintScenes/Bouncing-v0\): buffer_size is an "
                                        r"OnlineOptions field: pass online=OnlineOptions\(buffer_size=...\)"):
        MintKeypointWrapper(gym.make(SCENE), online=True, options=OPTIONS, buffer_size=64)
    with pytest.raises(TypeError, match=r"buffer_size, updates_per_round are OnlineOptions fields: pass "
                                        r"online=OnlineOptions\(buffer_size=...\)"):
        MintKeypointVecEnv(sb3_venv(), online=True, options=OPTIONS, buffer_size=64, updates_per_round=2)
    with pytest.raises(ValueError, match="num_streams must be >= 1, got 0"):
        OnlineEncoderTrainer(CFG, num_streams=0)


# ---------------------------------------------------------------------------- the three adapters
def sb3_venv() -> DummyVecEnv:
    return DummyVecEnv([lambda: gym.make(SCENE)] * N)


def single(encoder, online):
    return MintKeypointWrapper(gym.make(SCENE), encoder, online=online, options=OPTIONS)


def vector(encoder, online):
    return MintKeypointVectorWrapper(gym.make_vec(SCENE, N, vectorization_mode="sync"), encoder, online=online,
                                     options=OPTIONS)


def sb3(encoder, online):
    return MintKeypointVecEnv(sb3_venv(), encoder, online=online, options=OPTIONS)


ADAPTERS = {"MintKeypointWrapper": single, "MintKeypointVectorWrapper": vector, "MintKeypointVecEnv": sb3}


def play(adapter, steps: int) -> None:
    """Reset, then ``steps`` steps with action 0, whatever the adapter's API."""
    if isinstance(adapter, MintKeypointVecEnv):
        adapter.reset()
        for _ in range(steps):
            adapter.step(np.zeros(N, dtype=int))
    elif isinstance(adapter, MintKeypointVectorWrapper):
        adapter.reset(seed=0)
        for _ in range(steps):
            adapter.step(np.zeros(N, dtype=np.int64))
    else:
        adapter.reset(seed=0)
        for _ in range(steps):
            adapter.step(0)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


API = ("encoder", "config", "online_trainer", "auto_update", "check_frames", "update_encoder", "save_encoder",
       "save_online_state", "load_online_state", "draw")


def test_the_adapters_share_one_api():
    for name in API:
        owners = {cls.__name__: getattr(cls, name) for cls in (MintKeypointWrapper, MintKeypointVectorWrapper,
                                                                MintKeypointVecEnv)}
        assert all(member is getattr(KeypointAdapterMixin, name) for member in owners.values()), name


@pytest.mark.parametrize("make", ADAPTERS.values(), ids=ADAPTERS.keys())
def test_online_update_save_and_draw(tmp_path, make):
    torch.manual_seed(0)
    adapter = make(KeypointEncoder(CFG), OnlineOptions(buffer_size=64, updates_per_round=2))
    assert adapter.auto_update is not isinstance(adapter, MintKeypointVecEnv)  # SB3: between rollouts only
    assert adapter.online_trainer.options.buffer_size == 64
    frame = np.zeros((32, 32, 3), np.uint8)
    assert adapter.draw(frame) is frame  # nothing observed yet
    assert adapter.update_encoder() == []  # no clip yet
    play(adapter, CFG.clip_length)
    before = copy.deepcopy(adapter.encoder.state_dict())
    terms = adapter.update_encoder()
    assert len(terms) == 2 and "loss/total" in terms[0]  # updates_per_round
    assert len(adapter.update_encoder(1)) == 1
    assert not all(torch.equal(v, adapter.encoder.state_dict()[k]) for k, v in before.items())
    path = adapter.save_encoder(tmp_path / "sub" / "encoder.pt")
    assert path == tmp_path / "sub" / "encoder.pt" and not list(path.parent.glob("*.tmp"))  # atomic
    assert same_weights(load_encoder(path), adapter.encoder)
    for index in range(N if not isinstance(adapter, MintKeypointWrapper) else 1):
        drawn = adapter.draw(frame, index)
        assert drawn.shape == (256, 256, 3) and drawn.dtype == np.uint8 and drawn.any()  # upscaled, keypoints
    assert adapter.draw(frame, 0, scale=1).shape == (32, 32, 3)
    # a new adapter resumes from the saved encoder
    assert same_weights(make(path, OnlineOptions(buffer_size=64)).encoder, adapter.encoder)


@pytest.mark.parametrize("make", ADAPTERS.values(), ids=ADAPTERS.keys())
def test_frozen_save_and_draw(tmp_path, make):
    torch.manual_seed(0)
    encoder = KeypointEncoder(CFG)
    adapter = make(encoder, False)
    play(adapter, 1)
    assert adapter.online_trainer is None and not adapter.auto_update
    with pytest.raises(RuntimeError, match=r"update_encoder needs online co-training; the encoder is frozen .*"
                                           r"online=True"):
        adapter.update_encoder()
    path = adapter.save_encoder(tmp_path / "frozen.pt")
    loaded = load_encoder(path)
    assert isinstance(loaded, KeypointEncoder) and loaded.config == CFG and same_weights(loaded, encoder)
    assert adapter.draw(np.zeros((32, 32, 3), np.uint8), 0).any()


def test_frozen_baseline_encoder_saves_with_its_type(tmp_path):
    torch.manual_seed(0)
    transporter = TransporterEncoder(CFG)
    env = MintKeypointWrapper(gym.make(SCENE), transporter)
    loaded = load_encoder(env.save_encoder(tmp_path / "transporter.pt"))
    assert isinstance(loaded, TransporterEncoder) and same_weights(loaded, transporter)


def test_sb3_adapter_auto_update_follows_the_options():
    assert MintKeypointVecEnv(sb3_venv(), online=True, options=OPTIONS).auto_update is False
    assert MintKeypointVecEnv(sb3_venv(), online=OnlineOptions(), options=OPTIONS).auto_update is False
    assert MintKeypointVecEnv(sb3_venv(), online=OnlineOptions(auto_update=True), options=OPTIONS).auto_update is True
    assert MintKeypointVectorWrapper(gym.make_vec(SCENE, N, vectorization_mode="sync"), online=OnlineOptions(),
                                     options=OPTIONS).auto_update is True


# ---------------------------------------------------------------------------- env spec
def test_env_spec_round_trips_the_options(tmp_path):
    options = OnlineOptions(buffer_size=64, update_every=8, updates_per_round=2, auto_update=False,
                            checkpoint_path=tmp_path / "co.pt")
    view = OPTIONS.replace(feature_bound=3.0, glimpse_size=3, colour_codes=np.eye(3, dtype=np.float32))
    env = MintKeypointWrapper(gym.make(SCENE, max_steps=7), online=options, options=view, render_scale=2)
    spec = env.spec
    recorded = spec.additional_wrappers[-1]
    assert recorded.name == "MintKeypointWrapper" and recorded.kwargs["online"] == options
    assert recorded.kwargs["options"] == view and recorded.kwargs["render_scale"] == 2
    assert sorted(recorded.kwargs) == ["encoder", "online", "options", "render_scale"]  # each options object once

    again = gym.make(spec)
    assert isinstance(again, MintKeypointWrapper) and again.spec == spec
    assert again.online_trainer.options == options and again.render_scale == 2
    assert again.observation_options == view and again.config == CFG
    assert again.observation_space == env.observation_space
    assert again.unwrapped.spec.kwargs["max_steps"] == 7
    assert gym.make(copy.deepcopy(spec)).online_trainer.options == options  # gym.make deep-copies kwargs
    # the default, online=True, stays a plain JSON value
    plain = MintKeypointWrapper(gym.make(SCENE), online=True)
    assert plain.spec.additional_wrappers[-1].kwargs["online"] is True
    assert '"online": true' in plain.spec.to_json()
