"""One PPO experiment on one env, top to bottom: :func:`run_ppo_experiment` of a :class:`PPOExperiment`.

What ``experiments/ppo_keypoints.py`` runs, and ``experiments/atari_study.py`` once per game:

1. inputs: every check before any training (device, env frames, ground truth, glimpse size, encoder, the settings
   of finished runs in the folder); one process per ``<out>/<env>/`` (``mint_rl.run_lock``);
2. the random policy's return on the held-out episodes (the table's reference);
3. encoders: pretrained once per env and budget and cached (:mod:`agents.experiment_encoders`), colour codebooks;
   with ``jobs > 1`` the first runs that need no encoder (pixels, true state) train meanwhile;
4. the runs, interleaved by seed (:func:`train_run`: :func:`build_agent`, the callbacks of :mod:`agents.callbacks`,
   mid-way resume from :mod:`agents.run_folders`, the saved agent of :mod:`agents.saved_agent`);
5. the report (:func:`agents.report.write_results`), after every run and at the end, and its export.

Example::

    report = run_ppo_experiment(PPOExperiment(env="MintTasks/Catch-v0", agents=["mint", "pixels"], seeds=3))
    print(report["table"])
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import functools
import json
import multiprocessing
import shutil
import signal
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecFrameStack, VecTransposeImage

from agents.auxiliary import RewardPredictionCallback
from agents.callbacks import CsvEvalCallback, KeypointImageCallback, OnlineEncoderCallback, ResumeCheckpointCallback
from agents.experiment_encoders import (check_encoder, colour_codebook, pretrain_mint, pretrain_transporter,
                                        pretraining_frames)
from agents.experiment_envs import frame_shape, has_ground_truth, make_vec, object_env
from agents.experiment_settings import (AUX_WARMUP_STEPS, EXTRACTORS, KEYPOINT_AGENTS, MAX_GLIMPSE_COVERAGE, N_STACK,
                                        OBJECT_AGENTS, ExperimentError, PPOExperiment, eval_seed)
from agents.report import write_results
from agents.run_folders import (ResumeEncoderChanged, check_resume_encoder, env_slug, keep_evaluations_until,
                                resume_state, run_folder)
from agents.saved_agent import save_agent
from agents.tracked_vec_env import TrackedKeypointVecEnv
from agents.vec_env import MintKeypointVecEnv
from envs.keypoint_observation import ObservationOptions
from envs.pretraining import PretrainError
from mint_rl.appearance import background_code
from mint_rl.config import MintConfig
from mint_rl.frame_cache import load_frames
from mint_rl.glimpses import check_glimpse_size
from mint_rl.online import OnlineOptions
from mint_rl.refine import check_refine_window
from mint_rl.run_lock import locked_run_folder
from mint_rl.utils import file_sha256, resolve_device, write_json

__all__ = ["EXPERIMENT_ERRORS", "RandomPolicy", "build_agent", "random_returns", "run_ppo_experiment", "train_run"]

EXPERIMENT_ERRORS = (ExperimentError, PretrainError, ResumeEncoderChanged)
"""What :func:`run_ppo_experiment` raises, before training, for inputs it cannot use (the message says what to
do); scripts turn them into ``SystemExit``."""


# --------------------------------------------------------------------------- agents
ADAM_KWARGS = {"eps": 1e-5, "foreach": True}
"""Every agent's Adam: SB3's default for PPO (eps 1e-5, which SB3 sets only when no ``optimizer_kwargs`` are given)
in PyTorch's ``foreach`` form, bit for bit the updates of the per-tensor loop PyTorch picks on CPU, with fewer kernel
calls (``results/ppo/speed_s22/``)."""


def build_agent(agent: str, exp: PPOExperiment, seed: int, encoder: Path | torch.nn.Module | None,
                tb_dir: Path | None, codebook: np.ndarray | None = None, background: int | None = None
                ) -> tuple[PPO, VecEnv, list[BaseCallback], MintKeypointVecEnv | None]:
    """The PPO model of one agent, its eval env, its extra callbacks and (keypoint agents) its keypoint VecEnv.

    :param agent: one of :data:`agents.experiment_settings.AGENTS`.
    :param seed: the training seed (PPO's seed; ladder rungs' noise seeds ``100 × seed + i``).
    :param encoder: keypoint agents: a checkpoint or an encoder module (None: co-trained from scratch).
    :param tb_dir: TensorBoard folder (None: no TensorBoard).
    :param codebook: keypoint agents with colour codes: the ``(n, C)`` colour codebook.
    :param background: with ``exp.drop_background``, the index of the background's code in ``codebook``.
    """
    n, ne, env_id = exp.n_envs, exp.eval_envs, exp.env
    callbacks: list[BaseCallback] = []
    kp_env = None
    common = dict(seed=seed, device=exp.device, verbose=0, tensorboard_log=tb_dir and str(tb_dir),
                  **exp.ppo_kwargs(agent))
    if agent == "pixels":
        train_env, eval_env = make_vec(env_id, "pixels", n, True), make_vec(env_id, "pixels", ne, False)
        if not exp.atari:  # RGB (H, W, 3) → 2 stacked (H, W, 6) → channels first, as SB3 would do
            train_env = VecTransposeImage(VecFrameStack(train_env, N_STACK))
            eval_env = VecTransposeImage(VecFrameStack(eval_env, N_STACK))
        model = PPO("CnnPolicy", train_env, policy_kwargs=dict(optimizer_kwargs=dict(ADAM_KWARGS)), **common)
    elif agent == "ground_truth":
        train_env, eval_env = make_vec(env_id, "state", n, True), make_vec(env_id, "state", ne, False)
        model = PPO("MlpPolicy", train_env, policy_kwargs=dict(optimizer_kwargs=dict(ADAM_KWARGS)), **common)
    elif agent in OBJECT_AGENTS:  # true objects as keypoint rows, degraded to a ladder rung
        def objects(count: int, noise_seed: int, train: bool) -> VecEnv:
            def make(i: int) -> gym.Env:
                return object_env(env_id, train, noise_seed + i, **exp.object_kwargs[agent])
            return VecFrameStack(DummyVecEnv([functools.partial(make, i) for i in range(count)]), N_STACK)

        train_env, eval_env = objects(n, 100 * seed, True), objects(ne, eval_seed(seed), False)
        extractor, extractor_kwargs = EXTRACTORS[exp.extractor]
        extractor_kwargs = dict(extractor_kwargs, n_stack=N_STACK)
        if exp.fourier_features:  # sinusoids of the coordinates
            extractor_kwargs["fourier"] = exp.fourier_features
        model = PPO("MlpPolicy", train_env, policy_kwargs=dict(
            features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs,
            share_features_extractor=not exp.separate_critic, optimizer_kwargs=dict(ADAM_KWARGS)), **common)
    else:
        online = agent == "mint" and exp.online
        view = ObservationOptions(device=exp.device, glimpse_size=exp.glimpse_size, glimpse_at=exp.glimpse_at,
                                  colour_codes=codebook, drop_code=background if exp.drop_background else None,
                                  refine_window=exp.refine, refine_snap=exp.refine_snap,
                                  encoder_features=exp.encoder_features)
        base = make_vec(env_id, "rgb", n, True, render=exp.overlay_every > 0)
        if online:
            h, w, c = frame_shape(env_id)
            config = None if encoder is not None else MintConfig(  # from scratch, else the checkpoint's
                num_keypoints=exp.num_keypoints, in_channels=c, image_size=(h, w), feature_dim=exp.feature_dim,
                seed=seed)
            kp_env = MintKeypointVecEnv(base, encoder, online=OnlineOptions(updates_per_round=exp.online_updates),
                                        options=view.replace(config=config))
            callbacks.append(OnlineEncoderCallback(kp_env, exp.online_updates))
        else:
            kp_env = MintKeypointVecEnv(base, encoder, options=view)

        def tracked(venv: VecEnv) -> VecEnv:  # track: persistent entity slots (mint_rl.tracking)
            return TrackedKeypointVecEnv(venv, exp.colour_codes, kp_env.encoder.config.image_size) \
                if exp.track else venv

        train_env = VecFrameStack(tracked(kp_env), exp.keypoint_stack)
        # the eval env shares the (possibly co-trained) encoder module, frozen
        eval_env = VecFrameStack(tracked(MintKeypointVecEnv(make_vec(env_id, "rgb", ne, False), kp_env.encoder,
                                                            options=view)), exp.keypoint_stack)
        extractor, kwargs = EXTRACTORS[exp.extractor]
        extractor_kwargs: dict[str, Any] = dict(kwargs, n_stack=exp.keypoint_stack)
        if exp.glimpse_size and not exp.colour_codes:  # raw glimpses: the extractor's glimpse CNN reads them
            extractor_kwargs["glimpse"] = (kp_env.encoder.config.in_channels, exp.glimpse_size)
        if exp.equal_codes:  # every colour code starts with the same embedding
            extractor_kwargs["equal_codes"] = exp.colour_codes
            if exp.code_gain:  # ... or nearly: a small random start
                extractor_kwargs["code_gain"] = exp.code_gain
        if exp.relation_dim is not None:  # the relation network's pair width
            extractor_kwargs["relation_dim"] = exp.relation_dim
        if exp.fourier_features:  # sinusoids of the coordinates
            extractor_kwargs["fourier"] = exp.fourier_features
        model = PPO("MlpPolicy", train_env, policy_kwargs=dict(
            features_extractor_class=extractor, features_extractor_kwargs=extractor_kwargs,
            share_features_extractor=not exp.separate_critic, optimizer_kwargs=dict(ADAM_KWARGS)), **common)
        if exp.overlay_every > 0:
            callbacks.append(KeypointImageCallback(kp_env, exp.overlay_every))
    if exp.aux_reward and agent in KEYPOINT_AGENTS + OBJECT_AGENTS:
        callbacks.append(RewardPredictionCallback(weight=exp.aux_reward, updates=exp.aux_updates, seed=seed,
                                                   horizon=exp.aux_horizon, warmup_updates=exp.aux_warmup,
                                                   warmup_steps=AUX_WARMUP_STEPS))
    return model, eval_env, callbacks, kp_env


class RandomPolicy:
    """Uniformly random actions behind the ``predict`` interface of ``evaluate_policy``."""

    def __init__(self, action_space: gym.Space, seed: int) -> None:
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        return np.array([self.action_space.sample() for _ in range(len(observation))]), None


Encoders = tuple[dict[str, Path | None], dict[str, np.ndarray], dict[str, int]]
"""What the keypoint runs need from step 2 of :func:`run_ppo_experiment`: encoder paths, colour codebooks and
background codes, per keypoint agent."""


def _train_runs(order: list[tuple[str, int]], exp: PPOExperiment, env_dir: Path,
                prepare: Callable[[], Encoders]) -> Any:
    """Train the runs of ``order``; yields each run's ``done.json`` content as it finishes.

    ``prepare`` makes the encoders (pretraining, codebooks) and is called once, before the first run that needs
    one. With ``exp.jobs > 1`` and more than one run, up to ``exp.jobs`` run at a time in worker processes
    (``spawn``; each with ``exp.threads`` torch threads, no progress bars, killed with this process), and the first
    ``jobs - 1`` runs that need no encoder (pixels, true state, ladder rungs) start before ``prepare``, so they
    train while this process pretrains on the remaining core (the default command's critical path is its pixel
    run); the rest follow in ``order``. A failing run, or a failing ``prepare``, stops the others (an interrupted
    run resumes on the next call) and raises here.
    """
    jobs = min(exp.jobs, len(order))
    if jobs <= 1:
        encoder_paths, codebooks, backgrounds = prepare()
        for agent, seed in order:
            yield train_run(agent, seed, exp, env_dir, encoder_paths.get(agent), codebooks.get(agent),
                            backgrounds.get(agent))
        return
    worker_exp = dataclasses.replace(exp, no_progress=True)
    early = [run for run in order if run[0] not in KEYPOINT_AGENTS][:jobs - 1]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                                                initargs=(exp.threads,)) as pool:
        futures = [pool.submit(train_run, agent, seed, worker_exp, env_dir, None, None, None)
                   for agent, seed in early]
        try:
            if early:
                print(f"started {', '.join(f'{exp.label(a)} seed {s}' for a, s in early)} (no encoder needed) "
                      "beside the encoder's preparation", flush=True)
            encoder_paths, codebooks, backgrounds = prepare()
            print(f"training {len(order)} runs, {jobs} at a time in worker processes (--jobs {exp.jobs}); one line "
                  "per run as it finishes", flush=True)
            futures += [pool.submit(train_run, agent, seed, worker_exp, env_dir, encoder_paths.get(agent),
                                    codebooks.get(agent), backgrounds.get(agent))
                        for agent, seed in order if (agent, seed) not in early]
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):  # a running run stops now
                process.kill()
            raise


def _worker_init(threads: int) -> None:
    """A training worker: ``threads`` torch threads, one OpenCV thread; on Linux it dies with its parent, so a
    killed experiment leaves no run writing into a folder whose lock is gone."""
    torch.set_num_threads(threads)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def random_returns(exp: PPOExperiment, env_dir: Path) -> list[float]:
    """Mean return of a uniformly random policy on each seed's held-out episodes (cached in ``random.json``)."""
    cache = env_dir / "random.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    out = []
    for seed in exp.seed_ids:
        key = f"seed{seed}-episodes{exp.eval_episodes}"
        if key not in known:
            venv = make_vec(exp.env, "rgb", exp.eval_envs, False)
            venv.seed(eval_seed(seed))
            returns, _ = evaluate_policy(RandomPolicy(venv.action_space, seed), venv,
                                         n_eval_episodes=exp.eval_episodes, return_episode_rewards=True, warn=False)
            venv.close()
            known[key] = float(np.mean(returns))
            write_json(cache, known)
        out.append(known[key])
    return out


