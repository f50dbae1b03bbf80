"""Keypoint dynamics: predict the next ``horizon`` steps of every keypoint from a short history.

The downstream task of MINT_METHOD §6: a *keypoint interaction network* reads the last
``history = 4`` frames of K keypoints ``(x, y, s)`` and predicts the next ``horizon = 3``
positions (and statuses), trained with a Huber loss. Here with two references:

- :class:`KeypointInteractionNetwork`: per-keypoint encoder of its history, a relation
  network over all ordered keypoint pairs (senders that are inactive in the newest history
  frame are masked out), per-keypoint update, decoder of one displacement per future step;
- :class:`PerKeypointGRU`: the same input and output, a GRU over each keypoint's own
  history, no interactions;
- :class:`ConstantVelocity`: no learning, ``x_{t+h} = x_t + h · (x_t − x_{t−1})``; the floor.

Shapes and conventions
----------------------
- ``history``: ``(B, T, K, D)`` with ``T ≥ model.history`` (only the last ``model.history``
  frames are used), ``D = 2 + 1 + F``: ``(x, y)`` in [-1, 1] (x right, **y down**,
  pixel-centre aligned, as everywhere in mint-rl), the status ``s`` in [0, 1] (active when
  ``s > 0.5``) and F optional per-keypoint features (``model.feature_dim``).
- ``actions`` (action-conditioned models, ``action_dim = A > 0``): ``(B, T, A)``, the action
  taken at each history frame (``actions[:, -1]`` leads from the newest frame to the first
  predicted one); appended to every keypoint's input. One-hot encode discrete actions.
- Output: :class:`DynamicsPrediction` with ``coords (B, horizon, K, 2)`` and
  ``status_logits (B, horizon, K)`` (``.status`` gives probabilities).

The learned models predict *residuals*: coordinates as the newest position plus a
displacement per future step, status logits as the newest status's logit plus a change, so an
untrained model already predicts "stay where and as you are". Displacements are multiplied by
``motion_scale`` on the way in and divided by it on the way out, so the networks see O(1)
values (objects move ≈ 0.03–0.08 [-1, 1]-units per step in the 64-px object scenes).

Example::

    >>> model = KeypointInteractionNetwork(num_keypoints=5)
    >>> pred = model(torch.rand(8, 4, 5, 3) * 2 - 1)
    >>> pred.coords.shape, pred.status_logits.shape
    (torch.Size([8, 3, 5, 2]), torch.Size([8, 3, 5]))

Training: cut keypoint sequences into windows with :func:`make_windows`, then
:func:`train_dynamics` (Adam on :func:`dynamics_loss`). Checkpoints (:func:`save_dynamics`,
:func:`load_dynamics`) record K, the history, the horizon and an identifier of the encoder
checkpoint the keypoints came from (:func:`encoder_identifier`, the file's sha256), and
loading refuses a model meant for another K or another encoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mint_rl.checkpoint import CheckpointError, atomic_torch_save
from mint_rl.utils import file_sha256

__all__ = [
    "DynamicsPrediction",
    "KeypointDynamics",
    "KeypointInteractionNetwork",
    "PerKeypointGRU",
    "ConstantVelocity",
    "DYNAMICS_MODELS",
    "build_dynamics",
    "dynamics_loss",
    "DynamicsWindows",
    "make_windows",
    "train_dynamics",
    "predict_sequence",
    "DynamicsCheckpointError",
    "encoder_identifier",
    "save_dynamics",
    "load_dynamics",
]

ArrayLike = Union[np.ndarray, torch.Tensor]
ACTIVE_THRESHOLD = 0.5
_STATUS_EPS = 1e-4  # status probabilities are clamped to [eps, 1 − eps] before taking a logit


class DynamicsPrediction(NamedTuple):
    """Predicted future keypoints.

    :param coords: ``(B, horizon, K, 2)`` (x, y) in the keypoint convention.
    :param status_logits: ``(B, horizon, K)`` logits of the active status.
    """

    coords: torch.Tensor
    status_logits: torch.Tensor

    @property
    def status(self) -> torch.Tensor:
        """``(B, horizon, K)`` status probabilities."""
        return torch.sigmoid(self.status_logits)


def _status_logit(status: torch.Tensor) -> torch.Tensor:
    return torch.logit(status.clamp(_STATUS_EPS, 1.0 - _STATUS_EPS))


def _mlp(sizes: Sequence[int], last_activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- base class


class KeypointDynamics(nn.Module):
    """Common interface and input checks of the keypoint dynamics models.

    :param num_keypoints: K; inputs with another K are refused (a checkpoint records it).
    :param history: frames the model reads (the newest ``history`` of a longer input).
    :param horizon: future steps it predicts.
    :param feature_dim: F, per-keypoint features after ``(x, y, s)`` in the input.
    :param action_dim: A, size of the per-frame action appended to every keypoint's input
        (0: not action-conditioned).
    """

    def __init__(self, num_keypoints: int, history: int = 4, horizon: int = 3, feature_dim: int = 0,
                 action_dim: int = 0) -> None:
        super().__init__()
        for name, value, low in (("num_keypoints", num_keypoints, 1), ("history", history, 1),
                                 ("horizon", horizon, 1), ("feature_dim", feature_dim, 0),
                                 ("action_dim", action_dim, 0)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        self.num_keypoints = int(num_keypoints)
        self.history = int(history)
        self.horizon = int(horizon)
        self.feature_dim = int(feature_dim)
        self.action_dim = int(action_dim)
        # constructor arguments, stored in checkpoints so load_dynamics can rebuild the model
        self.hparams: dict[str, Any] = dict(num_keypoints=self.num_keypoints, history=self.history,
                                            horizon=self.horizon, feature_dim=self.feature_dim,
                                            action_dim=self.action_dim)

    @property
    def input_dim(self) -> int:
        """D = 2 + 1 + F values per keypoint and frame."""
        return 3 + self.feature_dim

    @property
    def trainable(self) -> bool:
        """Whether the model has parameters to train."""
        return any(p.requires_grad for p in self.parameters())

    def check_inputs(self, history: torch.Tensor, actions: Optional[torch.Tensor] = None
                     ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Validate the inputs and keep the newest ``self.history`` frames.

        :raises ValueError: naming what does not fit (rank, K, D, too short a history, actions).
        """
        if not isinstance(history, torch.Tensor) or history.dim() != 4:
            shape = tuple(history.shape) if isinstance(history, torch.Tensor) else type(history).__name__
            raise ValueError(f"history must be a tensor (B, T, K, D) of keypoints (x, y, status, features...), "
                             f"got {shape}")
        b, t, k, d = history.shape
        if t < self.history:
            raise ValueError(f"history has {t} frame(s) but {type(self).__name__} needs at least {self.history}: "
                             f"pass the last {self.history} frames of each keypoint (drop windows that start "
                             "too close to the beginning of an episode)")
        if k != self.num_keypoints:
            raise ValueError(f"history has K = {k} keypoints but the model was built for {self.num_keypoints}; "
                             "use a model trained on this encoder's keypoints")
        if d != self.input_dim:
            raise ValueError(f"history has D = {d} values per keypoint but the model expects {self.input_dim} "
                             f"= 2 (x, y) + 1 (status) + {self.feature_dim} feature(s)")
        history = history[:, t - self.history:]
        if self.action_dim == 0:
            if actions is not None:
                raise ValueError(f"{type(self).__name__} was built with action_dim = 0 and takes no actions; "
                                 "build it with action_dim = A for an action-conditioned model")
            return history, None
        if actions is None:
            raise ValueError(f"this model is action-conditioned (action_dim = {self.action_dim}): pass actions "
                             f"of shape (B, T, {self.action_dim})")
        if actions.dim() != 3 or actions.shape[0] != b or actions.shape[2] != self.action_dim or actions.shape[1] < self.history:
            raise ValueError(f"actions must have shape (B, T, A) = ({b}, >= {self.history}, {self.action_dim}) "
                             f"like the history, got {tuple(actions.shape)}")
        return history, actions[:, actions.shape[1] - self.history:].to(history.dtype)

    def forward(self, history: torch.Tensor, actions: Optional[torch.Tensor] = None) -> DynamicsPrediction:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hparams.items())


