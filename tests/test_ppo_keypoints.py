"""experiments/ppo_keypoints.py end to end with a tiny budget: outputs, resume, the encoder reference of
saved keypoint agents, and the input errors raised before any training."""

import csv
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import agents.ppo_experiment as ppo_experiment
from agents.extractors import KeypointMapExtractor
from agents.experiment_settings import ExperimentError, PPOExperiment
from agents.run_folders import read_resume_state
from agents.saved_agent import AgentEncoderMismatch, agent_observation_options, load_agent
from mint_rl.checkpoint import load_checkpoint, save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.utils import file_sha256
from tests.conftest import kill_ppo_runs_at, load_script

pk = load_script("ppo_keypoints")  # the script: only its main

ENV = "MintTasks/Catch-v0"


# the default keypoint agent on object tasks: set extractor with a relation network, 8 colour codes, 5×5 window,
# linearly decaying learning rate, 1 frame
MINT = "mint-relation-c8w5-eqc-lrlin-n1-auxr2"


def tiny(out: Path, *extra: str) -> list[str]:
    """One PPO rollout (4 envs × 128 steps), 2 pretraining steps on 48 frames, K = 3, one eval episode."""
    return ["--env", ENV, "--seeds", "1", "--timesteps", "512", "--pretrain-steps", "2", "--pretrain-frames", "48",
            "-k", "3", "--eval-episodes", "1", "--overlay-every", "1", "--out", str(out), "--no-progress", *extra]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("ppo")
    report = pk.main(tiny(out, "--agents", "mint", "pixels"))
    return out, report


def test_outputs(run):
    out, report = run
    env_dir = out / "MintTasks_Catch-v0"
    assert report["out"] == env_dir
    for name in ("evaluations.csv", "summary.json", "table.md", "learning_curves.png", "random.json"):
        assert (env_dir / name).is_file() and (env_dir / name).stat().st_size > 0, name
    rows = list(csv.DictReader((env_dir / "evaluations.csv").open()))
    assert {r["agent"] for r in rows} == {MINT, "pixels"}
    assert all(int(r["step"]) == 512 and r["episodes"] == "1" for r in rows)  # the final evaluation
    for label in (MINT, "pixels"):
        run_dir = env_dir / label / "seed0"
        for name in ("model.zip", "agent.json", "done.json", "evaluations.csv"):
            assert (run_dir / name).is_file(), (label, name)
        done = json.loads((run_dir / "done.json").read_text())
        assert done["timesteps"] == 512 and done["train_steps_per_s"] > 0 and np.isfinite(done["final_return"])
    table = report["table"]
    for label in (f"| {MINT} | 1 |", "| pixels | 1 |", "| random policy |"):
        assert label in table
    assert (env_dir / "table.md").read_text().strip() == table.strip()
    summary = json.loads((env_dir / "summary.json").read_text())
    assert set(summary["agents"]) == {MINT, "pixels"}
    assert summary["agents"][MINT]["final_return"]["n"] == 1.0
    per_seed = summary["agents"][MINT]["steps_to_threshold_per_seed"]  # an env step, or None: never reached
    assert summary["agents"][MINT]["seeds"] == [0] and len(per_seed) == 1
    assert (per_seed[0] is None) == (summary["agents"][MINT]["reached"] == 0)

    # the encoder reference: a copy next to the model, its sha256 and config
    info = json.loads((env_dir / MINT / "seed0" / "agent.json").read_text())
    ref = info["encoder"]
    assert ref["path"] == "encoder.pt" and ref["type"] == "mint" and ref["config"]["num_keypoints"] == 3
    assert ref["sha256"] == file_sha256(env_dir / MINT / "seed0" / "encoder.pt")
    assert json.loads((env_dir / "pixels" / "seed0" / "agent.json").read_text())["encoder"] is None

    # TensorBoard: one run per agent, the keypoint agent with its overlay image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = {d.name: d for d in (env_dir / "tb").iterdir()}
    assert any(name.startswith("pixels_seed0") for name in tb)
    mint_tb = EventAccumulator(str(next(d for n, d in tb.items() if n.startswith(f"{MINT}_seed0"))))
    mint_tb.Reload()
    assert "keypoints/overlay" in mint_tb.Tags()["images"]


def test_resume_skips_finished_runs(run, capsys):
    out, _ = run
    marker = out / "MintTasks_Catch-v0" / MINT / "seed0" / "done.json"
    before = marker.stat().st_mtime_ns
    capsys.readouterr()
    report = pk.main(tiny(out, "--agents", "mint", "pixels"))
    assert "0 run(s) to do" in capsys.readouterr().out
    assert marker.stat().st_mtime_ns == before
    assert f"| {MINT} | 1 |" in report["table"]
    # the same folder with another budget is refused
    with pytest.raises(SystemExit, match="other settings"):
        pk.main(tiny(out, "--agents", "mint", "--timesteps", "1024"))


def test_load_agent_checks_the_encoder(run, tmp_path):
    out, _ = run
    run_dir = out / "MintTasks_Catch-v0" / MINT / "seed0"
    agent = load_agent(run_dir / "model.zip")
    assert agent.encoder is not None and agent.encoder.config.num_keypoints == 3
    # object tasks: one frame of keypoints per observation (--keypoint-stack 1)
    assert agent.info["n_stack"] == 1 and agent.info["settings"]["n_stack"] == 1
    assert agent.model.observation_space.shape == (3, 1 * (3 + agent.encoder.config.feature_dim + 8))
    assert agent.info["colour_codes"] == "colour_codes.npy" and np.load(run_dir / "colour_codes.npy").shape == (8, 3)
    assert load_agent(out / "MintTasks_Catch-v0" / "pixels" / "seed0").encoder is None

    # another encoder of the very same architecture is refused, offered explicitly or swapped in the folder
    other = tmp_path / "other.pt"
    config = MintConfig.from_dict(agent.info["encoder"]["config"])
    save_checkpoint(other, {"config": config.to_dict(), "encoder": KeypointEncoder(config).state_dict(),
                            "encoder_type": "mint"})
    with pytest.raises(AgentEncoderMismatch, match="sha256"):
        load_agent(run_dir, encoder=other)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model.zip", "agent.json"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    with pytest.raises(AgentEncoderMismatch, match="missing"):
        load_agent(copy)
    (copy / "encoder.pt").write_bytes(other.read_bytes())
    with pytest.raises(AgentEncoderMismatch, match="not the encoder"):
        load_agent(copy)


