"""Throw-away probe (issue #13, seventh session): how fast can the keypoint agent's policy network LEARN the
Catch rule when it is told the right action (behaviour cloning), compared with the true-state MLP?

If the set extractor on MINT keypoints + colour codes imitates the scripted controller from a few thousand
labelled frames as well as an MLP on the true state does, the representation and extractor are learnable and
what is slow is PPO's credit assignment; if it needs far more samples, the extractor is the bottleneck.

Expert: envs.catch_controller.object_action on info["objects"] (the true-state scripted controller, 7.4 on
seed 0's held-out episodes). Data: 4 envs, the expert acts with probability 0.75, else a random action
(so states off the expert's path are labelled too), labels are always the expert's action. Both learners see
the same frames: keypoints of the main job's encoder (one frame, colour codes, KeypointSetExtractor, then SB3's
default 64-64 tanh MLP head) and the true state vector (GroundTruthObservation's, SB3's default MlpPolicy body
64-64 tanh). Adam 3e-4, batch 64, 3,000 steps per dataset size (or 20 epochs if fewer). Evaluation: the greedy
policy on 10 held-out episodes of training seed 0 (env seed 10000), as the main job's evaluation.

    python ../shared/probes/bc_probe.py runs/main_default/MintTasks_Catch-v0/encoders/mint-k8-F0-f4000-s500/encoder.pt
    # extractors compared (argv: encoder, out folder, variants, dataset sizes)
    python ../shared/probes/bc_probe.py <encoder> runs/bc_probe_extractors \
        keypoints-set,keypoints-set-nobg,keypoints-relation,keypoints-attention,keypoints-sort-y,keypoints-sort-y-nobg,keypoints-mlp \
        2500,10000
"""

from __future__ import annotations

import glob
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401
from agents.extractors import KeypointMlpExtractor, KeypointSetExtractor
from agents.vec_env import MintKeypointVecEnv
from envs.catch_controller import object_action
from envs.keypoint_observation import ObservationOptions

ENV = "MintTasks/Catch-v0"
torch.set_num_threads(1)


def collect(encoder: str, codebook: np.ndarray, n: int, seed: int, p_expert: float = 0.75):
    venv = MintKeypointVecEnv(DummyVecEnv([lambda: gym.make(ENV)] * 4), encoder,
                              options=ObservationOptions(glimpse_size=5, colour_codes=codebook))
    base = venv.venv
    venv.seed(seed)
    obs = venv.reset()
    rng = np.random.default_rng(seed)
    infos = list(base.reset_infos)
    kps, states, actions = [], [], []
    while 4 * len(actions) < n:
        expert = np.array([object_action(i.get("objects")) for i in infos])
        st = np.stack([e.unwrapped.state() for e in base.envs])
        kps.append(obs.copy()), states.append(st), actions.append(expert)
        act = np.where(rng.random(4) < p_expert, expert, rng.integers(0, 3, 4))
        obs, _, done, infos = venv.step(act)
        infos = [base.reset_infos[i] if done[i] else infos[i] for i in range(4)]
    return (np.concatenate(kps)[:n], np.concatenate(states)[:n], np.concatenate(actions)[:n], venv.observation_space)


def head(d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 3))


VARIANTS = {  # name: (extractor class, kwargs, drop the background code)
    "keypoints-set": (KeypointSetExtractor, {}, False),
    "keypoints-set-nobg": (KeypointSetExtractor, {}, True),
    "keypoints-relation": (KeypointSetExtractor, {"relations": True}, False),
    "keypoints-attention": (KeypointSetExtractor, {"attention_heads": 4}, False),
    "keypoints-sort-y": (KeypointSetExtractor, {"sort": "y"}, False),
    "keypoints-sort-y-nobg": (KeypointSetExtractor, {"sort": "y"}, True),
    "keypoints-mlp": (KeypointMlpExtractor, {}, False),
}


def drop_background(obs: np.ndarray, drop: bool) -> np.ndarray:
    """The main job's --drop-background on (…, K, 3 + 8) rows: code 0 (the darkest, here the background) reads
    inactive."""
    if not drop:
        return obs
    out = obs.copy()
    out[..., 2] *= 1.0 - out[..., 3]
    return out


def make_learner(kind: str, kp_space, state_dim: int) -> nn.Module:
    if kind in VARIANTS:
        cls, kwargs, _ = VARIANTS[kind]
        ex = cls(kp_space, **kwargs)
        return nn.Sequential(ex, head(ex.features_dim))
    return head(state_dim)


def fit(model: nn.Module, x: np.ndarray, y: np.ndarray, steps: int, seed: int) -> None:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad(), loss.backward(), opt.step()


@torch.no_grad()
def play(model: nn.Module, kind: str, encoder: str, codebook: np.ndarray, episodes: int = 10) -> float:
    venv = MintKeypointVecEnv(DummyVecEnv([lambda: gym.make(ENV)]), encoder,
                              options=ObservationOptions(glimpse_size=5, colour_codes=codebook))
    venv.seed(10_000)
    obs = venv.reset()
    ret, done_eps, total = 0.0, 0, []
    while done_eps < episodes:
        x = drop_background(obs, VARIANTS[kind][2]) if kind in VARIANTS else venv.venv.envs[0].unwrapped.state()[None]
        a = model(torch.as_tensor(x, dtype=torch.float32)).argmax(-1).numpy()
        obs, r, done, _ = venv.step(a)
        ret += float(r[0])
        if done[0]:
            total.append(ret)
            ret, done_eps = 0.0, done_eps + 1
    return float(np.mean(total))


def main() -> None:
    encoder = sys.argv[1]
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("runs/bc_probe")
    kinds = sys.argv[3].split(",") if len(sys.argv) > 3 else ["keypoints-set", "true-state"]
    sizes = [int(v) for v in sys.argv[4].split(",")] if len(sys.argv) > 4 else [2_500, 10_000, 40_000]
    codebook = np.load(sorted(glob.glob(str(Path(encoder).parent / "colour_codes-n8-w5-*.npy")))[0])
    t0 = time.time()
    kp, st, y, space = collect(encoder, codebook, max(sizes), seed=1)
    print(f"collected {len(y)} frames in {time.time() - t0:.0f} s; actions {np.bincount(y, minlength=3)}", flush=True)
    kv, sv, yv, _ = collect(encoder, codebook, 4_000, seed=2, p_expert=1.0)
    results = []
    for n in sizes:
        for kind in kinds:
            for seed in (0, 1):
                model = make_learner(kind, space, st.shape[1])
                drop = kind in VARIANTS and VARIANTS[kind][2]
                x, xv = (drop_background(kp, drop), drop_background(kv, drop)) if kind in VARIANTS else (st, sv)
                fit(model, x[:n], y[:n], steps=3_000, seed=seed)
                with torch.no_grad():
                    acc = float((model(torch.as_tensor(xv, dtype=torch.float32)).argmax(-1).numpy() == yv).mean())
                ret = play(model, kind, encoder, codebook)
                results.append(dict(n=n, kind=kind, seed=seed, val_accuracy=acc, bc_return=ret))
                print(json.dumps(results[-1]), flush=True)
                out.mkdir(parents=True, exist_ok=True)
                (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
