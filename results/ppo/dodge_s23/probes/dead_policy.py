"""Does a saved keypoint agent's policy depend on its observation? (run from the project root)

python results/ppo/dodge_s23/probes/dead_policy.py RUN_DIR [RUN_DIR ...]

Plays 400 steps of MintTasks/Dodge-v0 (4 envs, random actions, seed 123) through the agent's own keypoint
pipeline (its encoder, colour codes, stacked frames if any) and prints, per run: the share of extractor outputs that are
zero on every observation (dead units), the spread of the action logits over observations, and how often the
deterministic action differs from the most common one.
"""
import sys

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

import envs  # noqa: F401  (registers MintTasks)
from agents.saved_agent import agent_observation_options, load_agent
from agents.vec_env import MintKeypointVecEnv

torch.set_num_threads(1)
for run in sys.argv[1:]:
    agent = load_agent(run)
    env_id = agent.info["env_id"]
    venv = DummyVecEnv([lambda: gym.make(env_id)] * 4)
    venv.seed(123)
    venv = MintKeypointVecEnv(venv, agent.encoder, options=agent_observation_options(agent, run))
    if agent.info["n_stack"] > 1:
        venv = VecFrameStack(venv, n_stack=agent.info["n_stack"])
    assert venv.observation_space.shape == agent.model.observation_space.shape, venv.observation_space
    obs = venv.reset()
    rng = np.random.default_rng(0)
    feats, logits = [], []
    policy = agent.model.policy
    for _ in range(100):
        with torch.no_grad():
            t = torch.as_tensor(obs)
            f = policy.extract_features(t, policy.pi_features_extractor)
            lat = policy.mlp_extractor.forward_actor(f)
            feats.append(f.numpy()), logits.append(policy.action_net(lat).numpy())
        obs, *_ = venv.step(rng.integers(0, venv.action_space.n, size=4))
    f, lg = np.concatenate(feats), np.concatenate(logits)
    act = lg.argmax(1)
    common = np.bincount(act).argmax()
    print(f"{run}: {f.shape[0]} observations; extractor units zero on every observation: "
          f"{(f.max(0) == 0).mean():.2f} of {f.shape[1]}; logit sd over observations per action "
          f"{np.round(lg.std(0), 3).tolist()}; deterministic action != most common ({common}) in "
          f"{(act != common).mean():.2%}; mean softmax {np.round(torch.softmax(torch.tensor(lg), 1).mean(0).numpy(), 3).tolist()}")