def test_online_cotraining_saves_the_cotrained_encoder(tmp_path):
    """--online --pretrain-steps 0: an encoder co-trained from scratch (nothing pretrained), saved with the agent."""
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "--online", "--pretrain-steps", "0", "--online-updates", "1",
                          "--overlay-every", "0"))
    run_dir = tmp_path / "MintTasks_Catch-v0" / "mint-online1-relation-lrlin-n1-auxr2" / "seed0"
    assert "| mint-online1-relation-lrlin-n1-auxr2 | 1 |" in report["table"]
    assert not (tmp_path / "MintTasks_Catch-v0" / "encoders").exists()  # nothing pretrained
    agent = load_agent(run_dir)
    assert agent.info["settings"]["online"] and agent.info["settings"]["online_start"] == "scratch"
    assert agent.encoder is not None


def test_online_runs_record_where_the_cotraining_started(tmp_path):
    """A finished online run made before the thirteenth session (from scratch, settings without online_start) is
    not taken for a run of today's --online, which starts from the run's pretraining."""
    from agents.experiment_settings import PPOExperiment

    now = PPOExperiment(agents=["mint"], online=True, out=str(tmp_path)).run_settings("mint")
    scratch = PPOExperiment(agents=["mint"], online=True, pretrain_steps=0, colour_codes=0,
                            out=str(tmp_path)).run_settings("mint")
    given = PPOExperiment(agents=["mint"], online=True, encoder="pong", env="ALE/Pong-v5",
                          out=str(tmp_path)).run_settings("mint")
    assert now["online_start"] == "pretrained" and scratch["online_start"] == "scratch"
    assert "online_start" not in given and given["encoder"] == "pong"  # the encoder it started from is recorded
    old = {k: v for k, v in now.items() if k != "online_start"}
    assert old != now


def test_online_starts_from_the_runs_own_pretraining(tmp_path):
    """--online: the run pretrains its encoder (and fits the colour codes to it), then co-trains it during PPO; the
    saved encoder is the co-trained one, not the pretrained one."""
    from mint_rl.baselines import load_encoder

    torch.set_num_threads(1)
    pk.main(tiny(tmp_path, "--agents", "mint", "--online", "--online-updates", "2", "--overlay-every", "0"))
    env_dir = tmp_path / "MintTasks_Catch-v0"
    pretrained = next((env_dir / "encoders").glob("mint-*/encoder.pt"))
    run_dir = env_dir / "mint-online2-relation-c8w5-eqc-lrlin-n1-auxr2" / "seed0"
    agent = load_agent(run_dir)
    assert agent.info["settings"]["online_start"] == "pretrained" and agent.info["settings"]["colour_codes"] == 8
    start = load_encoder(pretrained).state_dict()
    end = agent.encoder.state_dict()
    assert start.keys() == end.keys()
    assert any(not torch.equal(start[k], end[k]) for k in start)  # co-trained on from the pretrained weights
    assert agent.info["encoder"]["config"] == load_checkpoint(pretrained)["config"].to_dict()


# --------------------------------------------------------------------------- input errors, before training
def assert_nothing_trained(out: Path) -> None:
    names = {p.name for p in out.rglob("*")}
    assert "model.zip" not in names and "encoders" not in names


def test_first_seed_adds_seeds_beside_the_finished_ones(run, tmp_path, capsys):
    """--first-seed F trains seeds F .. F+N-1 only (their own held-out episodes) and reports those; a later command
    with seeds 0 .. F+N-1 reuses every finished run."""
    out = tmp_path / "copy"
    shutil.copytree(run[0], out)
    capsys.readouterr()
    report = pk.main(tiny(out, "--agents", "pixels", "--first-seed", "1", "--seeds", "2", "--jobs", "1"))
    printed = capsys.readouterr().out
    assert "2 seed(s) from seed 1" in printed and "2 run(s) to do" in printed
    env_dir = out / "MintTasks_Catch-v0" / "pixels"
    assert sorted(p.name for p in env_dir.iterdir()) == ["seed0", "seed1", "seed2"]  # seed 0: the fixture's
    for seed in (1, 2):
        rows = list(csv.DictReader((env_dir / f"seed{seed}" / "evaluations.csv").open()))
        assert {r["seed"] for r in rows} == {str(seed)}
    assert report["summary"]["agents"]["pixels"]["n"] == 2
    assert report["summary"]["agents"]["pixels"]["seeds"] == [1, 2]
    report = pk.main(tiny(out, "--agents", "pixels", "--seeds", "3"))
    assert "0 run(s) to do" in capsys.readouterr().out
    assert report["summary"]["agents"]["pixels"]["seeds"] == [0, 1, 2]


def test_parallel_runs_match_sequential_runs(run, tmp_path):
    """The fixture ran its two runs in two worker processes (--jobs defaults to the cores); one after the other
    in this process the evaluations are the same, timing aside."""
    out, _ = run
    torch.set_num_threads(1)
    pk.main(tiny(tmp_path, "--agents", "mint", "pixels", "--jobs", "1"))
    for label in (MINT, "pixels"):
        rows = [list(csv.DictReader((o / "MintTasks_Catch-v0" / label / "seed0" / "evaluations.csv").open()))
                for o in (out, tmp_path)]
        strip = [[{k: v for k, v in r.items() if k not in ("train_seconds", "train_steps_per_s")} for r in rs]
                 for rs in rows]
        assert strip[0] == strip[1], label


