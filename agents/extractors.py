"""Stable-Baselines3 features extractors over keypoint observations.

Keypoint observations come from :class:`envs.wrappers.MintKeypointWrapper` (or the SB3
VecEnv wrapper): per keypoint ``(x, y, status, features...)``, ``D = 3 + F`` values, with
(x, y) in [-1, 1] (y down, pixel-centre aligned) and status in [0, 1]. Accepted layouts:

- ``Box (K, D)``: one frame;
- ``Box (S, K, D)``: S frames stacked by gymnasium's ``FrameStackObservation``;
- ``Box (K, S·D)``: S frames stacked by SB3's ``VecFrameStack`` (pass ``n_stack=S``);
- ``Dict(coords (…, K, 2), status (…, K), [features (…, K, F)])``, with an optional leading S.

Use through ``policy_kwargs``::

    PPO("MlpPolicy", venv, policy_kwargs=dict(
        features_extractor_class=KeypointSetExtractor,
        features_extractor_kwargs=dict(features_dim=128)))      # "MultiInputPolicy" for Dict

``KeypointMlpExtractor`` flattens everything (it knows keypoint identities by position);
``KeypointMapExtractor`` draws the keypoints of each stacked frame on a small grid and runs a CNN (it
needs no identities at all);
``KeypointSetExtractor`` is permutation invariant: a shared per-keypoint MLP (optionally
self-attention across keypoints, or a relation network over pairs of keypoints), then a
status-weighted mean and a masked max over the keypoints that are active in the most recent
frame, so inactive keypoints contribute nothing.
"""

from __future__ import annotations

import math
import numbers

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from mint_rl.keypoints import gaussian_profiles

__all__ = ["GlimpseEncoder", "KeypointMapExtractor", "KeypointMlpExtractor", "KeypointSetExtractor", "MAX_FOURIER_OCTAVES",
           "MIN_MAP_GRID", "fourier_coords", "split_keypoint_observation"]

MAX_FOURIER_OCTAVES = 10
"""At most this many octaves: the 10th has a period of 2 / 2⁹ in [-1, 1] units, 1/512 of the frame, under a pixel of
any frame we use."""


def _layout(space: gym.Space, n_stack: int) -> tuple[int, int, int]:
    """(S, K, D) of a keypoint observation space; raise ``ValueError`` naming the space otherwise."""
    if isinstance(space, gym.spaces.Dict):
        if "coords" not in space.spaces or "status" not in space.spaces:
            raise ValueError(f"a keypoint Dict space needs 'coords' and 'status' entries, got {space}")
        coords = space["coords"].shape
        f = space["features"].shape[-1] if "features" in space.spaces else 0
        s = coords[0] if len(coords) == 3 else 1
        return s, coords[-2], 3 + f
    if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (2, 3) or space.dtype == np.uint8:
        raise ValueError(f"keypoint extractors need a Box of shape (K, D), (S, K, D) or (K, S*D), or a keypoint Dict; "
                         f"got {space}. Wrap image envs with MintKeypointWrapper first.")
    if len(space.shape) == 3:
        return space.shape[0], space.shape[1], space.shape[2]
    k, x = space.shape
    if x % n_stack or x // n_stack < 3:
        raise ValueError(f"observation shape {space.shape} does not split into n_stack={n_stack} frames of "
                         "(x, y, status, features...)")
    return n_stack, k, x // n_stack


