"""Auxiliary reward prediction for PPO's features extractor (UNREAL's reward prediction, Jaderberg et al. 2017).

After every rollout, :class:`RewardPredictionCallback` trains the policy's features extractor together with a
small head to predict the sign of each step's reward (negative, zero, positive; with ``horizon`` H > 1 the sign
of the sum of its reward and the next H - 1 of its episode, so that opposite rewards in one window cancel to
zero) from the observation the step was taken in, on minibatches that hold each class equally, drawn from a replay of recent steps kept per class
(rewards are sparse). Nothing else is given: the reward is
the only signal, as for PPO itself. The intent is to make the extractor separate, early, the things that pay
from the things that cost, for example the colour of a falling object in Catch, which PPO otherwise learns only
through its slow policy and value gradients (docs/keypoint_ladder.md, "Tenth session").

The head and its optimiser (Adam over the extractor and the head, at PPO's current learning rate times
``weight``) live in the callback; PPO's own optimiser and loss are untouched. :meth:`state_dict` /
:meth:`load_state_dict` carry them across a resume.

Example::

    model = PPO("MlpPolicy", venv, policy_kwargs=dict(features_extractor_class=KeypointSetExtractor))
    model.learn(100_000, callback=RewardPredictionCallback(weight=1.0))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.preprocessing import preprocess_obs

__all__ = ["RewardPredictionCallback", "reward_classes", "window_rewards"]


def reward_classes(rewards: np.ndarray) -> np.ndarray:
    """Rewards → class indices: 0 negative, 1 zero, 2 positive (int64, same shape)."""
    return (np.sign(rewards).astype(np.int64) + 1)


def window_rewards(rewards: np.ndarray, dones: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """The sum of each step's reward and those of the next ``horizon - 1`` steps of the same episode.

    :param rewards: ``(T, E)`` rewards of a rollout (step-major, E envs).
    :param dones: ``(T, E)`` bool, True where the episode ended with that step.
    :param horizon: H >= 1 steps per window (1: the step's own reward).
    :return: ``(T, E)`` window sums, and ``(T, E)`` bool: whether the window is known within the rollout (it
        ends with the episode or has all H steps; the last H - 1 steps of an episode still running are not).
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 step, got {horizon}")
    n = len(rewards)
    total = np.zeros(rewards.shape, np.float64)
    known = np.zeros(rewards.shape, bool)
    open_ = np.ones(rewards.shape, bool)  # the window of step t has not met the end of its episode
    for i in range(min(horizon, n)):
        t = slice(0, n - i)
        total[t] += np.where(open_[t], rewards[i:], 0.0)
        known[t] |= open_[t] & dones[i:]
        open_[t] &= ~dones[i:]
    known[: max(n - horizon + 1, 0)] = True
    return total, known


class _ClassReplay:
    """The last ``capacity`` observations of each reward class (a ring per class); arrays or dicts of arrays."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rings: list[Any] = [None, None, None]
        self.sizes, self.next = [0, 0, 0], [0, 0, 0]

    def add(self, obs: Any, classes: np.ndarray) -> None:
        for c in range(3):
            rows = np.flatnonzero(classes == c)[-self.capacity:]
            if not len(rows):
                continue
            if self.rings[c] is None:
                self.rings[c] = _map(obs, lambda v: np.zeros((self.capacity, *v.shape[1:]), v.dtype))
            at = (self.next[c] + np.arange(len(rows))) % self.capacity
            _assign(self.rings[c], at, _map(obs, lambda v: v[rows]))
            self.next[c] = int((self.next[c] + len(rows)) % self.capacity)
            self.sizes[c] = min(self.capacity, self.sizes[c] + len(rows))

    def present(self) -> list[int]:
        return [c for c in range(3) if self.sizes[c]]

    def sample(self, per_class: int, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
        """``per_class`` observations of each present class (with replacement) and their classes."""
        parts, labels = [], []
        for c in self.present():
            idx = rng.integers(0, self.sizes[c], per_class)
            parts.append(_map(self.rings[c], lambda v: v[idx]))
            labels.append(np.full(per_class, c, np.int64))
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, np.concatenate(labels)
        return np.concatenate(parts), np.concatenate(labels)


def _map(obs: Any, fn: Any) -> Any:
    return {k: fn(v) for k, v in obs.items()} if isinstance(obs, dict) else fn(obs)


def _assign(ring: Any, at: np.ndarray, values: Any) -> None:
    if isinstance(ring, dict):
        for k in ring:
            ring[k][at] = values[k]
    else:
        ring[at] = values


class RewardPredictionCallback(BaseCallback):
    """Train the shared features extractor to predict the sign of the reward (or reward window), after each rollout.

    As UNREAL does, the samples come from a replay of recent steps kept per reward class, and each minibatch
    holds as many steps of each class seen so far: rewards are rare, so one rollout alone holds a handful.
    The replay is not saved with the run; a resumed run refills it. The updates run when the rollout ends, before
    PPO's own update of it; PPO's probability ratios are taken against the policy that collected the rollout, so
    it sees them as it sees its own earlier epochs.

    :param weight: the auxiliary optimiser's learning rate as a multiple of PPO's current one (> 0).
    :param updates: minibatch steps after each rollout.
    :param batch_size: minibatch size, split evenly between the classes present (None: PPO's).
    :param capacity: steps kept per reward class.
    :param hidden: hidden width of the head.
    :param seed: seed of the replay's sampling.
    :param horizon: H: the class of a step is the sign of the sum of its reward and those of the next H - 1 steps
        of its episode (:func:`window_rewards`; 1: the step's own reward, UNREAL's form). With H > 1 the steps
        *before* a reward are classed by it too, so the extractor learns what announces a reward; the last H - 1
        steps of a rollout whose episode goes on are left out (their window is not known yet).
    :param warmup_updates: once, at the end of the first rollout that brings training to ``warmup_steps`` env
        steps, this many extra minibatch steps (0: none). The replay then holds the rewards of the first,
        near-random rollouts; the burst teaches the extractor what pays before PPO's policy leans on it. The env
        steps are PPO's own, so the warm-up costs no steps outside the budget.
    :param warmup_steps: env steps of training before the burst.
    """

    def __init__(self, weight: float = 1.0, updates: int = 8, batch_size: int | None = None, capacity: int = 2048,
                 hidden: int = 64, seed: int = 0, horizon: int = 1, warmup_updates: int = 0,
                 warmup_steps: int = 4096, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not weight > 0 or updates < 1 or (batch_size is not None and batch_size < 3) or capacity < 1 \
                or hidden < 1 or horizon < 1 or warmup_updates < 0 or warmup_steps < 1:
            raise ValueError(f"RewardPredictionCallback needs weight > 0, updates >= 1, batch_size >= 3, "
                             f"capacity >= 1, hidden >= 1, horizon >= 1, warmup_updates >= 0 and warmup_steps >= 1; "
                             f"got {weight}, {updates}, {batch_size}, {capacity}, {hidden}, {horizon}, "
                             f"{warmup_updates}, {warmup_steps}")
        self.weight, self.updates, self.batch_size = float(weight), int(updates), batch_size
        self.warmup_updates, self.warmup_steps = int(warmup_updates), int(warmup_steps)
        self.warmed_up = warmup_updates == 0
        self.horizon = int(horizon)
        self.hidden = int(hidden)
        self.replay = _ClassReplay(int(capacity))
        self.rng = np.random.default_rng(seed)
        self.head: nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._rewards: np.ndarray | None = None
        self._dones: np.ndarray | None = None
        self._pending_state: dict[str, Any] | None = None
        self._model: Any = None

    def _extractor(self) -> nn.Module:
        policy = self.model.policy
        if not getattr(policy, "share_features_extractor", True):
            return policy.pi_features_extractor  # the actor's: the one that decides
        return policy.features_extractor

    def _init_callback(self) -> None:
        if self.head is not None and self._model is self.model:  # learn() called again: go on
            return
        self._model = self.model
        extractor = self._extractor()
        device = self.model.policy.device
        self.head = nn.Sequential(nn.Linear(extractor.features_dim, self.hidden), nn.ReLU(),
                                  nn.Linear(self.hidden, 3)).to(device)
        self.optimizer = torch.optim.Adam([*extractor.parameters(), *self.head.parameters()], lr=1e-4,
                                          foreach=True)  # (bit for bit the per-tensor form, faster on CPU)
        buffer = self.model.rollout_buffer
        self._rewards = np.zeros((buffer.buffer_size, buffer.n_envs), dtype=np.float32)
        self._dones = np.zeros((buffer.buffer_size, buffer.n_envs), dtype=bool)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)
            self._pending_state = None

    def _on_step(self) -> bool:
        # before SB3 adds the value of a truncated episode's last state to its reward (collect_rollouts)
        self._rewards[self.model.rollout_buffer.pos] = self.locals["rewards"]
        self._dones[self.model.rollout_buffer.pos] = self.locals["dones"]
        return True

    def _on_rollout_end(self) -> None:
        buffer, policy = self.model.rollout_buffer, self.model.policy
        # (steps, envs, ...) while collecting; SB3's get() flattens the buffer env-major once training starts
        flat = getattr(buffer, "generator_ready", False)
        rewards, known = window_rewards(self._rewards, self._dones, self.horizon)
        if flat:
            rewards, known = rewards.swapaxes(0, 1), known.swapaxes(0, 1)
        obs, space = buffer.observations, self.model.observation_space
        obs = {k: v.reshape(-1, *space[k].shape) for k, v in obs.items()} if isinstance(obs, dict) \
            else obs.reshape(-1, *space.shape)
        keep = known.reshape(-1)
        if not keep.all():
            obs = _map(obs, lambda v: v[keep])
        self.replay.add(obs, reward_classes(rewards).reshape(-1)[keep])
        present = self.replay.present()
        if len(present) < 2:  # nothing to tell apart yet
            return
        # PPO's schedule at this step (its own progress is updated only after the rollout, and starts at 1 in a
        # model rebuilt to resume a run)
        progress = 1.0 - self.model.num_timesteps / max(self.model._total_timesteps, 1)
        lr = self.weight * self.model.lr_schedule(progress)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        extractor = self._extractor()
        per_class = max(1, (self.batch_size or getattr(self.model, "batch_size", 64)) // len(present))
        updates = self.updates
        if not self.warmed_up and self.model.num_timesteps >= self.warmup_steps:
            updates += self.warmup_updates
            self.warmed_up = True
            self.logger.record("aux/warmup_updates", self.warmup_updates)
        losses, hits = [], []
        for _ in range(updates):
            sample, labels = self.replay.sample(per_class, self.rng)
            sample = _map(sample, lambda v: torch.as_tensor(v, device=policy.device))
            target = torch.as_tensor(labels, device=policy.device)
            logits = self.head(extractor(preprocess_obs(sample, policy.observation_space, policy.normalize_images)))
            loss = F.cross_entropy(logits, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
            hits.append(float((logits.argmax(-1) == target).float().mean()))
        self.logger.record("aux/reward_loss", float(np.mean(losses)))
        self.logger.record("aux/reward_balanced_accuracy", float(np.mean(hits)))  # balanced minibatches

    def state_dict(self) -> dict[str, Any]:
        """The head's weights, the auxiliary optimiser's state and whether the warm-up burst is done."""
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(), "warmed_up": self.warmed_up}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; before training starts it is kept until the callback is initialised."""
        if self.head is None:
            self._pending_state = state
            return
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.warmed_up = bool(state.get("warmed_up", self.warmed_up))