def test_encoder_free_runs_train_while_the_encoder_pretrains(tmp_path, monkeypatch, capsys):
    """With --jobs 2 the pixel run starts in a worker before the MINT encoder's pretraining (in this process) begins,
    so the pretraining is off the default command's critical path; the keypoint run follows, and both finish."""
    torch.set_num_threads(1)
    real = ppo_experiment.pretrain_mint
    seen = []

    def pretrain(*args, **kwargs):
        pixel_run = tmp_path / "MintTasks_Catch-v0" / "pixels" / "seed0" / "settings.json"
        deadline = time.monotonic() + 120
        while not pixel_run.is_file() and time.monotonic() < deadline:  # the worker needs a few s to import
            time.sleep(0.2)
        seen.append(pixel_run.is_file())
        return real(*args, **kwargs)

    monkeypatch.setattr(ppo_experiment, "pretrain_mint", pretrain)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "pixels", "--jobs", "2"))
    assert seen == [True]
    out = capsys.readouterr().out
    assert "started pixels seed 0 (no encoder needed) beside the encoder's preparation" in out
    assert out.index("started pixels seed 0") < out.index("pretrained the mint encoder")
    for label in (MINT, "pixels"):
        assert (report["out"] / label / "seed0" / "done.json").is_file(), label


def test_a_failing_pretraining_stops_the_runs_started_beside_it(tmp_path, monkeypatch):
    """A pretraining that fails while the pixel run trains stops that run (no done.json) and raises; the next call
    trains it (resumed or anew) with the encoder."""
    torch.set_num_threads(1)
    real = ppo_experiment.pretrain_mint

    def broken(*args, **kwargs):  # fails as soon as the pixel run has started (before it can finish)
        deadline = time.monotonic() + 120
        while not (tmp_path / "MintTasks_Catch-v0" / "pixels" / "seed0" / "settings.json").is_file() \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        raise ppo_experiment.PretrainError("pretraining failed on purpose")

    monkeypatch.setattr(ppo_experiment, "pretrain_mint", broken)
    with pytest.raises(SystemExit, match="pretraining failed on purpose"):
        pk.main(tiny(tmp_path, "--agents", "mint", "pixels", "--jobs", "2"))
    assert not (tmp_path / "MintTasks_Catch-v0" / "pixels" / "seed0" / "done.json").exists()
    monkeypatch.setattr(ppo_experiment, "pretrain_mint", real)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "pixels", "--jobs", "2"))
    for label in (MINT, "pixels"):
        assert (report["out"] / label / "seed0" / "done.json").is_file(), label


def test_rejects_zero_jobs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--jobs", "0"))
    assert "--jobs must be >= 1, got 0" in capsys.readouterr().err


def test_keypoint_stack_two_frames(tmp_path):
    """--keypoint-stack 2: the previous frame's keypoints beside the current ones; its own label and run folder."""
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "--keypoint-stack", "2"))
    run_dir = report["out"] / "mint-relation-c8w5-eqc-lrlin-auxr2" / "seed0"
    agent = load_agent(run_dir)
    assert agent.info["n_stack"] == 2 and agent.model.observation_space.shape == (3, 2 * (3 + 8))


def test_separate_critic_and_relation_extractor(tmp_path):
    """--separate-critic --extractor relation: the value function has its own relation extractor; own label."""
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "--extractor", "relation", "--separate-critic"))
    agent = load_agent(report["out"] / "mint-relation-c8w5-eqc-sc-lrlin-n1-auxr2" / "seed0")
    policy = agent.model.policy
    assert not policy.share_features_extractor
    assert policy.pi_features_extractor is not policy.vf_features_extractor
    assert policy.pi_features_extractor.relations is not None
    obs = torch.as_tensor(agent.model.observation_space.sample()[None])
    before, probs = policy.predict_values(obs), policy.get_distribution(obs).distribution.probs
    with torch.no_grad():  # the critic's extractor is not the actor's: changing it moves values, not actions
        for p in policy.vf_features_extractor.parameters():
            p.add_(1.0)
    assert not torch.allclose(policy.predict_values(obs), before)
    torch.testing.assert_close(policy.get_distribution(obs).distribution.probs, probs)


def spy_training_envs(monkeypatch) -> list:
    """The keypoint training envs ``ppo_experiment.build_agent`` builds from now on, in order."""
    built = []
    build = ppo_experiment.build_agent

    def spy(*args, **kwargs):
        out = build(*args, **kwargs)
        built.append(out[3])
        return out

    monkeypatch.setattr(ppo_experiment, "build_agent", spy)
    return built


@pytest.mark.parametrize(("flags", "label", "observed", "recorded"), [
    (["--refine", "9"], "mint-relation-c8w5-eqc-rf9-lrlin-n1-auxr2", (9, 0), {"refine": 9}),
    (["--refine", "5", "--refine-snap", "9"], "mint-relation-c8w5-eqc-rf5s9-lrlin-n1-auxr2", (5, 9),
     {"refine": 5, "refine_snap": 9}),
], ids=["refine", "snap"])
def test_refine_moves_the_keypoints_the_agent_reads(tmp_path, monkeypatch, flags, label, observed, recorded):
    """--refine 9 (and --refine-snap): own label and settings; the agent's training env refines (the run settings
    record it, so experiments/scripted_catch.py rebuilds the same observation for a saved agent)."""
    torch.set_num_threads(1)
    built = spy_training_envs(monkeypatch)
    report = pk.main(tiny(tmp_path, "--agents", "mint", *flags, "--jobs", "1"))
    assert [(e.observer.refine_window, e.observer.refine_snap) for e in built] == [observed]
    settings = load_agent(report["out"] / label / "seed0").info["settings"]
    assert {k: settings.get(k) for k in recorded} == recorded and ("refine_snap" in settings) == ("refine_snap" in recorded)