def split_keypoint_observation(obs: torch.Tensor | dict[str, torch.Tensor], layout: tuple[int, int, int],
                               channels_last_stack: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-keypoint inputs and the newest frame's status.

    :param obs: a batch of keypoint observations in one of the module's layouts.
    :param layout: (S, K, D).
    :param channels_last_stack: True for SB3's ``VecFrameStack`` layout ``(K, S·D)``.
    :return: ``x (B, K, S·D)`` (frames oldest → newest, concatenated per keypoint) and
        ``status (B, K)`` of the newest frame.
    """
    s, k, d = layout
    if isinstance(obs, dict):
        parts = [obs["coords"], obs["status"].unsqueeze(-1)]
        if "features" in obs:
            parts.append(obs["features"])
        x = torch.cat(parts, dim=-1)  # (B, [S,] K, D)
        if x.dim() == 3:
            x = x.unsqueeze(1)
    elif obs.dim() == 4:  # (B, S, K, D)
        x = obs
    else:  # (B, K, S*D) from VecFrameStack, or (B, K, D)
        x = obs.reshape(obs.shape[0], k, s, d).transpose(1, 2) if channels_last_stack else obs.unsqueeze(1)
    status = x[:, -1, :, 2]
    return x.transpose(1, 2).reshape(x.shape[0], k, s * d), status


class KeypointMlpExtractor(BaseFeaturesExtractor):
    """Flatten all keypoints (and stacked frames) into one vector, then an MLP.

    :param observation_space: a keypoint space (see module docstring).
    :param features_dim: output size.
    :param hidden: hidden layer sizes.
    :param n_stack: frames stacked by SB3's ``VecFrameStack`` (layout ``(K, S·D)``).
    :param gate_by_status: multiply each keypoint's coords and features by its status, as the
        authors' behaviour-cloning input did, so inactive keypoints read as zeros.
    :param glimpse: ``(C, p)`` when each keypoint's features are a flattened ``C × p × p`` glimpse
        (``glimpse_size`` of the keypoint wrappers): a :class:`GlimpseEncoder` shared by all
        keypoints turns each into ``glimpse_dim`` values before the MLP, trained with the policy.
    :param glimpse_dim: G, the glimpse code size.
    :param fourier: L > 0 appends :func:`fourier_coords` of each keypoint's (x, y) (``4·L`` values per keypoint and
        frame, times that frame's status when ``gate_by_status``), so the MLP can read positions finer than its first
        layer's ReLUs cut them
        (Fourier features against the spectral bias of MLPs: Tancik et al. 2020; in RL value functions: Yang et al.,
        ICLR 2022). 0: the coordinates as they are.
    """

    def __init__(self, observation_space: gym.Space, features_dim: int = 128, hidden: tuple[int, ...] = (256,),
                 n_stack: int = 1, gate_by_status: bool = True, glimpse: tuple[int, int] | None = None,
                 glimpse_dim: int = 32, fourier: int = 0) -> None:
        super().__init__(observation_space, features_dim)
        if isinstance(fourier, bool) or not isinstance(fourier, numbers.Integral) \
                or not 0 <= fourier <= MAX_FOURIER_OCTAVES:
            raise ValueError(f"{type(self).__name__}(fourier={fourier!r}): the number of Fourier octaves must be an "
                             f"integer in [0, {MAX_FOURIER_OCTAVES}] (0: coordinates only)")
        self.fourier = int(fourier)
        self.layout = _layout(observation_space, n_stack)
        self.vec_stack = isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 2 \
            and n_stack > 1
        self.gate_by_status = gate_by_status
        s, k = self.layout[:2]
        self.glimpse, d = _glimpse_encoder(type(self).__name__, observation_space, self.layout, glimpse, glimpse_dim)
        self._row = (s, k, d)
        layers, width = [], s * k * (d + 4 * self.fourier)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers += [nn.Linear(width, features_dim), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        x, _ = split_keypoint_observation(observations, self.layout, self.vec_stack)
        if self.glimpse is not None:
            x = _encode_glimpses(x, self.layout, self.glimpse)
        if self.fourier:
            s, k, d = self._row
            frames = x.reshape(x.shape[0], k, s, d)
            code = fourier_coords(frames[..., :2], self.fourier)
            if self.gate_by_status:
                code = code * frames[..., 2:3]
        if self.gate_by_status:
            x = _gate(x, self._row)
        if self.fourier:
            x = torch.cat([x.reshape(code.shape[:3] + (-1,)), code], dim=-1)
        return self.mlp(x.flatten(1))


def fourier_coords(xy: torch.Tensor, octaves: int) -> torch.Tensor:
    """Multi-scale sinusoids of keypoint coordinates.

    :param xy: ``(..., 2)`` coordinates (x, y) in [-1, 1] (y down, pixel-centre aligned; :mod:`mint_rl.coords`).
    :param octaves: L, frequencies ``2^l · π`` for l = 0 … L − 1 (periods from the whole [-1, 1] range down to
        ``2 / 2^(L-1)``).
    :return: ``(..., 4·L)``: ``sin`` of x and y at every frequency, then ``cos`` of them, ordered
        ``[sin(π x), sin(π y), sin(2π x), sin(2π y), …, cos(π x), cos(π y), …]``.
    """
    freqs = math.pi * 2.0 ** torch.arange(octaves, dtype=xy.dtype, device=xy.device)
    angles = (xy.unsqueeze(-2) * freqs.unsqueeze(-1)).flatten(-2)  # (..., L·2): x, y per frequency
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


MIN_MAP_GRID = 16
"""The smallest grid :class:`KeypointMapExtractor` renders: its three convolutions need at least 16 × 16 cells."""


class KeypointMapExtractor(BaseFeaturesExtractor):
    """Render the keypoints as Gaussian blobs on a small grid, one image per stacked frame, then a CNN.

    Channel ``s·(1 + F)`` (``s`` without features) holds frame s's keypoints, each a blob ``exp(-d² / std²)`` (``d`` in grid cells from the
    cell centre to the keypoint, :func:`mint_rl.keypoints.gaussian_profiles`) weighted by its status; the next F
    channels the same blobs weighted by each feature (with colour codes: one channel per colour). The CNN reads where
    things are and how they moved between the stacked frames without knowing which row a keypoint came from, so it is
    blind to rows that exchange objects and to the order of the rows, and several keypoints on one object draw one
    brighter blob there rather than extra rows — the defects that cost the flat extractor most on Pong (docs/pong_keypoint_agent.md) — while
    positions stay readable finer than a cell from the blob's profile. An inactive keypoint draws nothing.

    :param observation_space: a keypoint space (see module docstring); no glimpses (give colour codes instead).
    :param features_dim: output size.
    :param n_stack: frames stacked by SB3's ``VecFrameStack`` (layout ``(K, S·D)``).
    :param grid: G, the map is ``G × G`` cells over the frame (at least :data:`MIN_MAP_GRID`).
    :param std_px: the blobs' std in cells (> 0).
    :param features: also render each keypoint's F features as channels; False: positions and status only.

    Cost per observation: ``S·K·2G`` exponentials for the profiles and ``S·K·C·G²`` multiply-adds to draw them (C = 1 + F
    channels per frame); at G = 32 the CNN's convolutions take 0.27× the multiply-adds of SB3's NatureCNN on 4 × 84 × 84
    frames with 2 input channels, 0.37× with 9 (``benchmarks/bench_ppo.py`` times whole PPO runs).
    """

    def __init__(self, observation_space: gym.Space, features_dim: int = 256, n_stack: int = 1, grid: int = 32,
                 std_px: float = 1.0, features: bool = True) -> None:
        super().__init__(observation_space, features_dim)
        if isinstance(grid, bool) or not isinstance(grid, numbers.Integral) or grid < MIN_MAP_GRID:
            raise ValueError(f"{type(self).__name__}(grid={grid!r}): the map needs a whole number of cells >= "
                             f"{MIN_MAP_GRID} per side")
        if isinstance(std_px, bool) or not isinstance(std_px, numbers.Real) or not (math.isfinite(std_px) and std_px > 0):
            raise ValueError(f"{type(self).__name__}(std_px={std_px!r}): the blobs' std in cells must be a finite "
                             "number > 0")
        self.layout = _layout(observation_space, n_stack)
        self.vec_stack = isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 2 \
            and n_stack > 1
        s, _, d = self.layout
        self.grid, self.std_px, self.features = int(grid), float(std_px), bool(features)
        channels = s * (1 + (d - 3 if self.features else 0))
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 32, 4, stride=2), nn.ReLU(), nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.cnn(torch.zeros(1, channels, self.grid, self.grid)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def render(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """The maps the CNN reads: ``(B, S·(1 + F), G, G)`` (``(B, S, G, G)`` without features), rows y down."""
        x, _ = split_keypoint_observation(observations, self.layout, self.vec_stack)
        s, k, d = self.layout
        frames = x.reshape(x.shape[0], k, s, d).transpose(1, 2)  # (B, S, K, D)
        gy, gx = gaussian_profiles(frames[..., :2], (self.grid, self.grid), self.std_px)  # (B, S, K, G)
        status = frames[..., 2:3]
        weights = torch.cat([status, frames[..., 3:] * status], dim=-1) if self.features else status  # (B, S, K, C)
        maps = torch.einsum("bskc,bskh,bskw->bschw", weights, gy, gx)
        return maps.reshape(maps.shape[0], -1, self.grid, self.grid)

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.cnn(self.render(observations)))


def _glimpse_encoder(owner: str, observation_space: gym.Space, layout: tuple[int, int, int],
                     glimpse: tuple[int, int] | None, glimpse_dim: int) -> tuple["GlimpseEncoder | None", int]:
    """The glimpse CNN of an extractor and the per-frame row width after it (``3 + G``, or D without glimpses);
    ``ValueError`` naming both sides when the observation does not carry the glimpses asked for."""
    d = layout[2]
    if glimpse is None:
        return None, d
    encoder = GlimpseEncoder(glimpse[0], glimpse[1], glimpse_dim)
    if d - 3 != encoder.pixels:
        raise ValueError(f"{owner}(glimpse={tuple(glimpse)}) expects {encoder.pixels} glimpse values per keypoint "
                         f"({glimpse[0]} channels × {glimpse[1]}×{glimpse[1]} px) after x, y, status, but the "
                         f"observation {observation_space} carries {d - 3} features per keypoint. Give the wrapper "
                         "the same glimpse size (ObservationOptions(glimpse_size=...)) and no other features, "
                         "or leave glimpse out.")
    return encoder, 3 + glimpse_dim


def _encode_glimpses(x: torch.Tensor, layout: tuple[int, int, int], encoder: "GlimpseEncoder") -> torch.Tensor:
    """``(B, K, S·(3 + C·p·p))`` → ``(B, K, S·(3 + G))``; an inactive keypoint's glimpse code reads as 0."""
    b, k = x.shape[:2]
    frames = x.reshape(b, k, layout[0], -1)
    code = encoder(frames[..., 3:]) * frames[..., 2:3]
    return torch.cat([frames[..., :3], code], dim=-1).reshape(b, k, -1)


