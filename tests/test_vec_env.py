"""SB3 VecEnv wrapper: batched encoding, terminal observations, online updates between rollouts."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

import envs  # noqa: F401
from agents.callbacks import OnlineEncoderCallback
from agents.vec_env import MintKeypointVecEnv
from envs.keypoint_observation import ObservationOptions
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.online import OnlineOptions

CFG = MintConfig(num_keypoints=4, image_size=(32, 32), hidden_channels=8, feature_dim=2, status_threshold=0.5,
                 batch_size=4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: torch and numba on one thread


def make_venv(n=2, max_steps=5):
    return DummyVecEnv([lambda: gym.make("MintScenes/Bouncing-v0", max_steps=max_steps)] * n)


def test_observations_match_direct_encoding_and_terminal_observation_is_encoded():
    torch.manual_seed(0)
    enc = KeypointEncoder(CFG).eval()
    venv = MintKeypointVecEnv(make_venv(), enc)
    assert venv.observation_space.shape == (4, 5)
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (2, 4, 5) and all(o in venv.observation_space for o in obs)
    raw = venv.venv.reset()
    venv.venv.seed(0)
    frames = venv.observer.frames(raw)
    direct = enc(frames[:, 0]).as_vector().detach().numpy()
    np.testing.assert_allclose(venv.observer.encode(frames), direct, atol=1e-5)
    seen_terminal = False
    for _ in range(6):
        obs, _, dones, infos = venv.step(np.zeros(2, dtype=int))
        for i in np.flatnonzero(dones):
            term = infos[i]["terminal_observation"]
            assert term.shape == (4, 5) and np.all(term[:, :2] <= 1) and np.all(term[:, :2] >= -1)
            seen_terminal = True
    assert seen_terminal


def test_terminal_observations_are_encoded_per_env_index():
    """A finished env without a terminal observation does not stop the others' from being encoded."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class DropFirstTerminal(VecEnvWrapper):  # env 0's finished episodes come without terminal_observation
        def reset(self):
            return self.venv.reset()

        def step_wait(self):
            obs, rewards, dones, infos = self.venv.step_wait()
            if dones[0]:
                infos[0].pop("terminal_observation", None)
            return obs, rewards, dones, infos

    torch.manual_seed(0)
    enc = KeypointEncoder(CFG).eval()
    venv = MintKeypointVecEnv(DropFirstTerminal(make_venv()), enc)
    venv.seed(0)
    venv.reset()
    for _ in range(5):
        _, _, dones, infos = venv.step(np.zeros(2, dtype=int))
    assert dones.all()  # both envs end together (max_steps 5)
    assert "terminal_observation" not in infos[0]
    assert infos[1]["terminal_observation"].shape == (4, 5)  # encoded, not the raw frame


def test_online_updates_only_at_rollout_end():
    from stable_baselines3 import PPO

    from agents.extractors import KeypointSetExtractor

    venv = MintKeypointVecEnv(make_venv(max_steps=20), None, online=OnlineOptions(updates_per_round=2),
                              options=ObservationOptions(config=CFG))
    stacked = VecFrameStack(venv, n_stack=2)
    before = {k: v.clone() for k, v in venv.encoder.state_dict().items()}
    model = PPO("MlpPolicy", stacked, n_steps=16, batch_size=16, n_epochs=1, device="cpu",
                policy_kwargs=dict(features_extractor_class=KeypointSetExtractor,
                                   features_extractor_kwargs=dict(features_dim=8, embed_dim=8, n_stack=2)))
    # during a rollout the encoder never changes
    stacked.reset()
    for _ in range(10):
        stacked.step(np.zeros(2, dtype=int))
    assert all(torch.equal(before[k], v) for k, v in venv.encoder.state_dict().items())
    cb = OnlineEncoderCallback(stacked)
    model.learn(64, callback=cb)  # 2 rollouts of 16 steps x 2 envs
    assert cb.rollouts == 2
    after = venv.encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


def test_rejects_non_image_env():
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")])
    with pytest.raises(ValueError, match="MintKeypointVecEnv"):
        MintKeypointVecEnv(venv, KeypointEncoder(CFG))
    with pytest.raises(ValueError, match="MintKeypointVecEnv"):
        OnlineEncoderCallback(venv)