# --------------------------------------------------------------------------- one run
def train_run(agent: str, seed: int, exp: PPOExperiment, env_dir: Path, encoder_path: Path | None,
              codebook: np.ndarray | None = None, background: int | None = None) -> dict[str, Any]:
    """Train one (agent, seed) and write its folder; returns ``done.json``'s content.

    A run killed mid-way resumes from its last checkpoint in ``<run>/resume/`` (every ``checkpoint_every``
    env steps) when it was made with the same settings; otherwise it starts over.

    :param encoder_path: keypoint agents: the encoder checkpoint (None: co-trained from scratch).
    :param codebook: keypoint agents with colour codes: the colour codebook (saved beside the model).
    :param background: with ``exp.drop_background``, the background's code (recorded in ``settings.json``).
    """
    label = exp.label(agent)
    run_dir = run_folder(env_dir, label, seed)
    settings = exp.run_settings(agent)
    if settings.get("drop_background"):
        settings["drop_background"] = background
    state = resume_state(run_dir, settings)  # run_ppo_experiment checked its encoder (check_resume_encoder)
    if state is None:
        if run_dir.exists():  # an interrupted run without a usable checkpoint starts over
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        write_json(run_dir / "settings.json", settings)
    resume_encoder = run_dir / "resume" / state["encoder"] if state and state.get("encoder") else encoder_path
    model, eval_env, callbacks, kp_env = build_agent(agent, exp, seed, resume_encoder, env_dir / "tb", codebook,
                                                     background)
    auxiliary = next((c for c in callbacks if isinstance(c, RewardPredictionCallback)), None)
    evaluator = CsvEvalCallback(eval_env, run_dir / "evaluations.csv", eval_seed(seed),
                                dict(env=exp.env, agent=label, seed=seed), exp.eval_freq, exp.n_envs,
                                exp.eval_episodes, deterministic=exp.deterministic_eval)
    start = 0
    if state is not None:
        start = int(state["step"])
        model.set_parameters(str(run_dir / "resume" / state["model"]), exact_match=True, device=exp.device)
        model.num_timesteps = start
        evaluator.resume_from(start, state["train_seconds"], state["eval_seconds"])
        if state.get("auxiliary") and auxiliary is not None:
            auxiliary.load_state_dict(torch.load(run_dir / "resume" / state["auxiliary"], map_location=exp.device))
        keep_evaluations_until(run_dir / "evaluations.csv", start)
        print(f"{label} seed {seed}: resuming at step {start} from {run_dir / 'resume'}", flush=True)
    resumes = state.get("resumes", 0) + 1 if state else 0
    started_with = state.get("encoder_sha256") if state else (file_sha256(encoder_path) if encoder_path else None)
    checkpointer = ResumeCheckpointCallback(run_dir, evaluator, exp.checkpoint_every, kp_env,
                                            record=dict(encoder_sha256=started_with, resumes=resumes),
                                            auxiliary=auxiliary)
    t0 = time.perf_counter()
    model.learn(exp.timesteps - start, callback=[evaluator, checkpointer, *callbacks],
                tb_log_name=f"{label}_seed{seed}", reset_num_timesteps=start == 0,
                progress_bar=not exp.no_progress)
    learn_seconds = time.perf_counter() - t0 + (state["train_seconds"] + state["eval_seconds"] if state else 0.0)
    train_seconds = evaluator.train_seconds()

    encoder_file = None
    if kp_env is not None:
        encoder_file = encoder_path
        if kp_env.online_trainer is not None:  # the co-trained encoder, as it is at the end
            encoder_file = kp_env.save_encoder(run_dir / "encoder.pt")
    info = dict(agent=agent, label=label, env_id=exp.env, seed=seed, n_stack=exp.keypoint_stack if kp_env is not None else None,
                policy=type(model.policy).__name__, settings=settings)
    if codebook is not None:  # the colour codebook the policy's codes index, beside the model
        np.save(run_dir / "colour_codes.npy", codebook)
        info["colour_codes"] = "colour_codes.npy"
    save_agent(model, run_dir, info, encoder_file)
    returns = evaluator.evaluations_results[-1]
    done = dict(info, timesteps=int(model.num_timesteps), final_return=float(np.mean(returns)),
                final_return_std=float(np.std(returns)), learn_seconds=learn_seconds,
                eval_seconds=evaluator.eval_seconds, train_seconds=train_seconds,
                train_steps_per_s=model.num_timesteps / train_seconds, resumed=resumes, resumed_at=start or None)
    write_json(run_dir / "done.json", done)
    shutil.rmtree(run_dir / "resume", ignore_errors=True)
    model.get_env().close()
    eval_env.close()
    return done