def test_no_encoder_features_leaves_the_feature_head_out(tmp_path, monkeypatch, capsys):
    """--no-encoder-features: an encoder with F = 2 features, rows without them; own label (-nf) and setting,
    rebuilt for the saved agent; refused without a keypoint agent."""
    torch.set_num_threads(1)
    built = spy_training_envs(monkeypatch)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "--feature-dim", "2", "--no-encoder-features", "--jobs", "1"))
    assert [(e.observer.encoder_feature_dim, e.observer.feature_dim) for e in built] == [(2, 0)]
    agent = load_agent(report["out"] / "mint-relation-c8w5-eqc-nf-lrlin-n1-auxr2" / "seed0")
    assert agent.info["settings"]["encoder_features"] is False
    assert agent.model.observation_space.shape[-1] == 3 + 8  # x, y, status and the 8 colour codes
    run_dir = report["out"] / "mint-relation-c8w5-eqc-nf-lrlin-n1-auxr2" / "seed0"
    assert agent_observation_options(agent, run_dir).encoder_features is False
    for flags, message in ((["--agents", "pixels"], "--no-encoder-features leaves the encoder's features out"),
                           (["--agents", "mint"], "have no feature head with --feature-dim 0")):
        with pytest.raises(SystemExit):
            pk.main(tiny(tmp_path / "bad", *flags, "--no-encoder-features"))
        assert message in capsys.readouterr().err


def test_rejects_a_refine_window_larger_than_the_frames(tmp_path):
    with pytest.raises(SystemExit, match="--refine: refinement window 65 px is larger than the 64×64 frames"):
        pk.main(tiny(tmp_path, "--agents", "mint", "--refine", "65"))
    assert_nothing_trained(tmp_path)


def test_rejects_keypoint_stack_below_one(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--agents", "mint", "--keypoint-stack", "0"))
    assert "--keypoint-stack must be >= 1 frame, got 0" in capsys.readouterr().err


def test_rejects_env_without_images(tmp_path):
    with pytest.raises(SystemExit, match="does not give image observations"):
        pk.main(tiny(tmp_path, "--env", "CartPole-v1"))
    assert_nothing_trained(tmp_path)


def test_rejects_unknown_agent(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--agents", "mint", "dreamer"))
    assert "invalid choice: 'dreamer'" in capsys.readouterr().err
    assert_nothing_trained(tmp_path)


def test_rejects_budget_below_one_rollout(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--timesteps", "100"))
    assert "smaller than one PPO rollout (--n-envs 4 × n_steps 128 = 512" in capsys.readouterr().err
    assert_nothing_trained(tmp_path)


def test_rejects_checkpoint_for_other_frames(tmp_path):
    config = MintConfig(num_keypoints=3, image_size=(32, 32))
    path = save_checkpoint(tmp_path / "small.pt", {"config": config.to_dict(),
                                                   "encoder": KeypointEncoder(config).state_dict()})
    with pytest.raises(SystemExit, match="3-channel 32×32 frames, but MintTasks/Catch-v0 gives 3-channel 64×64"):
        pk.main(tiny(tmp_path, "--encoder", str(path)))
    grey = MintConfig(num_keypoints=3, in_channels=1, image_size=(64, 64))
    path = save_checkpoint(tmp_path / "grey.pt", {"config": grey.to_dict(),
                                                  "encoder": KeypointEncoder(grey).state_dict()})
    with pytest.raises(SystemExit, match="1-channel 64×64"):
        pk.main(tiny(tmp_path, "--encoder", str(path)))
    assert_nothing_trained(tmp_path)


def test_encoder_by_name_is_a_shipped_encoder(tmp_path, capsys):
    """--encoder NAME reads envs/pretrained/NAME.pt; an unknown name lists the shipped ones; a shipped Atari encoder
    on Catch is refused for its frame size, like any checkpoint."""
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--encoder", "catch"))
    assert "--encoder: no shipped encoder named 'catch' (shipped: breakout, mspacman, pong)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        pk.main(tiny(tmp_path, "--encoder", "pong"))
    assert re.search(r"pretrained.pong\.pt was made for 3-channel 84×84 frames", str(exc.value.code) + capsys.readouterr().err)
    assert_nothing_trained(tmp_path)


def test_a_given_encoders_colour_codebook_is_cached_in_the_run_folder_not_beside_it(run, tmp_path):
    """The colour codebook of a checkpoint given with --encoder (or shipped: a package folder) is fitted and cached
    in the experiment's encoders folder; nothing is written beside the given file; it equals the codebook the
    pretraining run cached beside its own encoder (same encoder, same frames)."""
    out, _ = run
    encoders = out / "MintTasks_Catch-v0" / "encoders"
    own = next(encoders.glob("mint-*/encoder.pt"))
    given = tmp_path / "given" / "encoder.pt"
    given.parent.mkdir()
    shutil.copy2(own, given)
    pk.main(tiny(tmp_path / "out", "--agents", "mint", "--encoder", str(given)))
    assert sorted(p.name for p in given.parent.iterdir()) == ["encoder.pt"]
    cached = list((tmp_path / "out" / "MintTasks_Catch-v0" / "encoders").glob("colour_codes-*-frames-f48.npy"))
    assert len(cached) == 1
    assert np.array_equal(np.load(cached[0]), np.load(next(own.parent.glob("colour_codes-*.npy"))))


def test_rejects_ground_truth_where_there_is_none(tmp_path):
    with pytest.raises(SystemExit, match="no ground-truth state"):
        pk.main(tiny(tmp_path, "--env", "MintScenes/Bouncing-v0", "--agents", "ground_truth"))
    assert_nothing_trained(tmp_path)


# --------------------------------------------------------------------------- Atari
@pytest.mark.slow
def test_pong_end_to_end(tmp_path):
    torch.set_num_threads(1)
    report = pk.main(["--env", "ALE/Pong-v5", "--agents", "mint", "pixels", "--timesteps", "1024",
                      "--pretrain-steps", "2", "--pretrain-frames", "64", "-k", "3", "--eval-episodes", "1",
                      "--out", str(tmp_path), "--no-progress"])
    env_dir = tmp_path / "ALE_Pong-v5"
    assert "| mint | 1 |" in report["table"] and "| pixels | 1 |" in report["table"]
    pixels = load_agent(env_dir / "pixels" / "seed0")
    assert pixels.model.observation_space.shape == (4, 84, 84)  # the grey 84×84×4 stack
    mint = load_agent(env_dir / "mint" / "seed0")
    assert mint.encoder.config.image_size == (84, 84) and mint.encoder.config.in_channels == 3
    returns = [float(r["mean_return"]) for r in csv.DictReader((env_dir / "evaluations.csv").open())]
    assert all(-21 <= r <= 21 for r in returns)  # raw (unclipped) game score of a full game


# --------------------------------------------------------------------------- mid-way resume
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch, capsys):
    """Kill a co-trained run after its step-1536 evaluation; the checkpoint is at step 1024, so the rerun
    resumes there (weights, optimiser, co-trained encoder), drops the step-1536 row and redoes it."""
    torch.set_num_threads(1)
    argv = tiny(tmp_path, "--agents", "mint", "--online", "--pretrain-steps", "0", "--online-updates", "1",
                "--overlay-every", "0", "--timesteps", "2048", "--eval-freq", "512", "--checkpoint-every", "1024")
    revive = kill_ppo_runs_at(monkeypatch, 1536)
    with pytest.raises(KeyboardInterrupt):
        pk.main(argv)
    run_dir = tmp_path / "MintTasks_Catch-v0" / "mint-online1-relation-lrlin-n1-auxr2" / "seed0"
    state = json.loads((run_dir / "resume" / "state.json").read_text())
    assert state["step"] == 1024 and state["encoder"] and not (run_dir / "done.json").exists()
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "evaluations.csv").open())]
    assert steps == [512, 1024, 1536]
    saved = torch.load(run_dir / "resume" / state["encoder"], weights_only=False)["encoder"]

    revive()
    resumed = {}
    build = ppo_experiment.build_agent

    def spy(*args, **kwargs):
        out = build(*args, **kwargs)
        resumed["encoder"] = {k: v.clone() for k, v in out[3].encoder.state_dict().items()}
        return out

    monkeypatch.setattr(ppo_experiment, "build_agent", spy)
    capsys.readouterr()
    pk.main(argv)
    assert "resuming at step 1024" in capsys.readouterr().out
    for key, value in saved.items():  # the co-trained encoder went on from its checkpoint, not from scratch
        assert torch.equal(resumed["encoder"][key], value), key
    done = json.loads((run_dir / "done.json").read_text())
    assert done["timesteps"] == 2048 and done["resumed_at"] == 1024
    steps = [int(r["step"]) for r in csv.DictReader((run_dir / "evaluations.csv").open())]
    assert steps == [512, 1024, 1536, 2048]  # the step-1536 evaluation once, redone after the resume
    assert not (run_dir / "resume").exists()  # removed once the run is done