def _gate(x: torch.Tensor, layout: tuple[int, int, int]) -> torch.Tensor:
    """Multiply coords and features of every stacked frame by that frame's status."""
    s, k, d = layout
    frames = x.reshape(x.shape[0], k, s, d)
    status = frames[..., 2:3]
    gated = torch.cat([frames[..., :2] * status, status, frames[..., 3:] * status], dim=-1)
    return gated.reshape(x.shape[0], k, s * d)


class GlimpseEncoder(nn.Module):
    """A small CNN shared by all keypoints: a flattened ``C × p × p`` glimpse in [0, 1] → G values.

    A 1×1 convolution (colour detectors applied at every pixel of the glimpse) and a ReLU, then
    the maximum and the mean of each detector over the glimpse, then a linear layer and a ReLU;
    trained end to end by the policy's loss. Pooling over the glimpse makes the code independent
    of where in the glimpse the object lies (MINT keypoints sit on object edges, so an object
    fills a different part of each glimpse), and it keeps keypoint PPO several times faster than
    pixel PPO: a two-layer 3×3 CNN over 8×8 glimpses made a PPO update slower than SB3's
    NatureCNN on the whole frame.

    :param channels: C of the glimpse.
    :param size: p, the glimpse side in pixels.
    :param out_dim: G.
    :param width: number of colour detectors.
    """

    def __init__(self, channels: int, size: int, out_dim: int = 32, width: int = 16) -> None:
        super().__init__()
        if channels < 1 or size < 1 or out_dim < 1:
            raise ValueError(f"glimpse channels, size and out_dim must be >= 1, got {channels}, {size}, {out_dim}")
        self.channels, self.size, self.pixels = channels, size, channels * size * size
        self.detect = nn.Sequential(nn.Conv2d(channels, width, 1), nn.ReLU())
        self.out = nn.Sequential(nn.Linear(2 * width, out_dim), nn.ReLU())

    def forward(self, glimpses: torch.Tensor) -> torch.Tensor:
        """``(..., C·p·p)`` → ``(..., G)``."""
        lead = glimpses.shape[:-1]
        x = self.detect(glimpses.reshape(-1, self.channels, self.size, self.size)).flatten(2)  # (N, width, p·p)
        return self.out(torch.cat([x.amax(-1), x.mean(-1)], dim=-1)).reshape(*lead, -1)


