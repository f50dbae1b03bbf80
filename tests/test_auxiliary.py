"""agents.auxiliary: reward prediction trains the features extractor (and only it) from the raw rewards."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.auxiliary import RewardPredictionCallback, reward_classes, window_rewards


class SignEnv(gym.Env):
    """Observation (s, noise) with s in {-1, 0, 1}; the step taken in it pays s, whatever the action. Truncated
    after 5 steps, so SB3 adds the bootstrapped value of the last state to the buffer's reward there."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        self.s = float(self.np_random.choice([-1.0, 0.0, 0.0, 0.0, 1.0]))
        return np.array([self.s, self.np_random.uniform(-1, 1)], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        reward, self.t = self.s, self.t + 1
        return self._obs(), reward, False, self.t >= 5, {}


class Small(BaseFeaturesExtractor):
    def __init__(self, observation_space: gym.Space) -> None:
        super().__init__(observation_space, 16)
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def _model(seed: int = 0) -> PPO:
    torch.manual_seed(seed)
    return PPO("MlpPolicy", DummyVecEnv([SignEnv, SignEnv]), n_steps=64, batch_size=32, n_epochs=1, seed=seed,
               policy_kwargs=dict(features_extractor_class=Small))


def test_reward_classes():
    assert reward_classes(np.array([-2.5, -0.0, 0.0, 1e-3, 7.0])).tolist() == [0, 1, 1, 2, 2]


def _windows_by_hand(rewards: np.ndarray, dones: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    n, e = rewards.shape
    total, known = np.zeros((n, e)), np.zeros((n, e), bool)
    for env in range(e):
        for t in range(n):
            for i in range(horizon):
                if t + i >= n:
                    break
                total[t, env] += rewards[t + i, env]
                if dones[t + i, env]:
                    known[t, env] = True
                    break
            else:
                known[t, env] = True
    return total, known


@pytest.mark.parametrize("horizon", [1, 2, 5, 40])
def test_window_rewards_match_a_step_by_step_sum(horizon):
    """Each step's window: its reward and the next H - 1 of its episode; known when the episode ended inside the
    window or the rollout holds all H steps."""
    rng = np.random.default_rng(horizon)
    rewards = rng.choice([-1.0, 0.0, 0.0, 0.0, 2.0], size=(30, 3))
    dones = rng.random((30, 3)) < 0.1
    total, known = window_rewards(rewards, dones, horizon)
    expected_total, expected_known = _windows_by_hand(rewards, dones, horizon)
    np.testing.assert_array_equal(known, expected_known)
    np.testing.assert_allclose(total[known], expected_total[known])
    if horizon == 1:
        assert known.all() and np.array_equal(total, rewards)
    with pytest.raises(ValueError, match="horizon must be >= 1"):
        window_rewards(rewards, dones, 0)


def _replay_rows(aux: RewardPredictionCallback, c: int) -> np.ndarray:
    return np.sort(aux.replay.rings[c][: aux.replay.sizes[c]], axis=0) if aux.replay.sizes[c] else np.zeros((0, 2))


def test_horizon_classes_the_steps_before_a_reward():
    """horizon H: the replay holds, for each known window, the observation of its first step with the class of the
    window's sum; the steps whose window runs past the rollout are left out. Checked against the rollout buffer
    (SignEnv: a step pays the first value of the observation it was taken in; episodes truncate every 5 steps), both
    as the rollout ends and, by hand, on the buffer SB3 has flattened env-major for training."""
    model = _model()
    aux = RewardPredictionCallback(weight=1.0, updates=1, horizon=3)
    model.learn(64 * 2, callback=aux)  # one rollout of 64 steps in 2 envs
    assert model.rollout_buffer.generator_ready  # training flattened the buffer env-major: undo it
    obs = model.rollout_buffer.observations.reshape(2, 64, 2).swapaxes(0, 1)  # (steps, envs, 2)
    rewards = obs[:, :, 0]
    np.testing.assert_array_equal(aux._rewards, rewards)  # the step's reward is its observation's first value
    expected_dones = np.zeros((64, 2), bool)
    expected_dones[4::5] = True
    np.testing.assert_array_equal(aux._dones, expected_dones)
    total, known = window_rewards(rewards, expected_dones, 3)
    assert not known.all()  # the episodes run on past the rollout: their last steps wait
    classes = reward_classes(total)
    for c in range(3):  # each class's rows are exactly the observations whose window has that class
        np.testing.assert_array_equal(_replay_rows(aux, c), np.sort(obs[known & (classes == c)], axis=0))
    own = np.bincount(reward_classes(rewards).reshape(-1), minlength=3)
    assert aux.replay.sizes[2] > own[2] and aux.replay.sizes[0] > own[0]  # rewards announce themselves

    aux._on_rollout_end()  # by hand, on the flattened buffer: the same rows are added again
    for c in range(3):
        rows = np.sort(obs[known & (classes == c)], axis=0)
        np.testing.assert_array_equal(_replay_rows(aux, c), np.sort(np.concatenate([rows, rows]), axis=0))


def test_raw_rewards_recorded_and_only_the_extractor_and_head_trained():
    model = _model()
    aux = RewardPredictionCallback(weight=3.0, updates=4)
    model.learn(128, callback=aux)
    buffered = model.rollout_buffer.rewards
    assert not np.all(np.isin(buffered, [-1.0, 0.0, 1.0]))  # SB3 bootstrapped the truncated steps ...
    assert np.all(np.isin(aux._rewards, [-1.0, 0.0, 1.0]))  # ... the callback kept the env's rewards
    truncated = ~np.isin(buffered, [-1.0, 0.0, 1.0])
    assert np.array_equal(aux._rewards[~truncated], buffered[~truncated])

    policy = model.policy
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    head_before = [p.detach().clone() for p in aux.head.parameters()]
    aux._on_rollout_end()
    changed = {n for n, p in policy.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith(("features_extractor", "pi_features_extractor", "vf_features_extractor"))
                           for n in changed), changed
    assert any(not torch.equal(p, q) for p, q in zip(aux.head.parameters(), head_before))


def test_learning_rate_follows_ppos_schedule_at_the_current_step():
    torch.manual_seed(0)
    model = PPO("MlpPolicy", DummyVecEnv([SignEnv, SignEnv]), n_steps=64, batch_size=32, n_epochs=1, seed=0,
                learning_rate=lambda progress: 1e-3 * progress, policy_kwargs=dict(features_extractor_class=Small))
    rates = []

    class Spy(RewardPredictionCallback):
        def _on_rollout_end(self) -> None:
            super()._on_rollout_end()
            rates.append(self.optimizer.param_groups[0]["lr"])

    model.learn(3 * 128, callback=Spy(weight=3.0))
    assert rates == pytest.approx([3.0 * 1e-3 * 2 / 3, 3.0 * 1e-3 / 3, 0.0])


def test_it_learns_to_predict_the_sign_of_the_reward():
    model = _model(1)
    aux = RewardPredictionCallback(weight=10.0, updates=16)
    model.learn(64 * 2 * 15, callback=aux)
    obs = torch.tensor([[s, n] for s in (-1.0, 0.0, 1.0) for n in np.linspace(-1, 1, 9)], dtype=torch.float32)
    with torch.no_grad():
        predicted = aux.head(model.policy.features_extractor(obs)).argmax(-1)
    assert predicted.tolist() == reward_classes(obs[:, 0].numpy()).tolist()


def test_state_round_trip_also_before_initialisation():
    model = _model()
    aux = RewardPredictionCallback()
    model.learn(128, callback=aux)
    state = aux.state_dict()
    fresh = RewardPredictionCallback()
    fresh.load_state_dict(state)  # kept until the callback starts
    other = _model()
    other.learn(0, callback=fresh)
    for p, q in zip(fresh.head.parameters(), aux.head.parameters()):
        assert torch.equal(p, q)
    loaded, saved = fresh.optimizer.state_dict()["state"], aux.optimizer.state_dict()["state"]
    assert loaded.keys() == saved.keys() and loaded
    for key in saved:
        assert torch.equal(loaded[key]["exp_avg"], saved[key]["exp_avg"])
        assert torch.equal(loaded[key]["exp_avg_sq"], saved[key]["exp_avg_sq"])


def test_warmup_burst_runs_once_after_warmup_steps_and_is_remembered_across_a_resume():
    """warmup_updates: extra minibatch steps once, at the end of the first rollout reaching warmup_steps (128 env
    steps per rollout here: the second); not again, and not again after a resume from its state."""
    counts = []

    class Spy(RewardPredictionCallback):
        def _on_rollout_end(self) -> None:
            calls = []
            head = self.head
            hook = head.register_forward_hook(lambda *a: calls.append(1))
            super()._on_rollout_end()
            hook.remove()
            counts.append(len(calls))

    spy = Spy(updates=3, warmup_updates=20, warmup_steps=200)
    _model().learn(4 * 128, callback=spy)
    assert counts == [3, 23, 3, 3] and spy.warmed_up
    resumed = Spy(updates=3, warmup_updates=20, warmup_steps=200)
    resumed.load_state_dict(spy.state_dict())
    counts.clear()
    _model().learn(3 * 128, callback=resumed)
    assert counts == [3, 3, 3]
    plain = Spy(updates=3)  # warmup_updates 0: no burst
    counts.clear()
    _model().learn(3 * 128, callback=plain)
    assert counts == [3, 3, 3]


@pytest.mark.parametrize("kwargs", [dict(weight=0.0), dict(weight=-1.0), dict(updates=0), dict(batch_size=2),
                                    dict(capacity=0), dict(hidden=0), dict(horizon=0), dict(warmup_updates=-1),
                                    dict(warmup_steps=0)])
def test_bad_settings_refused(kwargs):
    with pytest.raises(ValueError, match="RewardPredictionCallback needs"):
        RewardPredictionCallback(**kwargs)


# --------------------------------------------------------------------------- in the PPO experiment
def test_experiment_flag_label_settings_and_resume(tmp_path, monkeypatch, capsys):
    """--aux-reward: only keypoint and ladder agents get it (label, run settings); a killed run resumes with the
    head and optimiser it had at its checkpoint; bad values and agents without an extractor are refused."""
    import dataclasses
    import json

    from agents.experiment_settings import AUX_WEIGHT, PPOExperiment
    from tests.conftest import kill_ppo_runs_at, load_script

    pk = load_script("ppo_keypoints")
    exp = PPOExperiment(agents=["mint", "objects", "pixels"], aux_reward=0.5, out=str(tmp_path / "x"))
    assert exp.label("mint").endswith("-auxr0.5") and exp.label("objects") == "objects-relation-auxr0.5"
    assert exp.label("pixels") == "pixels" and "aux_reward" not in exp.run_settings("pixels")
    assert exp.run_settings("objects")["aux_reward"] == 0.5
    assert exp.run_settings("mint")["ppo"] == exp.run_settings("pixels")["ppo"]
    # the default: on for keypoint and ladder agents on object tasks, off on ALE and where no agent reads keypoints
    assert PPOExperiment(agents=["mint"], out=str(tmp_path / "y")).label("mint").endswith(f"-auxr{AUX_WEIGHT:g}")
    assert "aux" not in PPOExperiment(agents=["mint"], aux_reward=0, out=str(tmp_path / "y")).label("mint")
    assert "aux" not in PPOExperiment(env="ALE/Pong-v5", agents=["mint"], out=str(tmp_path / "y")).label("mint")
    pixels_only = PPOExperiment(agents=["pixels"], out=str(tmp_path / "y"))
    assert pixels_only.aux_reward == 0 and dataclasses.replace(pixels_only).aux_reward == 0  # as worker copies are

    argv = ["--env", "MintTasks/Catch-v0", "--seeds", "1", "--eval-episodes", "1", "--no-progress", "--jobs", "1",
            "--out", str(tmp_path), "--agents", "objects", "--aux-reward", "2", "--timesteps", "1536",
            "--eval-freq", "512", "--checkpoint-every", "1024"]
    for bad in ("-1", "nan", "11"):
        with pytest.raises(SystemExit):
            pk.main([*argv[:-10], "--agents", "objects", f"--aux-reward={bad}"])
        assert "--aux-reward must be in [0, 10]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pk.main([*argv[:-10], "--agents", "pixels", "--aux-reward", "1"])
    assert "--agents has none" in capsys.readouterr().err

    torch.set_num_threads(1)
    revive = kill_ppo_runs_at(monkeypatch, 1024)
    with pytest.raises(KeyboardInterrupt):
        pk.main(argv)
    run_dir = tmp_path / "MintTasks_Catch-v0" / "objects-relation-auxr2" / "seed0"
    state = json.loads((run_dir / "resume" / "state.json").read_text())
    assert state["step"] == 1024 and state["auxiliary"] == "auxiliary-1024.pt"
    saved = torch.load(run_dir / "resume" / state["auxiliary"])
    assert sorted(p.name for p in (run_dir / "resume").iterdir()) == ["auxiliary-1024.pt", "model-1024.zip",
                                                                     "state.json"]

    revive()
    loaded = {}
    init = RewardPredictionCallback._init_callback

    def spy(self):  # the head the resumed run starts from, once the callback is set up
        init(self)
        if not loaded:
            loaded.update({k: v.clone() for k, v in self.head.state_dict().items()})

    monkeypatch.setattr(RewardPredictionCallback, "_init_callback", spy)
    capsys.readouterr()
    pk.main(argv)
    assert "resuming at step 1024" in capsys.readouterr().out
    assert loaded and all(torch.equal(loaded[k], v) for k, v in saved["head"].items())
    assert json.loads((run_dir / "done.json").read_text())["resumed_at"] == 1024


def test_class_replay_keeps_the_latest_of_each_class_and_samples_them_evenly():
    from agents.auxiliary import _ClassReplay

    replay = _ClassReplay(capacity=4)
    obs = np.arange(10, dtype=np.float32)[:, None]  # row i holds i
    replay.add(obs, np.array([1, 1, 2, 1, 1, 1, 1, 1, 2, 2]))
    assert replay.present() == [1, 2] and replay.sizes == [0, 4, 3]
    assert sorted(replay.rings[1][:, 0].tolist()) == [4.0, 5.0, 6.0, 7.0]  # the last 4 zero-reward steps
    replay.add(obs[:3], np.array([0, 2, 2]))
    assert sorted(replay.rings[2][:4, 0].tolist()) == [1.0, 2.0, 8.0, 9.0]  # 2 overwritten the oldest first
    sample, labels = replay.sample(5, np.random.default_rng(0))
    assert labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert set(sample[:5, 0]) == {0.0} and set(sample[5:10, 0]) <= {4.0, 5.0, 6.0, 7.0}
    dict_replay = _ClassReplay(capacity=2)
    dict_replay.add({"a": obs, "b": -obs}, np.array([0, 2] * 5))
    sample, labels = dict_replay.sample(3, np.random.default_rng(0))
    assert np.array_equal(sample["a"], -sample["b"]) and labels.tolist() == [0] * 3 + [2] * 3


def test_learn_called_again_goes_on_with_the_same_head():
    model = _model()
    aux = RewardPredictionCallback()
    model.learn(128, callback=aux)
    head, optimizer = aux.head, aux.optimizer
    weights = [p.detach().clone() for p in head.parameters()]
    model.learn(128, callback=aux, reset_num_timesteps=False)
    assert aux.head is head and aux.optimizer is optimizer
    assert any(not torch.equal(p, q) for p, q in zip(head.parameters(), weights))  # trained on, not re-made
    other = _model(1)
    other.learn(0, callback=aux)  # another model: a head of its own
    assert aux.head is not head


def test_a_checkpoint_whose_auxiliary_file_is_missing_is_not_resumed(tmp_path):
    import json

    from agents.run_folders import read_resume_state

    resume = tmp_path / "resume"
    resume.mkdir()
    (resume / "model-512.zip").write_bytes(b"x")
    (resume / "state.json").write_text(json.dumps({"step": 512, "model": "model-512.zip", "encoder": None,
                                                   "auxiliary": "auxiliary-512.pt"}))
    assert read_resume_state(tmp_path) is None  # the run starts over rather than failing on a missing file
    (resume / "auxiliary-512.pt").write_bytes(b"x")
    assert read_resume_state(tmp_path)["step"] == 512


def test_aux_updates_and_horizon_flags(tmp_path, capsys):
    """--aux-updates: the callback's minibatch steps per rollout; --aux-horizon its reward window; the default keeps the label and run settings of
    runs made before the flag, another value marks both; out of range, or with reward prediction off, is refused."""
    from agents.experiment_settings import AUX_UPDATES, AUX_WARMUP_STEPS, ExperimentError, PPOExperiment
    from agents.ppo_experiment import build_agent
    from tests.conftest import load_script

    default = PPOExperiment(agents=["mint", "objects"], out=str(tmp_path / "x"))
    assert default.aux_updates == AUX_UPDATES and "aux_updates" not in default.run_settings("mint")
    assert default.label("objects") == "objects-relation-auxr2"
    more = PPOExperiment(agents=["mint", "objects"], aux_updates=32, out=str(tmp_path / "x"))
    assert more.label("objects") == "objects-relation-auxr2u32" and more.label("mint").endswith("-auxr2u32")
    assert more.run_settings("objects")["aux_updates"] == 32
    _, _, callbacks, _ = build_agent("objects", more, 0, None, None)
    aux = [c for c in callbacks if isinstance(c, RewardPredictionCallback)]
    assert len(aux) == 1 and aux[0].updates == 32 and aux[0].weight == 2.0 and aux[0].horizon == 1
    window = PPOExperiment(agents=["objects"], aux_horizon=8, out=str(tmp_path / "x"))
    assert window.label("objects") == "objects-relation-auxr2h8" and window.run_settings("objects")["aux_horizon"] == 8
    assert "aux_horizon" not in default.run_settings("objects")
    _, _, callbacks, _ = build_agent("objects", window, 0, None, None)
    assert [c.horizon for c in callbacks if isinstance(c, RewardPredictionCallback)] == [8]
    warm = PPOExperiment(agents=["objects"], aux_warmup=256, out=str(tmp_path / "x"))
    assert warm.label("objects") == "objects-relation-auxr2w256" and warm.run_settings("objects")["aux_warmup"] == 256
    assert "aux_warmup" not in default.run_settings("objects")
    _, _, callbacks, _ = build_agent("objects", warm, 0, None, None)
    assert [(c.warmup_updates, c.warmup_steps, c.warmed_up) for c in callbacks
            if isinstance(c, RewardPredictionCallback)] == [(256, AUX_WARMUP_STEPS, False)]

    pk = load_script("ppo_keypoints")
    argv = ["--env", "MintTasks/Catch-v0", "--agents", "objects", "--out", str(tmp_path), "--no-progress"]
    for flag, bad, message in (("--aux-updates", "0", "--aux-updates must be in [1, 256]"),
                               ("--aux-updates", "257", "--aux-updates must be in [1, 256]"),
                               ("--aux-horizon", "0", "--aux-horizon must be in [1, 64]"),
                               ("--aux-horizon", "65", "--aux-horizon must be in [1, 64] (half of PPO's 128 steps"),
                               ("--aux-horizon", "2.5", "invalid int value"),
                               ("--aux-warmup", "-1", "--aux-warmup must be in [0, 4096]"),
                               ("--aux-warmup", "4097", "--aux-warmup must be in [0, 4096]")):
        with pytest.raises(SystemExit):
            pk.main([*argv, flag, bad])
        assert message in capsys.readouterr().err
    for flag in ("--aux-updates", "--aux-horizon", "--aux-warmup"):
        with pytest.raises(SystemExit):
            pk.main([*argv, "--aux-reward", "0", flag, "16"])
        assert "reward prediction, which is off (--aux-reward 0)" in capsys.readouterr().err
        with pytest.raises(SystemExit):  # off by default: on ALE ids
            pk.main(["--env", "ALE/Pong-v5", "--agents", "mint", *argv[4:], flag, "16"])
        assert "which is off here by default" in capsys.readouterr().err
    with pytest.raises(ExperimentError, match="--aux-horizon must be a whole number"):
        PPOExperiment(agents=["objects"], aux_horizon=2.5)
    with pytest.raises(ExperimentError, match="--aux-updates must be a whole number"):
        PPOExperiment(agents=["objects"], aux_updates=True)


def test_sampled_evaluations_leave_training_as_it_was(tmp_path):
    """CsvEvalCallback with sampled actions (the ALE protocol) restores torch's random stream after each
    evaluation: a run evaluated every rollout trains exactly as one evaluated only at the end."""
    from agents.callbacks import CsvEvalCallback

    def train(eval_freq: int, folder: str) -> list[torch.Tensor]:
        model = _model(seed=3)
        evaluator = CsvEvalCallback(DummyVecEnv([SignEnv]), tmp_path / folder / "evaluations.csv", eval_seed=7,
                                    row={"agent": "x", "seed": 3}, eval_freq=eval_freq, n_envs=2, n_eval_episodes=3,
                                    deterministic=False)
        model.learn(64 * 2 * 3, callback=evaluator)
        rows = (tmp_path / folder / "evaluations.csv").read_text().strip().splitlines()
        assert len(rows) - 1 == (3 if eval_freq == 128 else 1)
        return [p.detach().clone() for p in model.policy.parameters()]

    often, once = train(128, "often"), train(10**6, "once")
    assert all(torch.equal(a, b) for a, b in zip(often, once))


def test_auxiliary_adam_runs_in_its_foreach_form_bit_for_bit_the_per_tensor_one():
    """The callback's Adam runs in PyTorch's foreach form (speed); its updates equal the per-tensor form's exactly."""
    model = _model()
    aux = RewardPredictionCallback(weight=3.0, updates=1)
    model.learn(128, callback=aux)
    assert all(g["foreach"] for g in aux.optimizer.param_groups)
    params = [p for g in aux.optimizer.param_groups for p in g["params"]]
    twins = [p.detach().clone().requires_grad_(True) for p in params]
    plain = torch.optim.Adam(twins, lr=1e-3, foreach=False)
    fast = torch.optim.Adam(params, lr=1e-3, foreach=True)
    for _ in range(3):
        for p, q in zip(params, twins):
            g = torch.randn_like(p)
            p.grad, q.grad = g.clone(), g.clone()
        fast.step()
        plain.step()
    assert all(torch.equal(p, q) for p, q in zip(params, twins))