def test_resume_checkpoint_ignored_when_settings_changed(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    argv = tiny(tmp_path, "--agents", "ground_truth", "--timesteps", "1024", "--checkpoint-every", "512")
    revive = kill_ppo_runs_at(monkeypatch, 512)
    with pytest.raises(KeyboardInterrupt):
        pk.main(argv)
    run_dir = tmp_path / "MintTasks_Catch-v0" / "ground_truth" / "seed0"
    assert read_resume_state(run_dir)["step"] == 512
    revive()
    pk.main(tiny(tmp_path, "--agents", "ground_truth", "--timesteps", "1536", "--checkpoint-every", "512"))
    done = json.loads((run_dir / "done.json").read_text())
    assert done["timesteps"] == 1536 and done["resumed_at"] is None  # another budget: started over


def test_lr_decay_is_the_keypoint_agents_own_and_keeps_the_protocol(tmp_path):
    """--lr-decay: the keypoint agent's learning rate decays linearly (its optimiser ends below the shared rate),
    the true-state agent keeps the shared constant rate, and both stay in one table (same protocol)."""
    from agents.experiment_settings import SCENE_PPO, PPOExperiment

    exp = PPOExperiment(agents=["mint", "ground_truth"], lr_decay=True, out=str(tmp_path / "x"))
    lr = exp.ppo_kwargs("mint")["learning_rate"]
    assert lr(1.0) == SCENE_PPO["learning_rate"] and lr(0.5) == SCENE_PPO["learning_rate"] / 2
    assert exp.ppo_kwargs("ground_truth")["learning_rate"] == SCENE_PPO["learning_rate"]
    assert exp.run_settings("mint")["ppo"] == exp.run_settings("ground_truth")["ppo"]
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path, "--agents", "mint", "ground_truth", "--extractor", "set", "--lr-decay"))
    rates = {label: load_agent(report["out"] / label / "seed0").model.policy.optimizer.param_groups[0]["lr"]
             for label in ("mint-set-c8w5-eqc-lrlin-n1-auxr2", "ground_truth")}
    assert rates["mint-set-c8w5-eqc-lrlin-n1-auxr2"] < SCENE_PPO["learning_rate"] / 2
    assert rates["ground_truth"] == SCENE_PPO["learning_rate"]
    table = (report["out"] / "table.md").read_text()
    assert "mint-set-c8w5-eqc-lrlin-n1-auxr2" in table and "ground_truth" in table