class KeypointAttention(nn.Module):
    """Multi-head self-attention over the keypoints of each observation, with a key mask.

    The computation of ``nn.MultiheadAttention`` (scaled dot products, softmax over the keys that
    are allowed, an output projection) written with two batched matmuls: for the few keypoints of
    an observation it runs about twice as fast on a CPU as the general module.

    :param dim: E, the embedding size (divisible by ``heads``).
    :param heads: number of heads.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the embedding size {dim} must be divisible by the {heads} attention heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """``h (B, K, E)``, ``keys (B, K)`` bool (the keypoints that may be attended to) → ``(B, K, E)``."""
        b, k, e = h.shape
        q, key, v = self.qkv(h).reshape(b, k, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ key.transpose(-1, -2) / math.sqrt(e // self.heads)  # (B, H, K, K)
        scores = scores.masked_fill(~keys[:, None, None, :], float("-inf"))
        return self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, k, e))


class KeypointSetExtractor(BaseFeaturesExtractor):
    """Permutation-invariant extractor: per-keypoint MLP, optional self-attention, masked pooling.

    A keypoint counts as present when its newest status is > 0.5; pooling is a status-weighted
    mean and a max over present keypoints (zeros when none is present), concatenated.

    :param observation_space: a keypoint space (see module docstring).
    :param features_dim: output size.
    :param embed_dim: per-keypoint embedding size.
    :param attention_heads: 0 for none, else one self-attention layer over present keypoints.
    :param n_stack: frames stacked by SB3's ``VecFrameStack`` (layout ``(K, S·D)``).
    :param glimpse: ``(C, p)`` when the features of each keypoint are a flattened ``C × p × p``
        glimpse in [0, 1] (``glimpse_size`` of the keypoint wrappers): a :class:`GlimpseEncoder`
        turns each into ``glimpse_dim`` values, trained with the policy.
    :param glimpse_dim: G, the glimpse code size.
    :param relations: also a relation network (Santoro et al. 2017): a shared MLP over every ordered
        pair (i, j) of present keypoints, fed both embeddings and the offset ``(x_j - x_i, y_j - y_i)``
        in the newest frame, pooled like the keypoints (mean and max over pairs) and concatenated
        with their pooled features. The offset between two entities, which a policy often needs
        (where an object is relative to the agent), is then an input rather than something the
        pooled per-keypoint features must encode.
    :param relation_dim: with ``relations``: the width of the pair MLP and its codes (None: ``embed_dim``).
    :param sort: None: pool the keypoint embeddings (mean and max). ``"y"``: instead concatenate them in
        a canonical order, lowest keypoint in the image first (largest newest y), inactive keypoints
        last and zeroed, so an MLP reads the set the way ``MlpPolicy`` reads a state vector in a fixed
        order; an order by image row, a prior (on tasks where things fall it is close to the order of
        urgency). ``"learned"``: the same with a learned sort key, a linear score of each embedding
        (SortPooling, Zhang et al. 2018), appended to the embeddings so that its gradient reaches it.
        Ties keep the input order.
    :param equal_codes: n > 0 when the last n values of each keypoint's row (in every frame) are a one-hot
        category, the colour code of the keypoint wrappers (``ObservationOptions(colour_codes=...)``): the
        first layer's weights on those columns start at zero instead of random, so every category starts
        with the same embedding, and training is free to separate them (the intent, measured in
        docs/keypoint_ladder.md: what is learned about one good colour in Catch starts out shared with the
        others). They are a parameter of their own, ``code_weight``, which SB3's orthogonal initialisation
        of ``nn.Linear`` layers does not reset. 0: a plain first layer over the whole row.
    :param code_gain: with ``equal_codes``: the code weights start at ``code_gain`` × a random orthogonal matrix
        (``nn.init.orthogonal_``; SB3 gives the rest of the first layer gain √2) instead of zero, so the colours
        start close but not equal. 0: zero (every colour starts with the same embedding).
    """

    def __init__(self, observation_space: gym.Space, features_dim: int = 128, embed_dim: int = 64,
                 attention_heads: int = 0, n_stack: int = 1, glimpse: tuple[int, int] | None = None,
                 glimpse_dim: int = 32, relations: bool = False, sort: str | None = None,
                 equal_codes: int = 0, relation_dim: int | None = None, code_gain: float = 0.0) -> None:
        super().__init__(observation_space, features_dim)
        self.layout = _layout(observation_space, n_stack)
        self.vec_stack = isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 2 \
            and n_stack > 1
        s = self.layout[0]
        self.glimpse, d = _glimpse_encoder(type(self).__name__, observation_space, self.layout, glimpse, glimpse_dim)
        if isinstance(equal_codes, bool) or not 0 <= equal_codes <= d - 3 or (equal_codes and glimpse is not None):
            raise ValueError(f"{type(self).__name__}(equal_codes={equal_codes}) needs 0 <= n <= {d - 3}, the values "
                             f"per keypoint after x, y, status in the observation {observation_space}, and no "
                             "glimpse CNN; give n = the wrapper's number of colour codes (ObservationOptions("
                             "colour_codes=...)), or 0")
        self.code_weight: nn.Parameter | None = None
        if equal_codes:  # the first layer split in two: the rest of the row, and the code columns (zero)
            columns = torch.arange(s * d).reshape(s, d)
            self.register_buffer("_other_columns", columns[:, :d - equal_codes].reshape(-1), persistent=False)
            self.register_buffer("_code_columns", columns[:, d - equal_codes:].reshape(-1), persistent=False)
            self.code_weight = nn.Parameter(torch.zeros(embed_dim, s * equal_codes))
        if not (isinstance(code_gain, (int, float)) and not isinstance(code_gain, bool) and math.isfinite(code_gain)
                and code_gain >= 0) or (code_gain and not equal_codes):
            raise ValueError(f"{type(self).__name__}(code_gain={code_gain!r}) scales the start of the colour-code "
                             "weights: give a finite number >= 0 together with equal_codes=n, or leave it out")
        first_in = s * (d - equal_codes)
        self.point = nn.Sequential(nn.Linear(first_in, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim),
                                   nn.ReLU())
        self.attention = KeypointAttention(embed_dim, attention_heads) if attention_heads > 0 else None
        if relation_dim is not None and not relations:
            raise ValueError(f"{type(self).__name__}(relation_dim={relation_dim}) sets the width of the relation network: "
                             "give relations=True, or leave relation_dim out")
        self.relations = KeypointRelations(embed_dim, relation_dim) if relations else None
        if sort not in (None, "y", "learned"):
            raise ValueError(f"sort must be None, 'y' or 'learned', got {sort!r}")
        if sort is not None and (relations or attention_heads):
            raise ValueError("sort replaces the pooling: use it without relations and attention_heads")
        self.sort = sort
        self.score = nn.Linear(embed_dim, 1) if sort == "learned" else None
        k = self.layout[1]
        pooled = (2 * embed_dim + (2 * self.relations.pair_dim if self.relations is not None else 0)) if sort is None \
            else k * (embed_dim + (sort == "learned"))
        self.head = nn.Sequential(nn.Linear(pooled, features_dim), nn.ReLU())
        if code_gain:  # (drawn last, so the other layers start as they do without it)
            with torch.no_grad():
                nn.init.orthogonal_(self.code_weight, gain=float(code_gain))

    def forward(self, observations: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        x, status = split_keypoint_observation(observations, self.layout, self.vec_stack)
        present = status > 0.5  # (B, K)
        d = self.layout[2]
        xy = x[..., (self.layout[0] - 1) * d:(self.layout[0] - 1) * d + 2]  # (B, K, 2), newest frame
        if self.glimpse is not None:
            x = _encode_glimpses(x, self.layout, self.glimpse)
        if self.code_weight is not None:
            h = self.point[0](x.index_select(-1, self._other_columns)) \
                + nn.functional.linear(x.index_select(-1, self._code_columns), self.code_weight)
            h = self.point[1:](h)  # (B, K, E)
        else:
            h = self.point(x)  # (B, K, E)
        if self.attention is not None:
            # a row with no present keypoint would attend to nothing (NaN): let it attend to all
            pad = ~present & present.any(dim=1, keepdim=True)
            h = h + self.attention(h, ~pad)
        if self.sort is not None:
            return self.head(self._sorted(h, xy, present))
        pooled = _pool(h, status * present, present)
        if self.relations is not None:
            pooled = torch.cat([pooled, self.relations(h, xy, present)], dim=-1)
        return self.head(pooled)


    def _sorted(self, h: torch.Tensor, xy: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``(B, K, E)`` → ``(B, K·E')``: the present keypoints' embeddings by decreasing key, then zeros."""
        if self.score is not None:
            score = self.score(h)  # (B, K, 1)
            h, key = torch.cat([h, score], dim=-1), score.squeeze(-1)
        else:
            key = xy[..., 1]
        order = key.masked_fill(~present, float("-inf")).argsort(dim=1, descending=True, stable=True)
        h = (h * present.unsqueeze(-1)).gather(1, order.unsqueeze(-1).expand_as(h))
        return h.flatten(1)


