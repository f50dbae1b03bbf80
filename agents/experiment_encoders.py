"""The encoders of a PPO experiment's keypoint agents: checked, pretrained once per env and budget, cached.

In ``<out>/<env>/encoders/`` (``encoders_dir``)::

    frames-f<N>.npz                           N random-policy frames (env seed 0, 4 streams), with their record
    mint-k<K>-F<F>-f<N>-s<S>/                 MINT, by envs.pretraining.pretrain_encoder (its whole folder)
    transporter-k<K>-F<F>-f<N>-s<S>/          the Transporter on the same frames, steps and geometry
    <encoder folder>/colour_codes-n<n>-w<p>-<sha256[:12]>.npy      an encoder's colour codebook

Example::

    path, seconds = pretrain_mint(exp, env_dir / "encoders")
    codebook = colour_codebook(path, pretraining_frames(exp, env_dir / "encoders"), exp)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from agents.experiment_settings import ExperimentError, PPOExperiment
from envs.collect import collect_frames
from envs.pretraining import PretrainSettings, pretrain_encoder
from mint_rl.baselines import build_trainer, load_encoder
from mint_rl.checkpoint import CheckpointError, load_checkpoint
from mint_rl.config import MintConfig
from mint_rl.frame_cache import frame_source, load_frames, save_frames, source_mismatch
from mint_rl.utils import file_sha256

__all__ = ["check_encoder", "colour_codebook", "pretrain_mint", "pretrain_transporter", "pretraining_frames"]


def check_encoder(path: str | os.PathLike, frames: tuple[int, int, int], env_id: str,
                  expect_type: str | None = "mint") -> MintConfig:
    """Load a checkpoint's config and check it fits the env's frames ``(H, W, C)``.

    :param expect_type: the encoder type the checkpoint must hold (None: any).
    :raises ExperimentError: the checkpoint is unreadable, of another type, or made for other frames.
    """
    try:
        data = load_checkpoint(path)
    except CheckpointError as exc:
        raise ExperimentError(f"--encoder: {exc}") from exc
    config: MintConfig = data["config"]
    kind = data.get("encoder_type", "mint")
    if expect_type is not None and kind != expect_type:
        raise ExperimentError(f"--encoder {path} holds a {kind!r} encoder; the mint agent needs a MINT checkpoint "
                              "(the transporter agent pretrains its own)")
    h, w, c = frames
    if tuple(config.image_size) != (h, w) or config.in_channels != c:
        raise ExperimentError(f"--encoder {path} was made for {config.in_channels}-channel {config.image_size[0]}×"
                              f"{config.image_size[1]} frames, but {env_id} gives {c}-channel {h}×{w} frames. "
                              "Pretrain an encoder on this env (leave out --encoder) or pass a checkpoint made for "
                              "these frames.")
    return config


def pretraining_frames(exp: PPOExperiment, encoders_dir: Path) -> Path:
    """``<encoders_dir>/frames-f<N>.npz``: N = ``exp.pretrain_frames`` random-policy frames of the env (env seed 0,
    4 streams: pretraining's defaults), collected once and cached with their record (``mint_rl.frame_cache``).

    :raises ExperimentError: the cache holds other frames.
    """
    cache = encoders_dir / f"frames-f{exp.pretrain_frames}.npz"
    source = frame_source(exp.env, exp.pretrain_frames, seed=0, num_envs=4)
    if not cache.is_file():
        frames, starts = collect_frames(exp.env, exp.pretrain_frames, seed=0, num_envs=4,
                                        progress=not exp.no_progress)
        save_frames(cache, frames, starts, source)
    problems = source_mismatch(load_frames(cache)[2], source)
    if problems:
        raise ExperimentError(f"{cache} holds other frames than this command asks for ({'; '.join(problems)}; "
                              "cache → this command); delete it to collect new frames")
    return cache


def pretrain_mint(exp: PPOExperiment, encoders_dir: Path) -> tuple[Path, float]:
    """The MINT encoder by :func:`envs.pretraining.pretrain_encoder` (cached); its checkpoint and this call's
    seconds (0 when cached)."""
    out = encoders_dir / f"mint-k{exp.num_keypoints}-F{exp.feature_dim}-f{exp.pretrain_frames}-s{exp.pretrain_steps}"
    summary = out / "summary.json"
    if summary.is_file() and json.loads(summary.read_text())["steps"] >= exp.pretrain_steps:
        return out / "encoder.pt", 0.0
    t0 = time.perf_counter()
    frames = pretraining_frames(exp, encoders_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "frames.npz").is_file():
        shutil.copy2(frames, out / "frames.npz")  # pretraining reads its frame cache from here
    path = pretrain_encoder(PretrainSettings(
        env=exp.env, out=out, frames=exp.pretrain_frames, steps=exp.pretrain_steps, num_keypoints=exp.num_keypoints,
        feature_dim=exp.feature_dim, device=exp.device, checkpoint_every=100, video_frames=60,
        no_progress=exp.no_progress))
    return Path(path), time.perf_counter() - t0


def pretrain_transporter(exp: PPOExperiment, encoders_dir: Path, frames: tuple[int, int, int]) -> tuple[Path, float]:
    """A Transporter encoder on the same frames, for the same steps, batch and geometry as the MINT one (cached);
    its checkpoint and this call's seconds (0 when cached)."""
    out = encoders_dir / (f"transporter-k{exp.num_keypoints}-F{exp.feature_dim}-f{exp.pretrain_frames}"
                          f"-s{exp.pretrain_steps}")
    path = out / "encoder.pt"
    if path.is_file() and load_checkpoint(path).get("step", 0) >= exp.pretrain_steps:
        return path, 0.0
    t0 = time.perf_counter()
    clips, starts, _ = load_frames(pretraining_frames(exp, encoders_dir))
    h, w, c = frames
    config = MintConfig(num_keypoints=exp.num_keypoints, in_channels=c, image_size=(h, w),  # pretraining's defaults
                        feature_dim=exp.feature_dim)
    trainer = build_trainer("transporter", config, device=exp.device, log_dir=out / "tb", checkpoint_path=path)
    trainer.maybe_resume()
    trainer.fit(trainer.frame_buffer(clips, starts), exp.pretrain_steps, checkpoint_every=100,
                progress=not exp.no_progress,
                extra_state={"env_id": exp.env, "frames": exp.pretrain_frames, "collect_seed": 0})
    trainer.close()
    return path, time.perf_counter() - t0


def colour_codebook(encoder_path: Path, frames_path: Path, exp: PPOExperiment) -> np.ndarray:
    """The ``(n, C)`` colour codebook of an encoder (``mint_rl.appearance``) on the pretraining frames ``frames_path``,
    cached and refitted when the checkpoint changes (its sha256 is in the cache's name). The cache lies beside an
    encoder the experiment pretrained (in the frames' folder, ``encoders_dir``); for a given or shipped checkpoint
    it lies in that folder too, named by the frames as well, so nothing is written beside a file the user gave."""
    from mint_rl.appearance import fit_colour_codebook

    digest = file_sha256(encoder_path)[:12]
    name = f"colour_codes-n{exp.colour_codes}-w{exp.glimpse_size}-{digest}"
    own = encoder_path.resolve().parent.parent == frames_path.resolve().parent
    cache = encoder_path.parent / f"{name}.npy" if own else frames_path.parent / f"{name}-{frames_path.stem}.npy"
    if not cache.is_file():
        frames = load_frames(frames_path)[0]  # (streams, N, H, W, C)
        codebook = fit_colour_codebook(load_encoder(encoder_path), frames.reshape(-1, *frames.shape[-3:]),
                                       exp.glimpse_size, exp.colour_codes)
        tmp = cache.with_name(cache.stem + ".tmp.npy")
        np.save(tmp, codebook)
        os.replace(tmp, cache)
    return np.load(cache)
