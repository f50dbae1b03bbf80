"""The saved PPO agent: ``model.zip``, ``agent.json`` and, for keypoint agents, the encoder it reads.

A keypoint policy is only meaningful with the very encoder it was trained on: another encoder, even of the same
architecture, puts its keypoints elsewhere. So :func:`save_agent` copies the encoder next to the model
(``encoder.pt``) and records its sha256 and config in ``agent.json``, and :func:`load_agent` refuses any other file
(:class:`AgentEncoderMismatch`).

Example::

    agent = load_agent("runs/ppo_keypoints/MintTasks_Catch-v0/mint-set-c8w5/seed0")
    agent.model.predict(observation, deterministic=True)   # observations from agent.encoder's keypoints
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO

from envs.keypoint_observation import KeypointObserver, ObservationOptions
from mint_rl.baselines import load_encoder
from mint_rl.checkpoint import load_checkpoint
from mint_rl.config import MintConfig
from mint_rl.utils import file_sha256, write_json

__all__ = ["AgentEncoderMismatch", "LoadedAgent", "agent_observation_options", "frame_policy", "load_agent",
           "save_agent"]


class AgentEncoderMismatch(ValueError):
    """A saved keypoint agent and the encoder offered to it do not belong together."""


@dataclasses.dataclass
class LoadedAgent:
    """A saved agent: the PPO model, its encoder (None for pixel / state agents) and ``agent.json``."""

    model: PPO
    encoder: torch.nn.Module | None
    info: dict[str, Any]


def save_agent(model: PPO, run_dir: Path, info: dict[str, Any], encoder_file: Path | None) -> Path:
    """Write ``model.zip`` and ``agent.json`` in ``run_dir``; a keypoint agent's encoder is copied next to the
    model (``encoder.pt``) and referenced by file name, sha256 and config.

    :param info: what ``agent.json`` records besides the model and encoder (agent, label, env, seed, ``n_stack``,
        the run's settings, ...).
    :param encoder_file: the keypoint agent's encoder checkpoint (None: the agent reads no encoder).
    :return: the path of ``model.zip``.
    """
    model.save(run_dir / "model.zip")
    info = dict(info, model="model.zip", encoder=None)
    if encoder_file is not None:
        target = run_dir / "encoder.pt"
        if encoder_file.resolve() != target.resolve():
            shutil.copy2(encoder_file, target)
        data = load_checkpoint(target)
        info["encoder"] = {"path": target.name, "sha256": file_sha256(target),
                           "type": data.get("encoder_type", "mint"), "config": data["config"].to_dict(),
                           "source": str(encoder_file)}
    write_json(run_dir / "agent.json", info)
    return run_dir / "model.zip"


def load_agent(path: str | os.PathLike, encoder: str | os.PathLike | None = None,
               device: str = "cpu") -> LoadedAgent:
    """Load an agent saved by :func:`save_agent` (``experiments/ppo_keypoints.py``) and check its encoder.

    :param path: the run folder or its ``model.zip``.
    :param encoder: an encoder checkpoint to use instead of the saved ``encoder.pt``; it must be the very
        file the agent was trained with (same sha256).
    :param device: where the model and encoder are loaded.
    :raises FileNotFoundError: the folder holds no ``agent.json``.
    :raises AgentEncoderMismatch: the encoder file is missing, is not the one recorded in ``agent.json``
        (sha256), or its config does not fit the recorded one or the policy's observation space.
    """
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent
    info_path = run_dir / "agent.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found: load_agent reads agents saved by experiments/ppo_keypoints.py")
    info = json.loads(info_path.read_text())
    model = PPO.load(run_dir / info["model"], device=device)
    ref = info.get("encoder")
    if ref is None:
        if encoder is not None:
            raise AgentEncoderMismatch(f"{run_dir} is a {info['agent']!r} agent: it reads no keypoint encoder")
        return LoadedAgent(model, None, info)
    enc_path = Path(encoder) if encoder is not None else run_dir / ref["path"]
    if not enc_path.is_file():
        raise AgentEncoderMismatch(f"the encoder of keypoint agent {run_dir} is missing: {enc_path} does not exist "
                                   f"(it was saved as {run_dir / ref['path']}, sha256 {ref['sha256'][:12]}…)")
    digest = file_sha256(enc_path)
    if digest != ref["sha256"]:
        raise AgentEncoderMismatch(
            f"{enc_path} is not the encoder agent {run_dir} was trained with: its sha256 is {digest[:12]}…, "
            f"agent.json records {ref['sha256'][:12]}…. The policy reads that encoder's keypoints; another encoder, "
            "even of the same architecture, puts its keypoints elsewhere. Use the encoder.pt saved with the model.")
    config = load_checkpoint(enc_path)["config"]
    diff = config.architecture_mismatch(MintConfig.from_dict(ref["config"]))
    if diff:
        raise AgentEncoderMismatch(f"{enc_path}: config differs from the one in {info_path}: {'; '.join(diff)}")
    settings = info.get("settings", {})
    features = config.feature_dim if settings.get("encoder_features", True) else 0
    row = 3 + features  # x, y, status, features; then appearance, or the tracked entity rows
    if settings.get("colour_codes"):
        row += settings["colour_codes"]
    elif settings.get("glimpse_size"):
        row += config.in_channels * settings["glimpse_size"] ** 2
    if settings.get("track"):
        row = 3 + settings.get("colour_codes", 0)
    expected = (config.num_keypoints, info["n_stack"] * row)
    if tuple(model.observation_space.shape) != expected:
        raise AgentEncoderMismatch(f"the policy in {run_dir} reads observations {model.observation_space.shape}, but "
                                   f"{enc_path} gives {expected} (K × n_stack·(3 + F + appearance))")
    return LoadedAgent(model, load_encoder(enc_path, device=device), info)


def agent_observation_options(agent: LoadedAgent, run_dir: str | os.PathLike) -> ObservationOptions:
    """How a saved keypoint agent's frames became its keypoint rows: glimpses or colour codes (the codebook saved in
    ``run_dir``, or for older runs the one cached beside the encoder they copied) and refined positions, as in its
    run settings.

    :raises ValueError: the agent reads no keypoints, dropped its background code (``drop_background``: the code
        was chosen from the pretraining frames, which the run folder does not keep), or its codebook is missing.
    """
    info, settings = agent.info, agent.info.get("settings", {})
    if agent.encoder is None:
        raise ValueError(f"{run_dir} is a {info['agent']!r} agent: it reads no keypoints")
    if settings.get("drop_background"):
        raise ValueError(f"{run_dir} dropped the background's colour code (--drop-background); its observation "
                         "cannot be rebuilt from the run folder")
    codebook = None
    if settings.get("colour_codes"):
        path = Path(run_dir) / "colour_codes.npy"
        if not path.is_file():  # older runs: the codebook cached beside the encoder they copied
            pattern = f"colour_codes-n{settings['colour_codes']}-w{settings['glimpse_size']}-*.npy"
            source = info["encoder"].get("source")
            path = next(Path(source).parent.glob(pattern), None) if source else None
            if path is None:
                raise ValueError(f"{run_dir} reads colour codes, but its codebook is missing: no colour_codes.npy "
                                 f"there, nor {pattern} beside its encoder's source {source}")
        codebook = np.load(path)
    return ObservationOptions(glimpse_size=settings.get("glimpse_size", 0),
                              glimpse_at=settings.get("glimpse_at", "keypoints"), colour_codes=codebook,
                              refine_window=settings.get("refine", 0), refine_snap=settings.get("refine_snap", 0),
                              encoder_features=settings.get("encoder_features", True))


def frame_policy(run_dir: str | os.PathLike, image_space: Any, deterministic: bool = True
                 ) -> Callable[[np.ndarray], Any]:
    """A saved keypoint agent as a policy on raw frames: frame → its encoder's keypoint rows → its action.

    For agents that read one frame of untracked keypoints (the default on object tasks), so that
    ``envs.keypoint_audit.record_episodes`` can play episodes the way the agent plays them.

    :param run_dir: the run folder (``model.zip``, ``agent.json``, ``encoder.pt``).
    :param image_space: the env's image observation space.
    :raises ValueError: the agent reads no keypoints, stacks frames, tracks keypoints, dropped its background or
        lost its colour codebook.
    """
    agent = load_agent(run_dir)
    settings = agent.info.get("settings", {})
    options = agent_observation_options(agent, run_dir)
    if settings.get("track"):
        raise ValueError(f"{run_dir} reads tracked keypoints (--track); frame_policy plays agents that read the "
                         "encoder's keypoints as they are")
    if agent.info.get("n_stack", 1) != 1:
        raise ValueError(f"{run_dir} reads {agent.info.get('n_stack')} stacked frames; frame_policy plays agents "
                         "that read one frame of keypoints")
    observer = KeypointObserver(image_space, agent.encoder, options=options, owner=f"frame_policy({run_dir})")

    def policy(frame: np.ndarray) -> Any:
        rows = observer.encode(observer.frames(np.asarray(frame)[None]))
        return agent.model.predict(rows, deterministic=deterministic)[0][0]

    return policy