class _LearnedDynamics(KeypointDynamics):
    """Shared input features and residual decoding of the learned models.

    :param hidden: width of the MLPs / GRU.
    :param motion_scale: displacements are multiplied by this at the input and predicted
        displacements divided by it at the output.
    """

    def __init__(self, num_keypoints: int, history: int = 4, horizon: int = 3, feature_dim: int = 0,
                 action_dim: int = 0, hidden: int = 64, motion_scale: float = 10.0) -> None:
        super().__init__(num_keypoints, history, horizon, feature_dim, action_dim)
        if hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {hidden}")
        if not motion_scale > 0:
            raise ValueError(f"motion_scale must be > 0, got {motion_scale}")
        self.hidden = int(hidden)
        self.motion_scale = float(motion_scale)
        self.hparams.update(hidden=self.hidden, motion_scale=self.motion_scale)

    def split(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """coords ``(B, T, K, 2)``, status ``(B, T, K)``, features ``(B, T, K, F)``."""
        return history[..., :2], history[..., 2], history[..., 3:]

    def frame_inputs(self, history: torch.Tensor, actions: Optional[torch.Tensor]) -> torch.Tensor:
        """Per frame and keypoint: position relative to the newest one and the step into it
        (both × motion_scale), the status, the features and the action: ``(B, T, K, 5 + F + A)``."""
        coords, status, features = self.split(history)
        rel = (coords - coords[:, -1:]) * self.motion_scale
        step = torch.diff(coords, dim=1, prepend=coords[:, :1]) * self.motion_scale
        parts = [rel, step, status.unsqueeze(-1), features]
        if actions is not None:
            parts.append(actions.unsqueeze(2).expand(-1, -1, coords.shape[2], -1))
        return torch.cat(parts, dim=-1)

    @property
    def frame_dim(self) -> int:
        return 5 + self.feature_dim + self.action_dim

    def decode(self, out: torch.Tensor, history: torch.Tensor) -> DynamicsPrediction:
        """``out (B, K, 3·horizon)`` → residual coords and status logits."""
        b, k = out.shape[:2]
        h = self.horizon
        delta = out[..., : 2 * h].reshape(b, k, h, 2).permute(0, 2, 1, 3) / self.motion_scale
        coords = history[:, -1, :, :2].unsqueeze(1) + delta
        logits = _status_logit(history[:, -1, :, 2]).unsqueeze(1) + out[..., 2 * h:].permute(0, 2, 1)
        return DynamicsPrediction(coords=coords, status_logits=logits)


# --------------------------------------------------------------------------- models


class KeypointInteractionNetwork(_LearnedDynamics):
    """Interaction network over keypoints (MINT_METHOD §6: 4 frames of (x, y, s) → 3 steps).

    1. Encoder: each keypoint's history (positions relative to its newest one, steps,
       statuses, features, actions: ``history × (5 + F + A)`` values) plus its absolute newest
       position → MLP → ``h_i``.
    2. Relations: for every ordered pair (receiver i, sender j ≠ i), an MLP of
       ``[h_i, h_j, p_j − p_i, (v_j − v_i)·motion_scale, ‖p_j − p_i‖]`` (newest positions p and
       steps v) gives an effect ``e_ij``; senders that are inactive in the newest frame
       (``s ≤ 0.5``) are masked out; the effects are summed over senders.
    3. Update: MLP ``[h_i, Σ_j e_ij]`` (``rounds`` times, each round recomputing the effects
       from the updated states).
    4. Decoder: linear → a displacement from the newest position for each future step and a
       change of the status logit.

    Keypoints share every weight, so the model is permutation equivariant: permuting the
    keypoints of the input permutes those of the output.

    :param rounds: message-passing rounds (1 is the classic interaction network).
    Other parameters as in :class:`KeypointDynamics` and ``_LearnedDynamics``.
    """

    def __init__(self, num_keypoints: int, history: int = 4, horizon: int = 3, feature_dim: int = 0,
                 action_dim: int = 0, hidden: int = 64, motion_scale: float = 10.0, rounds: int = 1) -> None:
        super().__init__(num_keypoints, history, horizon, feature_dim, action_dim, hidden, motion_scale)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.rounds = int(rounds)
        self.hparams["rounds"] = self.rounds
        c = self.hidden
        self.encoder = _mlp([self.history * self.frame_dim + 2, c, c])
        # relation MLP on [h_i, h_j, geometry_ij]; its first layer is split into a receiver, a
        # sender and a geometry part so the per-node parts are computed once per keypoint
        self.relation_receiver = nn.Linear(c, c)
        self.relation_sender = nn.Linear(c, c, bias=False)
        self.relation_geometry = nn.Linear(5, c, bias=False)
        self.relation = _mlp([c, c, c])
        self.update = _mlp([2 * c, c, c])
        self.head = nn.Linear(c, 3 * self.horizon)
        nn.init.zeros_(self.head.weight)  # start from "stay as you are"
        nn.init.zeros_(self.head.bias)

    def forward(self, history: torch.Tensor, actions: Optional[torch.Tensor] = None) -> DynamicsPrediction:
        """:param history: ``(B, T ≥ history, K, 3 + F)``. :param actions: ``(B, T, A)`` if action-conditioned."""
        history, actions = self.check_inputs(history, actions)
        b, t, k, _ = history.shape
        coords, status, _ = self.split(history)
        x = self.frame_inputs(history, actions).permute(0, 2, 1, 3).reshape(b, k, t * self.frame_dim)
        state = self.encoder(torch.cat([x, coords[:, -1]], dim=-1))  # (B, K, c)

        pos = coords[:, -1]  # (B, K, 2)
        vel = (coords[:, -1] - coords[:, -2]) * self.motion_scale if t > 1 else torch.zeros_like(pos)
        dp = pos.unsqueeze(1) - pos.unsqueeze(2)  # [b, i, j] = p_j − p_i
        dv = vel.unsqueeze(1) - vel.unsqueeze(2)
        geometry = torch.cat([dp, dv, dp.norm(dim=-1, keepdim=True)], dim=-1)  # (B, K, K, 5)
        sender = (status[:, -1] > ACTIVE_THRESHOLD).to(history.dtype)  # (B, K)
        mask = sender.unsqueeze(1) * (1.0 - torch.eye(k, dtype=history.dtype, device=history.device))  # (B, i, j)
        geometry = self.relation_geometry(geometry)  # (B, K, K, c)
        for _ in range(self.rounds):
            first = (self.relation_receiver(state).unsqueeze(2) + self.relation_sender(state).unsqueeze(1)
                     + geometry)  # first relation layer of every pair (i, j), (B, K, K, c)
            effects = (self.relation(torch.relu(first)) * mask.unsqueeze(-1)).sum(dim=2)  # (B, K, c)
            state = state + self.update(torch.cat([state, effects], dim=-1))
        return self.decode(self.head(state), history)


class PerKeypointGRU(_LearnedDynamics):
    """No-interaction reference: a GRU over each keypoint's own history, then an MLP decoder.

    Per frame the GRU reads the same values as the interaction network's encoder (relative
    position, step, status, features, action); the decoder also sees the absolute newest
    position (so walls can be learned). Keypoints share weights and never exchange
    information.
    """

    def __init__(self, num_keypoints: int, history: int = 4, horizon: int = 3, feature_dim: int = 0,
                 action_dim: int = 0, hidden: int = 64, motion_scale: float = 10.0) -> None:
        super().__init__(num_keypoints, history, horizon, feature_dim, action_dim, hidden, motion_scale)
        c = self.hidden
        self.gru = nn.GRU(self.frame_dim, c, batch_first=True)
        self.mlp = _mlp([c + 2, c, c])
        self.head = nn.Linear(c, 3 * self.horizon)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, history: torch.Tensor, actions: Optional[torch.Tensor] = None) -> DynamicsPrediction:
        """:param history: ``(B, T ≥ history, K, 3 + F)``. :param actions: ``(B, T, A)`` if action-conditioned."""
        history, actions = self.check_inputs(history, actions)
        b, t, k, _ = history.shape
        x = self.frame_inputs(history, actions).permute(0, 2, 1, 3).reshape(b * k, t, self.frame_dim)
        _, last = self.gru(x)  # (1, B·K, c)
        state = torch.cat([last[0].reshape(b, k, self.hidden), history[:, -1, :, :2]], dim=-1)
        return self.decode(self.head(self.mlp(state)), history)