def test_keypoint_lr_sets_the_keypoint_agents_own_starting_rate(tmp_path, capsys):
    """--keypoint-lr: the keypoint agent starts from its own rate (decaying with --lr-decay, and on ALE where
    the shared rate decays), the other agents keep the shared one, the label and run settings say so, and the
    protocol is shared; a rate outside (0, 1) is refused naming the flag."""
    from agents.experiment_settings import ATARI_PPO, SCENE_PPO, PPOExperiment

    exp = PPOExperiment(agents=["mint", "ground_truth"], keypoint_lr=6e-4, lr_decay=True, out=str(tmp_path / "x"))
    lr = exp.ppo_kwargs("mint")["learning_rate"]
    assert lr(1.0) == pytest.approx(6e-4) and lr(0.25) == pytest.approx(1.5e-4)
    assert exp.ppo_kwargs("ground_truth")["learning_rate"] == SCENE_PPO["learning_rate"]
    assert exp.label("mint") == "mint-relation-c8w5-eqc-lr0.0006-lrlin-n1-auxr2" and exp.label("ground_truth") == "ground_truth"
    assert exp.run_settings("mint")["keypoint_learning_rate"] == 6e-4
    assert "keypoint_learning_rate" not in exp.run_settings("ground_truth")
    assert exp.run_settings("mint")["ppo"] == exp.run_settings("ground_truth")["ppo"]
    constant = PPOExperiment(agents=["mint"], keypoint_lr=6e-4, lr_decay=False, out=str(tmp_path / "y"))
    assert constant.ppo_kwargs("mint")["learning_rate"] == 6e-4
    atari = PPOExperiment(env="ALE/Pong-v5", agents=["mint", "pixels"], keypoint_lr=1e-4, out=str(tmp_path / "z"))
    assert atari.ppo_kwargs("mint")["learning_rate"](0.5) == pytest.approx(5e-5)
    assert atari.ppo_kwargs("pixels")["learning_rate"] is ATARI_PPO["learning_rate"]
    # the ladder's objects agents (the keypoints' upper reference) take it too, without the keypoints' lr decay
    ladder = PPOExperiment(agents=["objects", "pixels"], keypoint_lr=1e-3, lr_decay=True, out=str(tmp_path / "w"))
    assert ladder.ppo_kwargs("objects")["learning_rate"] == 1e-3 and ladder.label("objects").endswith("-lr0.001-auxr2")
    assert ladder.run_settings("objects")["keypoint_learning_rate"] == 1e-3
    assert ladder.ppo_kwargs("pixels")["learning_rate"] == SCENE_PPO["learning_rate"]
    ale_objects = PPOExperiment(env="ALE/Pong-v5", agents=["objects"], keypoint_lr=1e-3, out=str(tmp_path / "v"))
    assert ale_objects.ppo_kwargs("objects")["learning_rate"](0.5) == pytest.approx(5e-4)
    assert ale_objects.label("objects") == "objects-lr0.001"
    for bad in ("0", "-1e-4", "nan", "2"):
        with pytest.raises(SystemExit):
            pk.main(tiny(tmp_path, "--agents", "mint", f"--keypoint-lr={bad}"))
        assert "--keypoint-lr must be a learning rate in (0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pk.main(tiny(tmp_path, "--agents", "pixels", "--keypoint-lr", "1e-4"))
    assert "--agents has none" in capsys.readouterr().err


def test_online_updates_other_than_the_default_name_their_own_folder(tmp_path):
    """--online-updates N other than the default gives the label -online<N> (a folder of its own, so runs with
    different update counts never share a folder); the default keeps -online; both record the count."""
    from agents.experiment_settings import ONLINE_UPDATES, PPOExperiment

    enc = str(tmp_path / "encoder.pt")
    default = PPOExperiment(agents=["mint"], online=True, encoder=enc, out=str(tmp_path / "x"))
    fewer = PPOExperiment(agents=["mint"], online=True, online_updates=5, encoder=enc, out=str(tmp_path / "y"))
    assert default.label("mint").startswith("mint-online-") and fewer.label("mint").startswith("mint-online5-")
    assert default.run_settings("mint")["online_updates"] == ONLINE_UPDATES
    assert fewer.run_settings("mint")["online_updates"] == 5
    frozen = PPOExperiment(agents=["mint"], online_updates=5, out=str(tmp_path / "z"))
    assert "online" not in frozen.label("mint")