# --------------------------------------------------------------------------- the experiment
def run_ppo_experiment(exp: PPOExperiment) -> dict[str, Any]:
    """Train every (agent, seed) of ``exp`` not finished yet in ``<out>/<env>/`` and write the report.

    :return: ``summary`` (``summary.json``), ``table`` (``table.md``), ``out`` (the env folder) and
        ``wall_seconds`` of this call.
    :raises ExperimentError, PretrainError, ResumeEncoderChanged: (:data:`EXPERIMENT_ERRORS`) an input is unusable;
        raised before any training, except a failing pretraining with ``jobs > 1``, which stops the encoder-free runs
        started beside it (they resume on the next call).
    """
    t_start, cpu_start = time.perf_counter(), time.process_time()
    torch.set_num_threads(exp.threads)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass

    # 1. Inputs: every check before any training.
    try:
        resolve_device(exp.device)
    except ValueError as exc:
        raise ExperimentError(f"--device: {exc}") from exc
    frames = frame_shape(exp.env)
    if "ground_truth" in exp.agents and not has_ground_truth(exp.env):
        raise ExperimentError(f"--agents ground_truth: {exp.env} has no ground-truth state (only MintTasks/* do); "
                              "leave ground_truth out")
    objects = [a for a in exp.agents if a in OBJECT_AGENTS]
    if objects and not exp.atari and not has_ground_truth(exp.env):  # (ALE ids: checked by the settings)
        raise ExperimentError(f"--agents {' '.join(objects)}: {exp.env} has no info['objects'] ground truth (only "
                              "MintTasks/* do); leave them out")
    if exp.glimpse_size:  # glimpses must not turn a keypoint agent into a pixel agent by another door
        try:
            check_glimpse_size(exp.glimpse_size, frames[0], frames[1], exp.num_keypoints, MAX_GLIMPSE_COVERAGE)
        except ValueError as exc:
            raise ExperimentError(f"--glimpse-size: {exc}") from exc
    if exp.refine:
        try:
            check_refine_window(exp.refine, frames[0], frames[1])
        except ValueError as exc:
            raise ExperimentError(f"--refine: {exc}") from exc
    if exp.refine_snap:
        try:
            check_refine_window(exp.refine_snap, frames[0], frames[1], "snap window")
        except ValueError as exc:
            raise ExperimentError(f"--refine-snap: {exc}") from exc
    if exp.encoder is not None:
        config = check_encoder(exp.encoder_file, frames, exp.env)
        if "mint" in exp.agents and config.feature_dim and exp.encoder_features and exp.track:
            raise ExperimentError(f"--track keeps (x, y, status, colour code) per entity, and --encoder {exp.encoder} "
                                  f"has {config.feature_dim} features per keypoint; add --no-encoder-features")
        if "mint" in exp.agents and not config.feature_dim and not exp.encoder_features:
            raise ExperimentError(f"--no-encoder-features: --encoder {exp.encoder} has no feature head (F = 0), so "
                                  "there is nothing to leave out; drop the flag")
    env_dir = Path(exp.out) / env_slug(exp.env)
    env_dir.mkdir(parents=True, exist_ok=True)
    with locked_run_folder(env_dir):  # one process per folder; temporary files a killed run left are removed
        labels = [exp.label(a) for a in exp.agents]
        todo = []
        for agent, label in zip(exp.agents, labels, strict=True):
            for seed in exp.seed_ids:
                marker = run_folder(env_dir, label, seed) / "done.json"
                if marker.is_file():
                    stored = json.loads(marker.read_text())["settings"]
                    if stored != exp.run_settings(agent):
                        raise ExperimentError(f"{marker} was written with other settings {stored}; this command asks "
                                              f"for {exp.run_settings(agent)}. Use another --out (or delete that "
                                              "folder).")
                else:
                    todo.append((agent, seed))
        if exp.report_only and todo:
            print(f"--report-only: {len(todo)} run(s) not finished are left out of the table: "
                  + ", ".join(f"{exp.label(a)} seed {s}" for a, s in todo))
            todo = []
        print(f"{exp.env}: agents {', '.join(labels)}; {exp.seeds} seed(s)"
              f"{f' from seed {exp.first_seed}' if exp.first_seed else ''}; {exp.timesteps} env steps per run "
              f"({exp.n_envs} envs, evaluation every {exp.eval_freq} steps on {exp.eval_episodes} held-out "
              f"episodes); {len(todo)} run(s) to do; out {env_dir}", flush=True)

        # 2. Random-policy reference on the held-out episodes.
        random = random_returns(exp, env_dir)
        for agent, seed in todo:  # (the keypoint runs' resume states are checked against their encoders in 3)
            if agent not in KEYPOINT_AGENTS:
                check_resume_encoder(run_folder(env_dir, exp.label(agent), seed), exp.run_settings(agent), None)

        # 3. Encoders: pretrained once per env and budget, cached for the next run (with --jobs > 1, while the first
        # runs that need none already train: _train_runs).
        pretrain_seconds: dict[str, float] = {}

        def prepare() -> Encoders:
            encoders_dir = env_dir / "encoders"
            encoder_paths: dict[str, Path | None] = {}
            todo_agents = {a for a, _ in todo}
            if "mint" in todo_agents:
                if exp.encoder is not None:
                    encoder_paths["mint"] = exp.encoder_file
                elif exp.pretrain_steps > 0:  # (with --online, the start of the co-training)
                    encoder_paths["mint"], pretrain_seconds["mint"] = pretrain_mint(exp, encoders_dir)
                    check_encoder(encoder_paths["mint"], frames, exp.env)
                else:
                    encoder_paths["mint"] = None  # --online --pretrain-steps 0: co-trained from scratch
            if "transporter" in todo_agents:
                encoder_paths["transporter"], pretrain_seconds["transporter"] = pretrain_transporter(
                    exp, encoders_dir, frames)
            codebooks: dict[str, np.ndarray] = {}
            backgrounds: dict[str, int] = {}
            if exp.colour_codes:  # colour categories fitted to the keypoint colours of the pretraining frames, cached
                frames_path = pretraining_frames(exp, encoders_dir)
                for name, path in encoder_paths.items():
                    if path is not None:
                        codebooks[name] = colour_codebook(path, frames_path, exp)
                        if exp.drop_background:
                            backgrounds[name] = background_code(codebooks[name], load_frames(frames_path)[0].reshape(
                                -1, *frame_shape(exp.env)))
            for name, seconds in pretrain_seconds.items():
                if seconds > 0:
                    print(f"pretrained the {name} encoder in {seconds:.0f} s: {encoder_paths[name]}", flush=True)
            for agent, seed in todo:  # an interrupted run resumes only on the encoder it started with
                if agent in KEYPOINT_AGENTS:
                    check_resume_encoder(run_folder(env_dir, exp.label(agent), seed), exp.run_settings(agent),
                                         encoder_paths.get(agent))
            return encoder_paths, codebooks, backgrounds

        # 4. Training runs, interleaved by seed so that partial results cover every agent; up to `jobs` at a
        # time, each in its own process (one run, or --jobs 1: in this process, with progress bars).
        extra: dict[str, Any] = {"pretrain_seconds_this_invocation": pretrain_seconds}
        order = sorted(todo, key=lambda a_s: (a_s[1], exp.agents.index(a_s[0])))
        for done in _train_runs(order, exp, env_dir, prepare):
            print(f"{done['label']:>14s} seed {done['seed']}: final return {done['final_return']:.2f} ± "
                  f"{done['final_return_std']:.2f} (sd over {exp.eval_episodes} episodes), "
                  f"{done['train_steps_per_s']:.0f} train steps/s, {done['learn_seconds']:.0f} s", flush=True)
            write_results(exp, env_dir, labels, random, extra)

        # 5. Results.
        wall = time.perf_counter() - t_start
        extra["wall_seconds_this_invocation"] = wall
        extra["cpu_seconds_this_invocation"] = time.process_time() - cpu_start  # all threads of this process
        summary, table = write_results(exp, env_dir, labels, random, extra)
        print()
        print(table)
        cpu = extra["cpu_seconds_this_invocation"]
        print(f"\nwall time of this invocation: {wall:.0f} s ({cpu:.0f} CPU s); results in "
              f"{env_dir}/evaluations.csv, summary.json, table.md, learning_curves.png; TensorBoard: tensorboard "
              f"--logdir {env_dir / 'tb'}")
        if exp.export:
            export = Path(exp.export)
            export.mkdir(parents=True, exist_ok=True)
            for name in ("evaluations.csv", "summary.json", "table.md", "learning_curves.png"):
                if (env_dir / name).is_file():
                    shutil.copy2(env_dir / name, export / name)
            print(f"exported the small result files to {export}")
        return {"summary": summary, "table": table, "out": env_dir, "wall_seconds": wall}