class ConstantVelocity(KeypointDynamics):
    """Extrapolate the newest step: ``x_{t+h} = x_t + h · (x_t − x_{t−1})``, status kept.

    A keypoint that was inactive in either of the two newest frames gets velocity 0 (its
    previous position is not a position of the same thing). No parameters.

    :param history: at least 2 (only the two newest frames are read).
    """

    def __init__(self, num_keypoints: int, history: int = 2, horizon: int = 3, feature_dim: int = 0) -> None:
        if history < 2:
            raise ValueError(f"ConstantVelocity needs history >= 2 frames to measure a velocity, got {history}")
        super().__init__(num_keypoints, history, horizon, feature_dim, action_dim=0)
        self.hparams.pop("action_dim")

    def forward(self, history: torch.Tensor, actions: Optional[torch.Tensor] = None) -> DynamicsPrediction:
        """:param history: ``(B, T ≥ history, K, 3 + F)``; ``actions`` must be None."""
        history, _ = self.check_inputs(history, actions)
        coords, status = history[..., :2], history[..., 2]
        both = ((status[:, -1] > ACTIVE_THRESHOLD) & (status[:, -2] > ACTIVE_THRESHOLD)).unsqueeze(-1)
        vel = torch.where(both, coords[:, -1] - coords[:, -2], torch.zeros_like(coords[:, -1]))
        steps = torch.arange(1, self.horizon + 1, dtype=history.dtype, device=history.device).view(1, -1, 1, 1)
        pred = coords[:, -1].unsqueeze(1) + steps * vel.unsqueeze(1)
        logits = _status_logit(status[:, -1]).unsqueeze(1).expand(-1, self.horizon, -1)
        return DynamicsPrediction(coords=pred, status_logits=logits.contiguous())