def _pool(h: torch.Tensor, weight: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """``h (B, N, E)`` → ``(B, 2E)``: the ``weight``-weighted mean and the max over the ``present`` rows
    (zeros where no row is present)."""
    mean = (h * weight.unsqueeze(-1)).sum(1) / weight.sum(1, keepdim=True).clamp_min(1e-6)
    maxed = h.masked_fill(~present.unsqueeze(-1), float("-inf")).amax(1)
    maxed = torch.where(present.any(1, keepdim=True), maxed, torch.zeros_like(maxed))
    return torch.cat([mean, maxed], dim=-1)


class KeypointRelations(nn.Module):
    """A relation network's pair MLP ``g([h_i, h_j, p_j - p_i])`` over the ordered pairs (i ≠ j) of present
    keypoints, pooled: the mean and the max of the pair codes.

    The first layer is split into one linear map per input part, so pair tensors are formed only after
    it (sums of E-vectors instead of matrix products of width 2E + 2); the offset's map is linear
    without bias, ``W (p_j - p_i) = W p_j - W p_i``, so it is applied to the K positions and folded into
    the two per-keypoint terms. :meth:`forward` then runs the rest of the MLP on the present pairs
    only, gathered from the whole batch (the cost follows the number of active keypoints, not K²);
    :meth:`pairs` gives every pair's code, for inspection.

    :param dim: E, the keypoint embedding size.
    :param pair_dim: P_E, the width of the pair MLP and of the pair codes (None: E). Its cost grows with the
        number of present pairs times this width (``benchmarks/bench_ppo.py``; the object-task default of
        ``experiments/ppo_keypoints.py`` is narrower than E for that reason).
    """

    def __init__(self, dim: int, pair_dim: int | None = None) -> None:
        super().__init__()
        pair_dim = dim if pair_dim is None else pair_dim
        if isinstance(pair_dim, bool) or not isinstance(pair_dim, int) or pair_dim < 1:
            raise ValueError(f"KeypointRelations(pair_dim={pair_dim!r}): give the pair code width, a whole number "
                             ">= 1 (None: the embedding size)")
        self.pair_dim = pair_dim
        self.first = nn.Linear(dim, pair_dim)
        self.second = nn.Linear(dim, pair_dim, bias=False)
        self.offset = nn.Linear(2, pair_dim, bias=False)
        self.out = nn.Sequential(nn.ReLU(), nn.Linear(pair_dim, pair_dim), nn.ReLU())

    def _terms(self, h: torch.Tensor, xy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        at = self.offset(xy)  # (B, K, P_E): W p; the pair [i, j] gets W p_j - W p_i
        return self.first(h) - at, self.second(h) + at

    def pairs(self, h: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """``h (B, K, E)``, ``xy (B, K, 2)`` (the module's coordinate convention) → ``(B, K, K, P_E)``,
        entry (i, j) the code of the pair with keypoint i first (every pair, present or not)."""
        first, second = self._terms(h, xy)
        return self.out(first.unsqueeze(2) + second.unsqueeze(1))

    def forward(self, h: torch.Tensor, xy: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """``h (B, K, E)``, ``xy (B, K, 2)``, ``present (B, K)`` bool → ``(B, 2 P_E)``: the mean and the max of
        the codes of the ordered pairs (i ≠ j) of present keypoints; zeros where there is no such pair."""
        b, k = h.shape[:2]
        e = self.pair_dim
        first, second = self._terms(h, xy)
        pairs = present.unsqueeze(2) & present.unsqueeze(1) & ~torch.eye(k, dtype=torch.bool, device=h.device)
        flat = pairs.reshape(-1).nonzero().squeeze(1)  # (P,) the present pairs of the batch: r·K² + i·K + j (r the batch row)
        row = flat // (k * k)
        # rows r·K + i of the first term and r·K + j of the second (index_select: its backward is an index_add)
        left, right = flat // k, row * k + flat % k
        codes = self.out(first.reshape(b * k, e).index_select(0, left)
                         + second.reshape(b * k, e).index_select(0, right))  # (P, E), >= 0 after the ReLU
        count = pairs.sum((1, 2)).clamp_min(1).unsqueeze(-1).to(h.dtype)  # (B, 1)
        mean = h.new_zeros(b, e).index_add(0, row, codes) / count
        # codes >= 0, so a max that starts from 0 is their max, and 0 where a row has no pair
        maxed = h.new_zeros(b, e).scatter_reduce(0, row.unsqueeze(-1).expand(-1, e), codes, "amax")
        return torch.cat([mean, maxed], dim=-1)