def test_frame_policy_plays_a_saved_agent_on_raw_frames(run, tmp_path, capsys):
    """agents.saved_agent.frame_policy: frame → the agent's own keypoint rows → the action its model takes on the
    observation its eval env gives (same encoder, colour codes); keypoint_properties.py --agent plays held-out
    episodes with it; agents that read no keypoints, and folders without an agent, are refused by name."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    import envs  # noqa: F401
    from agents.saved_agent import agent_observation_options, frame_policy
    from agents.vec_env import MintKeypointVecEnv

    out, _ = run
    run_dir = out / "MintTasks_Catch-v0" / MINT / "seed0"
    agent = load_agent(run_dir)
    policy = frame_policy(run_dir, gym.make(ENV).observation_space)
    venv = MintKeypointVecEnv(DummyVecEnv([lambda: gym.make(ENV)]), agent.encoder,
                              options=agent_observation_options(agent, run_dir))
    venv.seed(7)
    rows = venv.reset()
    env = gym.make(ENV)
    frame, _ = env.reset(seed=7)  # the same episode, stepped in step with the vec env
    for _ in range(12):
        action = agent.model.predict(rows, deterministic=True)[0]
        assert policy(frame) == action[0]
        rows, _, _, _ = venv.step(action)
        frame, *_ = env.step(action[0])
    with pytest.raises(ValueError, match="reads no keypoints"):
        frame_policy(out / "MintTasks_Catch-v0" / "pixels" / "seed0", gym.make(ENV).observation_space)

    props = load_script("keypoint_properties")
    enc = str(run_dir / "encoder.pt")
    results = props.main(["--encoder", enc, "--episodes", "1", "--agent", str(run_dir), "--out", str(tmp_path / "p")])
    meta = json.loads((tmp_path / "p" / "properties.json").read_text())["meta"]
    assert meta["policy"] == str(run_dir) and 0 <= results["seed0"]["detect_agent"] <= 100
    assert "played by the agent" in (tmp_path / "p" / "properties.md").read_text()
    with pytest.raises(SystemExit):
        props.main(["--encoder", enc, "--agent", str(tmp_path), "--out", str(tmp_path / "q")])
    assert "no agent.json there" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a Catch agent cannot play Dodge's episodes
        props.main(["--encoder", enc, "--agent", str(run_dir), "--env", "MintTasks/Dodge-v0", "--out", str(tmp_path / "q")])
    assert "was trained on MintTasks/Catch-v0, not on --env MintTasks/Dodge-v0" in capsys.readouterr().err

    # a copy of the run without its colour codebook (and no cached one beside the encoder's source): a ValueError
    copy = tmp_path / "nocodes"
    shutil.copytree(run_dir, copy)
    (copy / "colour_codes.npy").unlink()
    info = json.loads((copy / "agent.json").read_text())
    info["encoder"]["source"] = str(tmp_path / "gone" / "encoder.pt")
    (copy / "agent.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="its codebook is missing"):
        frame_policy(copy, gym.make(ENV).observation_space)


def test_equal_codes_reach_the_keypoint_agents_extractor(tmp_path):
    """Equal codes (the default on object tasks): the keypoint agent's label and run settings say so, and its saved
    extractor reads the colour codes through its own code weights (that they start at zero and get a gradient:
    tests/test_extractors.py); --no-equal-codes gives the plain first layer."""
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path, "--agents", "mint"))
    label = "mint-relation-c8w5-eqc-lrlin-n1-auxr2"
    run_dir = report["out"] / label / "seed0"
    assert json.loads((run_dir / "settings.json").read_text())["equal_codes"] is True
    extractor = load_agent(run_dir).model.policy.features_extractor
    assert extractor.code_weight is not None and extractor.code_weight.shape == (64, 8)
    assert extractor.relations.pair_dim == 64 and "relation_dim" not in json.loads((run_dir / "settings.json").read_text())
    assert f"| {label} | 1 |" in report["table"] and "| – (no pixel agent) |" in report["table"]  # no pixels: no bar
    report = pk.main(tiny(tmp_path / "off", "--agents", "mint", "--no-equal-codes"))
    run_dir = report["out"] / "mint-relation-c8w5-lrlin-n1-auxr2" / "seed0"
    assert "equal_codes" not in json.loads((run_dir / "settings.json").read_text())
    assert load_agent(run_dir).model.policy.features_extractor.code_weight is None


def test_relation_width_is_an_option_of_the_keypoint_agents_relation_network(tmp_path):
    """The relation network's width: by default the embedding size (64; no label suffix, no run setting, so runs made
    before the flag still match, and ``--relation-dim 64`` is the same run); another width adds ``-p<width>`` to the
    label and to the run settings; a width where no relation network of a keypoint agent exists, or out of range,
    is refused."""
    def exp(**kw):
        return PPOExperiment(out=str(tmp_path / "x"), **kw)
    default = exp(agents=["mint", "pixels"])
    assert default.relation_dim is None and default.label("mint") == "mint-relation-c8w5-eqc-lrlin-n1-auxr2"
    assert "relation_dim" not in default.run_settings("mint")
    same = exp(agents=["mint"], relation_dim=64)
    assert same.label("mint") == default.label("mint") and same.run_settings("mint") == default.run_settings("mint")
    narrow = exp(agents=["mint", "pixels"], relation_dim=32)
    assert narrow.label("mint") == "mint-relation-p32-c8w5-eqc-lrlin-n1-auxr2"
    assert narrow.run_settings("mint")["relation_dim"] == 32 and "relation_dim" not in narrow.run_settings("pixels")
    assert exp(agents=["objects"]).label("objects") == "objects-relation-auxr2"  # the ladder's agents keep theirs
    with pytest.raises(ExperimentError, match="--relation-dim 16 .*--extractor relation \\(now set\\)"):
        exp(agents=["mint"], extractor="set", relation_dim=16)
    with pytest.raises(ExperimentError, match="--relation-dim 16 .*in --agents"):
        exp(agents=["pixels"], relation_dim=16)
    with pytest.raises(ExperimentError, match="--relation-dim 16 .*--extractor relation \\(now mlp\\)"):
        exp(env="ALE/Pong-v5", agents=["mint"], relation_dim=16)
    for bad in (0, 2000, 2.5):
        with pytest.raises(ExperimentError, match="--relation-dim must be a whole number in \\[1, 1024\\]"):
            exp(agents=["mint"], relation_dim=bad)


def test_code_gain_is_recorded_and_refused_without_equal_codes(tmp_path):
    """--code-gain g: the keypoint agent's label says -eqcg<g> and its run settings record g (0, the default, keeps
    the label and settings of runs before the flag); refused without equal codes or out of [0, 2]."""
    def exp(**kw):
        return PPOExperiment(out=str(tmp_path / "x"), **kw)
    assert exp(agents=["mint"]).label("mint") == "mint-relation-c8w5-eqc-lrlin-n1-auxr2"
    assert "code_gain" not in exp(agents=["mint"]).run_settings("mint")
    small = exp(agents=["mint"], code_gain=0.5)
    assert small.label("mint") == "mint-relation-c8w5-eqcg0.5-lrlin-n1-auxr2" and small.run_settings("mint")["code_gain"] == 0.5
    with pytest.raises(ExperimentError, match="--code-gain 0.5 .*turn them on or drop the flag"):
        exp(agents=["mint"], code_gain=0.5, equal_codes=False)
    for bad in (-0.5, 3.0, float("nan")):
        with pytest.raises(ExperimentError, match="--code-gain must be in \\[0, 2\\]"):
            exp(agents=["mint"], code_gain=bad)


def test_equal_codes_are_the_default_only_where_they_apply(tmp_path):
    """The default turns equal codes on for keypoint agents with colour codes and a set extractor on object tasks,
    and leaves them off (without an error) where they do not apply; an explicit --equal-codes there is refused."""
    def exp(**kw):
        return PPOExperiment(out=str(tmp_path / "x"), **kw)
    assert exp(agents=["mint"]).equal_codes and exp(agents=["mint"], extractor="set").equal_codes
    assert exp(agents=["mint", "pixels", "ground_truth"]).label("mint").endswith("-eqc-lrlin-n1-auxr2")
    assert not exp(agents=["mint"], equal_codes=False).equal_codes
    assert not exp(agents=["mint"], colour_codes=0).equal_codes
    assert not exp(agents=["mint"], glimpse_size=0).equal_codes
    assert not exp(agents=["mint"], extractor="mlp").equal_codes
    assert not exp(agents=["pixels", "ground_truth"]).equal_codes
    assert not exp(env="ALE/Pong-v5", agents=["mint"]).equal_codes
    with pytest.raises(ExperimentError, match="--equal-codes starts every colour code"):
        exp(agents=["mint"], colour_codes=0, equal_codes=True)


def test_every_agent_uses_sb3s_adam_in_its_foreach_form():
    """Every agent's PPO optimiser is SB3's default, Adam with eps 1e-5 (which SB3 sets only when no optimizer_kwargs
    are given), in PyTorch's foreach form (the same updates bit for bit as the per-tensor CPU loop; faster:
    results/ppo/speed_s22/), so no agent gets a faster optimiser than another."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    sb3_default = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1), device="cpu").policy.optimizer
    exp = PPOExperiment(env="MintTasks/Catch-v0", overlay_every=0, no_progress=True, num_keypoints=8,
                        agents=("pixels", "ground_truth", "objects", "mint"))
    encoder = KeypointEncoder(MintConfig(num_keypoints=8, in_channels=3, image_size=(64, 64))).eval()
    codebook = np.random.default_rng(0).random((exp.colour_codes, 3)).astype(np.float32)
    for agent in ("pixels", "ground_truth", "objects", "mint"):
        model, eval_env, _, _ = ppo_experiment.build_agent(agent, exp, 0, encoder if agent == "mint" else None,
                                                           None, codebook if agent == "mint" else None)
        optimizer = model.policy.optimizer
        assert type(optimizer) is type(sb3_default), agent
        for group in optimizer.param_groups:
            assert group["foreach"] is True, agent
            assert {k: v for k, v in group.items() if k not in ("params", "foreach", "lr", "initial_lr")} == \
                {k: v for k, v in sb3_default.param_groups[0].items() if k not in ("params", "foreach", "lr", "initial_lr")}, agent
        model.get_env().close()
        eval_env.close()