DYNAMICS_MODELS: dict[str, type[KeypointDynamics]] = {
    "interaction": KeypointInteractionNetwork,
    "gru": PerKeypointGRU,
    "constant_velocity": ConstantVelocity,
}
"""Model classes by the names the experiment scripts use."""


def build_dynamics(name: str, **kwargs: Any) -> KeypointDynamics:
    """A fresh model by name (:data:`DYNAMICS_MODELS`); ``kwargs`` go to its constructor."""
    if name not in DYNAMICS_MODELS:
        raise ValueError(f"unknown dynamics model {name!r}; choose one of {', '.join(DYNAMICS_MODELS)}")
    return DYNAMICS_MODELS[name](**kwargs)


# --------------------------------------------------------------------------- loss


def dynamics_loss(pred: DynamicsPrediction, target: torch.Tensor, status_target: torch.Tensor,
                  delta: float = 0.05, status_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Huber loss on the coordinates of keypoints active in the target, plus BCE on the status.

    - Coordinates: ``huber(pred − target; δ) / δ²`` summed over x and y, averaged over the
      (window, step, keypoint) triples whose target status is active (``> 0.5``): the
      position of an inactive keypoint is no position of anything. Dividing by δ² makes an
      error of δ cost 0.5 whatever δ, so the term's scale does not depend on it; errors above
      δ cost linearly (robust to keypoints that jump). δ = 0.05 [-1, 1]-units is 1.6 px on
      a 64-px frame. 0 when no target keypoint is active.
    - Status: binary cross-entropy of the predicted logits against the target status
      (soft targets in [0, 1] allowed), averaged over every (window, step, keypoint).

    :param pred: the model's :class:`DynamicsPrediction` (``coords (B, H, K, 2)``,
        ``status_logits (B, H, K)``).
    :param target: ``(B, H, K, 2)`` true future coordinates.
    :param status_target: ``(B, H, K)`` true future status in [0, 1].
    :param delta: δ of the Huber loss, in [-1, 1] coordinate units.
    :param status_weight: weight of the status term (0: coordinates only).
    :return: the total loss and its parts as floats (``"loss/coords"``, ``"loss/status"``,
        ``"loss/total"``).
    """
    if pred.coords.shape != target.shape:
        raise ValueError(f"target coords must have the prediction's shape {tuple(pred.coords.shape)}, "
                         f"got {tuple(target.shape)}")
    if pred.status_logits.shape != status_target.shape:
        raise ValueError(f"status_target must have shape {tuple(pred.status_logits.shape)}, "
                         f"got {tuple(status_target.shape)}")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    active = (status_target > ACTIVE_THRESHOLD).to(target.dtype)
    huber = F.huber_loss(pred.coords, target, reduction="none", delta=delta).sum(-1) / delta**2
    coord_loss = (huber * active).sum() / active.sum().clamp_min(1.0)
    status_loss = F.binary_cross_entropy_with_logits(pred.status_logits, status_target.to(pred.status_logits.dtype))
    total = coord_loss + status_weight * status_loss
    return total, {"loss/coords": float(coord_loss.detach()), "loss/status": float(status_loss.detach()),
                   "loss/total": float(total.detach())}


# --------------------------------------------------------------------------- data


@dataclass
class DynamicsWindows:
    """Training / evaluation windows cut from keypoint sequences.

    :param inputs: ``(N, history, K, 3 + F)`` float32 (x, y, s, features).
    :param target_coords: ``(N, horizon, K, 2)``.
    :param target_status: ``(N, horizon, K)``.
    :param actions: ``(N, history, A)`` or None.
    :param sequence: ``(N,)`` int64, which input sequence each window came from.
    :param source: ``(N,)`` int64, the frame index (in its sequence) of the newest history frame.
    """

    inputs: torch.Tensor
    target_coords: torch.Tensor
    target_status: torch.Tensor
    actions: Optional[torch.Tensor]
    sequence: torch.Tensor
    source: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: ArrayLike) -> "DynamicsWindows":
        """The windows at ``index`` (indices or a bool mask)."""
        index = torch.as_tensor(index)
        return DynamicsWindows(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
                                  for f in fields(self)})

    def to(self, device: Union[str, torch.device]) -> "DynamicsWindows":
        return DynamicsWindows(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device)
                                  for f in fields(self)})


def _as_list(value: Any, name: str) -> Optional[list[np.ndarray]]:
    if value is None:
        return None
    if isinstance(value, (np.ndarray, torch.Tensor)):
        value = [value]
    out = []
    for v in value:
        out.append(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
    return out


def make_windows(coords: Union[ArrayLike, Sequence[ArrayLike]], status: Union[ArrayLike, Sequence[ArrayLike]],
                 history: int = 4, horizon: int = 3, features: Union[ArrayLike, Sequence[ArrayLike], None] = None,
                 actions: Union[ArrayLike, Sequence[ArrayLike], None] = None, stride: int = 1) -> DynamicsWindows:
    """Cut keypoint sequences into (history → horizon) windows that stay inside one sequence.

    A window with newest history frame t reads frames ``t − history + 1 … t`` and targets
    ``t + 1 … t + horizon``; t runs over ``history − 1, history − 1 + stride, …`` while
    ``t + horizon < T``. Pass each episode as its own sequence so no window spans a reset.

    :param coords: one sequence ``(T, K, 2)`` or a list of them (lengths may differ).
    :param status: ``(T, K)`` (or a list), in [0, 1].
    :param features: ``(T, K, F)`` (or a list), or None.
    :param actions: ``(T, A)`` (or a list), ``actions[t]`` taken at frame t, or None.
    :param stride: step between consecutive windows' newest frames.
    :return: :class:`DynamicsWindows` (possibly empty when every sequence is too short).
    """
    if history < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"history, horizon and stride must be >= 1, got {history}, {horizon}, {stride}")
    coords_l, status_l = _as_list(coords, "coords"), _as_list(status, "status")
    features_l, actions_l = _as_list(features, "features"), _as_list(actions, "actions")
    n_seq = len(coords_l)
    for name, lst in (("status", status_l), ("features", features_l), ("actions", actions_l)):
        if lst is not None and len(lst) != n_seq:
            raise ValueError(f"{name} has {len(lst)} sequence(s) but coords has {n_seq}")
    k = None
    inputs, t_coords, t_status, acts, seq_ids, sources = [], [], [], [], [], []
    for i in range(n_seq):
        c, s = coords_l[i].astype(np.float32), status_l[i].astype(np.float32)
        if c.ndim != 3 or c.shape[-1] != 2:
            raise ValueError(f"coords of sequence {i} must have shape (T, K, 2), got {c.shape}")
        if s.shape != c.shape[:2]:
            raise ValueError(f"status of sequence {i} must have shape (T, K) = {c.shape[:2]}, got {s.shape}")
        if k is None:
            k = c.shape[1]
        elif c.shape[1] != k:
            raise ValueError(f"every sequence must have the same K; sequence {i} has {c.shape[1]}, the first {k}")
        per_frame = [c, s[..., None]]
        if features_l is not None:
            f = features_l[i].astype(np.float32)
            if f.ndim != 3 or f.shape[:2] != c.shape[:2]:
                raise ValueError(f"features of sequence {i} must have shape (T, K, F), got {f.shape}")
            per_frame.append(f)
        x = np.concatenate(per_frame, axis=-1)  # (T, K, D)
        length = c.shape[0]
        starts = np.arange(history - 1, length - horizon, stride)
        if len(starts) == 0:
            continue
        hist_idx = starts[:, None] + np.arange(-history + 1, 1)[None, :]
        fut_idx = starts[:, None] + np.arange(1, horizon + 1)[None, :]
        inputs.append(x[hist_idx])
        t_coords.append(c[fut_idx])
        t_status.append(s[fut_idx])
        if actions_l is not None:
            a = actions_l[i].astype(np.float32)
            if a.ndim != 2 or a.shape[0] != length:
                raise ValueError(f"actions of sequence {i} must have shape (T, A) with T = {length}, got {a.shape}")
            acts.append(a[hist_idx])
        seq_ids.append(np.full(len(starts), i, dtype=np.int64))
        sources.append(starts.astype(np.int64))
    if not inputs:
        d = 3 + (features_l[0].shape[-1] if features_l else 0)
        kk = k or 0
        empty = DynamicsWindows(torch.zeros(0, history, kk, d), torch.zeros(0, horizon, kk, 2),
                                torch.zeros(0, horizon, kk),
                                None if actions_l is None else torch.zeros(0, history, actions_l[0].shape[-1]),
                                torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
        return empty
    return DynamicsWindows(
        inputs=torch.from_numpy(np.concatenate(inputs)),
        target_coords=torch.from_numpy(np.concatenate(t_coords)),
        target_status=torch.from_numpy(np.concatenate(t_status)),
        actions=None if actions_l is None else torch.from_numpy(np.concatenate(acts)),
        sequence=torch.from_numpy(np.concatenate(seq_ids)),
        source=torch.from_numpy(np.concatenate(sources)),
    )


# --------------------------------------------------------------------------- training and inference


def train_dynamics(model: KeypointDynamics, windows: DynamicsWindows, steps: int = 2000, batch: int = 64,
                   lr: float = 1e-3, seed: int = 0, device: Union[str, torch.device] = "cpu",
                   weight_decay: float = 0.0, grad_clip: float = 1.0, delta: float = 0.05,
                   status_weight: float = 1.0, progress: bool = True, desc: str = "dynamics") -> list[dict[str, float]]:
    """Fit a dynamics model with Adam on :func:`dynamics_loss`, minibatches drawn with replacement.

    The model is moved to ``device`` and left in eval mode. A model without parameters
    (:class:`ConstantVelocity`) is returned untouched with an empty history.

    :param windows: from :func:`make_windows` (non-empty).
    :param steps: optimiser steps.
    :param batch: windows per step.
    :param seed: seed of the minibatch sampling (initialise the model under your own seed).
    :param grad_clip: gradient-norm clip (0: none).
    :param progress: show a tqdm bar with the running loss.
    :return: the loss terms of every step.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    model.to(device)
    if not model.trainable:
        model.eval()
        return []
    if len(windows) == 0:
        raise ValueError("no training windows: the sequences are shorter than history + horizon frames")
    if steps < 0 or batch < 1:
        raise ValueError(f"steps must be >= 0 and batch >= 1, got {steps}, {batch}")
    data = windows.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    log: list[dict[str, float]] = []
    model.train()
    bar = tqdm(range(steps), desc=desc, unit="step", disable=not progress, dynamic_ncols=True, leave=False)
    for step in bar:
        idx = torch.randint(len(data), (batch,), generator=generator).to(device)
        pred = model(data.inputs[idx], None if data.actions is None else data.actions[idx])
        loss, terms = dynamics_loss(pred, data.target_coords[idx], data.target_status[idx], delta, status_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        log.append(terms)
        if step % 25 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{terms['loss/total']:.4f}")
    bar.close()
    model.eval()
    return log


@torch.no_grad()
def predict_sequence(model: KeypointDynamics, coords: ArrayLike, status: ArrayLike,
                     features: Optional[ArrayLike] = None, actions: Optional[ArrayLike] = None,
                     batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Predictions from every frame of one sequence that has a full history.

    :param coords: ``(T, K, 2)``; :param status: ``(T, K)``; :param features: ``(T, K, F)`` or
        None; :param actions: ``(T, A)`` or None.
    :return: ``pred_coords (T, horizon, K, 2)`` and ``pred_status (T, horizon, K)``
        (probabilities) as float numpy arrays, where row t is predicted from frames
        ``t − history + 1 … t`` for ``t + 1 … t + horizon``; rows with ``t < history − 1``
        are nan. Predictions beyond the end of the sequence are kept (there is no target).
    """
    def arr(x: Any) -> Optional[np.ndarray]:
        return None if x is None else (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))

    coords, status, features, actions = arr(coords), arr(status), arr(features), arr(actions)
    length, k = coords.shape[:2]
    hist = model.history
    out_c = np.full((length, model.horizon, k, 2), np.nan)
    out_s = np.full((length, model.horizon, k), np.nan)
    if length < hist:
        return out_c, out_s
    per_frame = [coords, status[..., None]] + ([features] if features is not None else [])
    x = torch.from_numpy(np.concatenate(per_frame, axis=-1).astype(np.float32))
    sources = np.arange(hist - 1, length)
    idx = torch.from_numpy(sources[:, None] + np.arange(-hist + 1, 1)[None, :])
    device = next(iter(model.parameters()), torch.zeros(0)).device
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(sources), batch_size):
            chunk = idx[i:i + batch_size]
            a = None if actions is None else torch.from_numpy(actions.astype(np.float32))[chunk].to(device)
            pred = model(x[chunk].to(device), a)
            out_c[sources[i:i + batch_size]] = pred.coords.cpu().numpy()
            out_s[sources[i:i + batch_size]] = pred.status.cpu().numpy()
    finally:
        model.train(was_training)
    return out_c, out_s


# --------------------------------------------------------------------------- checkpoints

FORMAT = "mint-rl-dynamics"
VERSION = 1


class DynamicsCheckpointError(CheckpointError):
    """A dynamics checkpoint is unreadable, of another format, or meant for other keypoints."""


def encoder_identifier(source: Union[str, os.PathLike]) -> str:
    """Identifier of the encoder keypoints come from: the sha256 (hex) of its checkpoint file.

    :param source: path of an encoder checkpoint. A string that is no existing file is taken
        as the identifier itself (e.g. ``"ground_truth"`` for object centres as keypoints).
    """
    path = Path(source)
    if path.is_file():
        return file_sha256(path)
    if isinstance(source, os.PathLike):
        raise FileNotFoundError(f"encoder checkpoint {source} does not exist")
    return str(source)


def save_dynamics(path: Union[str, os.PathLike], model: KeypointDynamics, meta: dict[str, Any]) -> Path:
    """Atomically write a dynamics checkpoint (temporary file, fsync, ``os.replace``).

    :param model: the trained model (any of :data:`DYNAMICS_MODELS`).
    :param meta: must hold ``"encoder_id"`` (see :func:`encoder_identifier`); anything else
        (scene, seed, training budget...) is stored as given.
    :return: the final path.
    """
    if "encoder_id" not in meta:
        raise ValueError("meta needs an 'encoder_id': encoder_identifier(<encoder checkpoint>) of the encoder "
                         "whose keypoints the model was trained on")
    names = {cls: name for name, cls in DYNAMICS_MODELS.items()}
    if type(model) not in names:
        raise ValueError(f"cannot save a {type(model).__name__}; known models: {', '.join(DYNAMICS_MODELS)}")
    payload = {"format": FORMAT, "version": VERSION, "model": names[type(model)], "hparams": dict(model.hparams),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "num_keypoints": model.num_keypoints, "history": model.history, "horizon": model.horizon,
               "encoder_id": str(meta["encoder_id"]), "meta": dict(meta)}
    return atomic_torch_save(payload, path)


def load_dynamics(path: Union[str, os.PathLike], expected_num_keypoints: Optional[int] = None,
                  expected_encoder: Union[str, os.PathLike, None] = None,
                  map_location: Union[str, torch.device] = "cpu") -> tuple[KeypointDynamics, dict[str, Any]]:
    """Load a dynamics checkpoint and check it fits the keypoints it will be fed.

    :param expected_num_keypoints: K of the keypoints at hand; a model for another K is refused.
    :param expected_encoder: the encoder checkpoint (path) or its identifier; a model trained
        on another encoder's keypoints is refused (its keypoints mean something else).
    :return: the model (eval mode) and the checkpoint's ``meta``.
    :raises DynamicsCheckpointError: naming the mismatch or the problem with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DynamicsCheckpointError(f"dynamics checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise DynamicsCheckpointError(f"dynamics checkpoint {path} cannot be read (truncated or not a checkpoint): "
                                      f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DynamicsCheckpointError(f"{path} is not a mint-rl dynamics checkpoint (no '{FORMAT}' format tag)")
    if data.get("version") != VERSION:
        raise DynamicsCheckpointError(f"dynamics checkpoint {path} has version {data.get('version')!r}; "
                                      f"this mint-rl reads version {VERSION}")
    if expected_num_keypoints is not None and data["num_keypoints"] != expected_num_keypoints:
        raise DynamicsCheckpointError(
            f"dynamics checkpoint {path} was trained on K = {data['num_keypoints']} keypoints but "
            f"K = {expected_num_keypoints} were expected; train a model for this encoder's keypoints")
    if expected_encoder is not None:
        expected_id = encoder_identifier(expected_encoder)
        if data["encoder_id"] != expected_id:
            raise DynamicsCheckpointError(
                f"dynamics checkpoint {path} was trained on keypoints of encoder {data['encoder_id'][:16]}..., "
                f"not of the expected encoder {expected_id[:16]}... ({expected_encoder}); keypoint identities of "
                "another encoder mean other things, so retrain the dynamics model on its keypoints")
    try:
        model = build_dynamics(data["model"], **data["hparams"])
        model.load_state_dict(data["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DynamicsCheckpointError(f"dynamics checkpoint {path}: cannot rebuild the model: {exc}") from exc
    return model.to(map_location).eval(), dict(data.get("meta", {}))