def test_fourier_features_reach_the_flat_extractor_and_are_recorded(tmp_path):
    """--fourier-features L: the keypoint and objects agents' flat extractor gets sinusoids of the coordinates (the
    saved agent's extractor has them), the label says -ff<L> and the run settings record L (0, the default, keeps the
    label and settings of runs before the flag); refused with another extractor, without such an agent, or out of
    range."""
    def exp(**kw):
        return PPOExperiment(out=str(tmp_path / "x"), **kw)
    default = exp(env="ALE/Pong-v5", agents=["mint", "objects"])
    assert "-ff" not in default.label("mint") and "fourier_features" not in default.run_settings("objects")
    ff = exp(env="ALE/Pong-v5", agents=["mint", "objects", "pixels"], fourier_features=6)
    assert ff.label("mint").endswith("-ff6") and ff.label("objects") == "objects-ff6"
    assert ff.run_settings("mint")["fourier_features"] == 6 and "fourier_features" not in ff.run_settings("pixels")
    with pytest.raises(ExperimentError, match="--fourier-features 4 .*--extractor mlp \\(now relation\\)"):
        exp(agents=["mint"], fourier_features=4)
    with pytest.raises(ExperimentError, match="--fourier-features 4 .*in --agents"):
        exp(env="ALE/Pong-v5", agents=["pixels"], fourier_features=4)
    for bad in (-1, 11, 2.5, True):
        with pytest.raises(ExperimentError, match="--fourier-features must be a whole number of octaves in "
                                                  "\\[0, 10\\]"):
            exp(env="ALE/Pong-v5", agents=["mint"], fourier_features=bad)
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path / "run", "--agents", "objects", "mint", "--extractor", "mlp",
                          "--fourier-features", "2"))
    for label in ("objects-ff2-auxr2", "mint-c8w5-ff2-lrlin-n1-auxr2"):
        run_dir = report["out"] / label / "seed0"
        assert json.loads((run_dir / "settings.json").read_text())["fourier_features"] == 2, label
        assert load_agent(run_dir).model.policy.features_extractor.fourier == 2, label


def test_map_extractor_reaches_the_keypoint_and_objects_agents(tmp_path):
    """--extractor map: the label says -map, the saved agents' extractor draws their rows on a grid (colour codes as
    channels), equal codes are off by default (they belong to set extractors) and refused when asked for; raw
    glimpses, which it cannot draw, are refused."""
    def exp(**kw):
        return PPOExperiment(out=str(tmp_path / "x"), **kw)
    scene = exp(agents=["mint", "objects"], extractor="map")
    assert not scene.equal_codes and scene.label("mint") == "mint-map-c8w5-lrlin-n1-auxr2"
    assert scene.label("objects") == "objects-map-auxr2"
    assert exp(env="ALE/Pong-v5", agents=["mint"], extractor="map", encoder="pong",
               encoder_features=False).label("mint") == "mint-map-nf"
    with pytest.raises(ExperimentError, match="--equal-codes starts every colour code .*now --extractor map"):
        exp(agents=["mint"], extractor="map", equal_codes=True)
    with pytest.raises(ExperimentError, match="--extractor map draws .*--glimpse-size 5 with --colour-codes 0.*"
                                              "give --colour-codes N .* or --glimpse-size 0"):
        exp(agents=["mint"], extractor="map", colour_codes=0)
    assert exp(agents=["objects"], extractor="map", colour_codes=0).label("objects") == "objects-map-auxr2"  # no glimpses
    assert exp(agents=["mint"], extractor="map", colour_codes=0, glimpse_size=0).label("mint") == "mint-map-lrlin-n1-auxr2"
    torch.set_num_threads(1)
    report = pk.main(tiny(tmp_path / "run", "--agents", "objects", "mint", "--extractor", "map"))
    # objects: 2 stacked frames of (status, its flag column); mint: 1 frame of (status, 8 colour codes)
    for label, channels in (("objects-map-auxr2", 2 * (1 + 1)), ("mint-map-c8w5-lrlin-n1-auxr2", 1 * (1 + 8))):
        run_dir = report["out"] / label / "seed0"
        extractor = load_agent(run_dir).model.policy.features_extractor
        assert isinstance(extractor, KeypointMapExtractor), label
        assert extractor.cnn[0].in_channels == channels, label
