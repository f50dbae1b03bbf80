"""Keypoint observations from image frames: their options, format and space, and the observer that makes them.

One image observation (a frame, or a stack of S frames) becomes one keypoint observation::

    import numpy as np
    from gymnasium import spaces
    from envs.keypoint_observation import ImageLayout, ObservationOptions, keypoint_space

    layout = ImageLayout.from_space(spaces.Box(0, 255, (84, 84, 3), np.uint8))  # one RGB frame
    space = keypoint_space(num_keypoints=8, feature_dim=4)  # Box((8, 2 + 1 + 4), float32)
    options = ObservationOptions(obs_format="dict", feature_bound=5.0)  # the adapters' options=

Options (:class:`ObservationOptions`)
-------------------------------------
How frames become keypoint observations is one frozen, validated :class:`ObservationOptions`,
the ``options`` argument of :class:`KeypointObserver` and of the three adapters (next to the
``encoder`` and the ``online`` co-training options, :class:`~mint_rl.online.OnlineOptions`):
the encoder's ``config`` and ``device``, the output (``obs_format``, ``feature_bound``), the input
(``layout``, ``grey_to_rgb``) and the appearance columns (``glimpse_size``, ``glimpse_at``,
``colour_codes``). A bad value raises ``ValueError`` / ``TypeError`` naming the field when the
options are built; what depends on the env or the encoder (the layout against the space, a
glimpse against the encoder's input size, the codebook's channels, the device on this machine)
is checked when an adapter is built.

Observation format
------------------
One row per keypoint, ``(x, y, status, features...)``: the columns of
:meth:`mint_rl.keypoints.Keypoints.as_vector`, then (with ``glimpse_size`` > 0) G appearance
values.

* ``x, y``: coordinates in [-1, 1], x to the right, **y down**, pixel-centre aligned (pixel
  column ``i`` of a ``W``-wide frame has its centre at ``x = (2 i + 1) / W - 1``). The
  convention is defined once, in ``mint_rl/coords.py``; because the coordinates are
  normalised, they refer to the same point of the scene whatever the size of the frame the
  env renders.
* ``status`` in [0, 1]: the keypoint is active when > 0.5.
* F encoder features, unbounded unless ``feature_bound`` clips them to
  ``[-feature_bound, feature_bound]``.
* G appearance values in [0, 1]: the raw ``C × p × p`` glimpse around the keypoint
  (:func:`mint_rl.glimpses.extract_glimpses`), or, with ``colour_codes``, the one-hot category
  of its colour (:func:`mint_rl.appearance.colour_categories`).

The space (:func:`keypoint_space`, ``obs_format``)
--------------------------------------------------
``"box"``  ``Box((K, 2 + 1 + F + G), float32)``, one row per keypoint as above, with per-column
           bounds in ``low`` / ``high``. Goes to SB3's ``MlpPolicy`` or an ``agents`` extractor.
``"dict"`` ``Dict(coords=Box((K, 2), -1, 1), status=Box((K,), 0, 1), features=Box((K, F)))``
           (``features`` is left out when F = 0; no glimpses).

Frame-stacked input ``(S, ...)`` gives a leading S axis: ``(S, K, 2 + 1 + F + G)`` (or a
``Dict`` of ``(S, K, ...)``).

Input observations (:class:`ImageLayout`)
-----------------------------------------
* uint8 ``Box`` frames ``(H, W, C)`` with C ∈ {1, 3, 4} or grey ``(H, W)``; or a float
  ``Box`` bounded in [0, 1] (quantised to uint8 on entry, so training and inference see
  the same values). Any size: frames are resized to the encoder's ``config.image_size``
  with OpenCV (``INTER_AREA`` when shrinking, ``INTER_LINEAR`` otherwise).
* Frame-stacked input (gymnasium's ``FrameStackObservation``): ``(S, H, W, C)`` or
  ``(S, H, W)``. Each frame is encoded and the output is stacked along the first axis.
* ``ObservationOptions.layout`` says how to read the space; ``"auto"`` (default) reads
  ``(H, W)`` as grey, a rank-3 shape whose last axis is 1, 3 or 4 as one channels-last frame
  ``(H, W, C)``, any other rank-3 shape whose first axis is not 1, 3 or 4 as a grey stack
  ``(S, H, W)``, and ``(S, H, W, C)`` as a stack of channels-last frames. A shape such as
  ``(3, H, W)`` is **ambiguous** (channels-first RGB frames, or a stack of 3 grey frames,
  which is what ``FrameStackObservation`` of a grey env gives; both have the same space), so
  ``"auto"`` refuses it with an error naming both readings; pass
  ``ObservationOptions(layout="channels_first")`` (``(C, H, W)`` / ``(S, C, H, W)``,
  transposed on entry) or ``layout="grey_stack"`` (``(S, H, W)``). ``layout="channels_last"``
  accepts only channels-last frames.
* The channel count must equal the encoder's ``config.in_channels``; with
  ``ObservationOptions(grey_to_rgb=True)`` a grey input feeds an RGB encoder by repeating
  the channel.
* Anything else (``Discrete``, 1-D or tiny ``Box``, ``Dict``, int16 frames, float frames
  with bounds outside [0, 1]) is rejected at construction with an error naming the space.

Frame checks (:class:`FrameCheck`)
----------------------------------
Frames are checked at every ``reset`` / ``step`` too, not only the space at construction:
a frame whose dtype, shape or values do not fit the declared space (float frames from a
uint8 space, int16 frames, channels-first frames from a channels-last space, another frame
size, NaN / inf or values outside the bounds of a float space) raises
:class:`ObservationError` (a ``ValueError``) naming the env, the space and what arrived.
The check costs a dtype and a shape comparison for uint8 frames and one min and one max
for float frames: 0.02 % (uint8) and 0.5 % (float32) of a wrapped Atari step
(``benchmarks/bench_wrappers.py --check-cost``, ``docs/benchmarks.md``).
The vector adapters also check each sub-env's frames before a ``SyncVectorEnv`` /
SB3 ``DummyVecEnv`` copies them into its batch (the latter casts to the space's dtype
silently, so float frames in [0, 1] would arrive as black uint8 frames):
:meth:`KeypointObserver.check_sub_envs` wraps them in :class:`FrameCheckWrapper`.

Default config (:func:`default_mint_config`)
--------------------------------------------
An online adapter without an encoder and without ``ObservationOptions.config`` builds one from the
observation space: ``in_channels`` from the frames, and ``image_size`` the frame size when
both sides are at most :data:`DEFAULT_MAX_SIDE` (96) px (Atari's preprocessed 84×84, the
64×64 scenes) or :data:`DEFAULT_IMAGE_SIZE` (64×64) for larger frames (a raw 210×160 ALE
frame), the size whose encoder keeps the wrapped Atari env at ~0.5 of the raw env's speed
(``docs/benchmarks.md``); the other fields are :class:`~mint_rl.config.MintConfig`'s
defaults. The config built is logged (logger ``envs.wrappers``, level INFO, the name the
adapters have always logged under) and exposed as the adapter's ``config``.

The observer and the three adapters
-----------------------------------
:class:`KeypointObserver` does the work: it reads the layout, checks the frames, resizes
them, runs **one** batched encoder forward (eval mode, ``torch.no_grad``, the encoder's
previous mode restored, so a frozen encoder is never changed), formats the output, and,
online, feeds the :class:`~mint_rl.online.OnlineEncoderTrainer`. Its input is always a batch
``(N, *obs_shape)`` and its output ``(N, ...)`` of the space above. The adapters are thin
over it, so their outputs agree, and share one public API
(:class:`envs.wrappers.KeypointAdapterMixin`):

* :class:`envs.wrappers.MintKeypointWrapper` (``gym.ObservationWrapper``, one env): observes
  a batch of one at each ``reset`` / ``step`` and returns its first row; its space is
  :attr:`KeypointObserver.observation_space`.
* :class:`envs.vector.MintKeypointVectorWrapper` (gymnasium ``VectorEnv``): observes the N
  sub-envs' frames in one call (one frame stream per sub-env online), checks each sub-env
  of a ``SyncVectorEnv`` (:meth:`KeypointObserver.check_sub_envs`) and batches the space
  (``single_observation_space`` is the observer's).
* :class:`agents.vec_env.MintKeypointVecEnv` (SB3 ``VecEnvWrapper``): the same over an SB3
  vec env (``DummyVecEnv`` sub-envs checked), and also encodes
  ``infos[i]["terminal_observation"]``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import cv2
import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces

from mint_rl.appearance import colour_categories, glimpse_colours
from mint_rl.baselines import load_encoder
from mint_rl.config import MintConfig
from mint_rl.draw import draw_keypoints
from mint_rl.glimpses import check_glimpse_size, extract_glimpses
from mint_rl.refine import check_refine_window, refine_keypoints
from mint_rl.online import OnlineEncoderTrainer, OnlineOptions, online_options
from mint_rl.utils import resolve_device

from .shipped_encoders import is_encoder_name, shipped_encoder_path

__all__ = [
    "ObservationOptions",
    "KeypointObserver",
    "ImageLayout",
    "FrameCheck",
    "FrameCheckWrapper",
    "ObservationError",
    "default_mint_config",
    "keypoint_space",
    "OBS_FORMATS",
    "GLIMPSE_AT",
    "LAYOUTS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_IMAGE_SIZE",
    "refuse_moved_arguments",
]

# The adapters' messages (the config built from the space) have always been logged under
# ``envs.wrappers`` (docs/bad_inputs.md W16); the name stays when the code moved here.
logger = logging.getLogger("envs.wrappers")

OBS_FORMATS = ("box", "dict")
"""Values of ``obs_format``."""

GLIMPSE_AT = ("keypoints", "random")
"""Values of ``glimpse_at``: glimpses around the keypoints, or (a control) at uniformly random
positions drawn afresh for every frame."""

LAYOUTS = ("auto", "channels_last", "channels_first", "grey_stack")
"""Values of ``layout``: how an image observation space is read (see the module docstring)."""

_LAYOUT_SHAPES = {
    "channels_last": "(H, W, C), a stack (S, H, W, C) with C in {1, 3, 4}, or grey (H, W)",
    "channels_first": "(C, H, W), a stack (S, C, H, W) with C in {1, 3, 4}, or grey (H, W)",
    "grey_stack": "a stack of grey frames (S, H, W)",
}

_CHANNELS = (1, 3, 4)
_CHANNEL_NAMES = {1: "grey", 3: "RGB", 4: "RGBA"}
_MIN_SIDE = 8

DEFAULT_MAX_SIDE = 96
"""Frames up to this many pixels a side keep their size in :func:`default_mint_config`."""
DEFAULT_IMAGE_SIZE = (64, 64)
"""The encoder input size :func:`default_mint_config` picks for larger frames."""


# ---------------------------------------------------------------------------- the options
@dataclass(frozen=True, kw_only=True)
class ObservationOptions:
    """How image frames become keypoint observations: the ``options`` argument of the three
    keypoint adapters (:class:`envs.wrappers.MintKeypointWrapper`,
    :class:`envs.vector.MintKeypointVectorWrapper`, :class:`agents.vec_env.MintKeypointVecEnv`)
    and of :class:`KeypointObserver`::

        options = ObservationOptions(glimpse_size=5, colour_codes=codebook, device="cuda")
        env = MintKeypointWrapper(env, "runs/pretrain/encoder.pt", options=options)
        venv = MintKeypointVecEnv(venv, env.encoder, options=options)  # same observations

    Keyword-only, frozen, compared and copied by value (``colour_codes`` is kept as a tuple of
    float32 values). Checked on construction: a bad value raises ``ValueError`` (``TypeError``
    for a wrong type) naming the field and the fix. What depends on the env or the encoder is
    checked when an adapter is built (the layout against the observation space, the glimpse
    against the encoder's input size, the codebook's channels against the encoder's, the
    device on this machine).

    The encoder
    :param config: a :class:`~mint_rl.config.MintConfig`: the architecture of a new online
        encoder (None: :func:`default_mint_config` of the observation space, logged and exposed
        as the adapter's ``config``); with an ``encoder``, checked against its architecture, and
        (online) its loss / optimiser / ``batch_size`` / ``clip_length`` / ``seed`` fields drive
        training. Kept as given (a ``MintConfig`` is mutable: do not change it afterwards) and
        left out of the hash.
    :param device: where the encoder runs (and trains): ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
        ``"mps"`` or ``"auto"``; resolved when an adapter is built
        (:func:`mint_rl.utils.resolve_device`), so options stay portable between machines.

    The output
    :param obs_format: one of :data:`OBS_FORMATS`: ``"box"`` (``(K, 2 + 1 + F + G)`` float32)
        or ``"dict"`` (coords, status, features; no glimpses).
    :param feature_bound: clip features to ``[-feature_bound, feature_bound]`` and declare those
        bounds (None: unbounded ``[-inf, inf]``).

    The input
    :param layout: how to read the observation space, one of :data:`LAYOUTS`: ``"auto"``
        (default), ``"channels_last"``, ``"channels_first"`` or ``"grey_stack"``. ``"auto"``
        refuses ``(C, H, W)``-like spaces with C in {1, 3, 4} (channels-first frames and a
        stack of C grey frames have the same space); say which with this field.
    :param grey_to_rgb: feed grey frames to a 3-channel encoder by repeating the channel.

    Appearance (``"box"`` only)
    :param glimpse_size: p > 0 appends to each keypoint's row its glimpse, the ``C × p × p``
        pixels of the encoder's input frame around it (:func:`mint_rl.glimpses.extract_glimpses`),
        flattened and scaled to [0, 1]: appearance the policy can learn from
        (``agents.extractors.KeypointSetExtractor(glimpse=(C, p))`` encodes it with a small CNN).
        0 (default): no glimpses.
    :param glimpse_at: one of :data:`GLIMPSE_AT`: ``"keypoints"`` (default), or ``"random"``, a
        control that cuts the glimpses at uniformly random positions instead (the keypoints'
        coordinates are unchanged).
    :param colour_codes: an ``(n, C)`` colour codebook (:func:`mint_rl.appearance.fit_colour_codebook`;
        any array-like, kept as a tuple of float32 values): instead of the raw glimpse, each row
        gets the one-hot category (n values) of its glimpse's colour (the per-channel maximum over
        the ``glimpse_size`` window). None (default): raw glimpses.
    :param drop_code: with ``colour_codes``, the index of a code whose keypoints are reported inactive
        (status 0; their rows are otherwise unchanged), e.g. the background's code
        (:func:`mint_rl.appearance.background_code`), so that keypoints on no object leave the set the
        policy reads. None (default): keep every keypoint.

    :param encoder_features: False leaves the encoder's F features out of the rows (F = 0 whatever the
        encoder's ``feature_dim``): the MINT losses do not train the feature head, so its outputs are
        fixed random projections of the frame (with the shipped Pong encoder, 16 of each keypoint's 22 numbers
        in the 2-frame stack).
        True (default): keep them.

    Position
    :param refine_window: w > 0 moves each keypoint to the centre of the object part under it
        before anything is read at it (:func:`mint_rl.refine.refine_keypoints`: colour mean shift
        in the ``w × w`` pixels around it, the colour taken from its ``glimpse_size`` window, or 5
        × 5 without glimpses); odd, >= 3. A position estimate only: no pixel reaches the policy.
        0 (default): the encoder's coordinates as they are.
    :param refine_snap: s > 0 (with ``refine_window``): a keypoint on the background first moves to the nearest
        non-background pixel of the ``s × s`` square around it, then is refined (``refine_keypoints(..., snap=s)``:
        keypoints MINT leaves beside a thin object land on it); odd, >= 3. 0 (default): background keypoints stay.
    """

    config: MintConfig | None = field(default=None, hash=False)
    device: str | torch.device = "cpu"
    obs_format: str = "box"
    feature_bound: float | None = None
    layout: str = "auto"
    grey_to_rgb: bool = False
    glimpse_size: int = 0
    glimpse_at: str = "keypoints"
    colour_codes: np.ndarray | Sequence[Sequence[float]] | None = None
    drop_code: int | None = None
    refine_window: int = 0
    refine_snap: int = 0
    encoder_features: bool = True

    def __post_init__(self) -> None:
        if self.config is not None and not isinstance(self.config, MintConfig):
            raise TypeError(f"config must be a MintConfig (mint_rl.config) or None (built from the observation "
                            f"space when online), got {type(self.config).__name__}")
        if not isinstance(self.device, (str, torch.device)):
            raise TypeError(f"device must be a str ('cpu', 'cuda', 'cuda:N', 'mps', 'auto') or a torch.device, got "
                            f"{self.device!r} ({type(self.device).__name__})")
        if self.obs_format not in OBS_FORMATS:
            raise ValueError(f"obs_format must be one of {OBS_FORMATS}, got {self.obs_format!r}: 'box' for one "
                             "(x, y, status, features...) row per keypoint, 'dict' for coords, status and features")
        if self.feature_bound is not None and not self.feature_bound > 0:
            raise ValueError(f"feature_bound must be > 0 or None (unbounded), got {self.feature_bound}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r} (see envs.keypoint_observation: "
                             "'channels_first' for (C, H, W) frames, 'grey_stack' for (S, H, W) grey stacks)")
        if not isinstance(self.grey_to_rgb, (bool, np.bool_)):
            raise TypeError(f"grey_to_rgb must be True or False, got {self.grey_to_rgb!r}")
        if not isinstance(self.encoder_features, (bool, np.bool_)):
            raise TypeError(f"encoder_features must be True or False, got {self.encoder_features!r}")
        object.__setattr__(self, "grey_to_rgb", bool(self.grey_to_rgb))
        size = self.glimpse_size
        if isinstance(size, (bool, np.bool_)) or not isinstance(size, int) or size < 0:
            raise ValueError(f"glimpse_size must be an int >= 0 (the glimpse side in pixels; 0: no glimpses), "
                             f"got {size!r}")
        if self.glimpse_at not in GLIMPSE_AT:
            raise ValueError(f"glimpse_at must be one of {GLIMPSE_AT}, got {self.glimpse_at!r}")
        if size and self.obs_format != "box":
            raise ValueError(f"glimpse_size needs obs_format='box' (glimpses are appended to each keypoint's row), "
                             f"got obs_format={self.obs_format!r}")
        if self.colour_codes is not None:
            try:
                codes = np.asarray(self.colour_codes, np.float32)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"colour_codes must be an (n, C) array of finite colours in [0, 1] "
                                 f"(mint_rl.appearance.fit_colour_codebook): {exc}") from exc
            if codes.ndim != 2 or codes.shape[0] < 1 or codes.shape[1] < 1 or not np.isfinite(codes).all():
                raise ValueError("colour_codes must be an (n, C) array of finite colours in [0, 1] with n >= 1 "
                                 f"(mint_rl.appearance.fit_colour_codebook), got shape {codes.shape}")
            if not size:
                raise ValueError("colour_codes need glimpse_size > 0 (the window whose colour is coded)")
            object.__setattr__(self, "colour_codes", tuple(tuple(row) for row in codes.tolist()))
        if self.drop_code is not None:
            n = len(self.colour_codes) if self.colour_codes is not None else 0
            if isinstance(self.drop_code, (bool, np.bool_)) or not isinstance(self.drop_code, (int, np.integer)) \
                    or not 0 <= self.drop_code < max(n, 1) or not n:
                raise ValueError(f"drop_code must be the index of one of the colour_codes (0 .. n-1, n = {n}), "
                                 f"got {self.drop_code!r}; give colour_codes with it, or None to keep every keypoint")
            object.__setattr__(self, "drop_code", int(self.drop_code))
        win = self.refine_window
        if isinstance(win, (bool, np.bool_)) or not isinstance(win, (int, np.integer)) or \
                (win != 0 and (win < 3 or win % 2 == 0)):
            raise ValueError(f"refine_window must be 0 (off) or an odd int >= 3 (pixels around each keypoint, "
                             f"mint_rl.refine), got {win!r}")
        object.__setattr__(self, "refine_window", int(win))
        snap = self.refine_snap
        if isinstance(snap, (bool, np.bool_)) or not isinstance(snap, (int, np.integer)) or \
                (snap != 0 and (snap < 3 or snap % 2 == 0)):
            raise ValueError(f"refine_snap must be 0 (off) or an odd int >= 3 (pixels around each keypoint, "
                             f"mint_rl.refine), got {snap!r}")
        if snap and not win:
            raise ValueError(f"refine_snap={snap} needs refine_window (the refinement that runs after the snap); "
                             "give refine_window=5, say, or refine_snap=0")
        object.__setattr__(self, "refine_snap", int(snap))

    def replace(self, **changes: Any) -> "ObservationOptions":
        """A copy with ``changes`` (checked again), as :func:`dataclasses.replace`."""
        return dataclasses.replace(self, **changes)


OBSERVATION_FIELDS = tuple(f.name for f in dataclasses.fields(ObservationOptions))
"""The fields of :class:`ObservationOptions` (once keyword arguments of the adapters)."""
_ONLINE_FIELDS = tuple(f.name for f in dataclasses.fields(OnlineOptions))


def refuse_moved_arguments(owner: str, kwargs: Mapping[str, Any]) -> None:
    """Refuse the keyword arguments a keypoint adapter was given beyond its own, saying where
    the observation and online options went (:class:`ObservationOptions`,
    :class:`~mint_rl.online.OnlineOptions`).

    :param owner: the adapter, for the message (e.g. ``"MintKeypointWrapper(ALE/Pong-v5)"``).
    :param kwargs: the extra keyword arguments (nothing happens when empty).
    :raises TypeError: naming each argument and what to pass instead.
    """
    if not kwargs:
        return
    parts = []
    for names, cls, arg, module in (([n for n in kwargs if n in OBSERVATION_FIELDS], "ObservationOptions", "options",
                                     "envs.keypoint_observation"),
                                    ([n for n in kwargs if n in _ONLINE_FIELDS], "OnlineOptions", "online",
                                     "mint_rl.online")):
        if names:
            parts.append(f"{', '.join(names)} {'is an' if len(names) == 1 else 'are'} {cls} "
                         f"field{'s' * (len(names) > 1)}: pass {arg}={cls}({names[0]}=...) ({module})")
    unknown = [n for n in kwargs if n not in OBSERVATION_FIELDS and n not in _ONLINE_FIELDS]
    if unknown:
        parts.append(f"unexpected keyword argument{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}")
    raise TypeError(f"{owner}: {'; '.join(parts)}")


# ---------------------------------------------------------------------------- input layout
@dataclass(frozen=True)
class ImageLayout:
    """How an image observation space is laid out.

    :param stack: S for frame-stacked input ``(S, H, W[, C])``, None for a single frame.
    :param height: H of each frame.
    :param width: W of each frame.
    :param channels: C (1 for grey ``(H, W)`` frames without a channel axis).
    :param channel_axis: whether frames carry a channel axis.
    :param is_float: float frames in [0, 1] (else uint8).
    :param channels_first: the channel axis comes before H and W (``layout="channels_first"``).
    """

    stack: int | None
    height: int
    width: int
    channels: int
    channel_axis: bool
    is_float: bool
    channels_first: bool = False

    @property
    def frames_per_obs(self) -> int:
        return 1 if self.stack is None else self.stack

    @classmethod
    def from_space(cls, space: gym.Space, owner: str = "MintKeypointWrapper", layout: str = "auto") -> "ImageLayout":
        """Read the layout of an image observation space; raise ``TypeError`` / ``ValueError``
        naming the space when it cannot be encoded.

        :param space: the observation space of one env.
        :param owner: who asks, for the messages (e.g. ``"MintKeypointWrapper(ALE/Pong-v5)"``).
        :param layout: one of :data:`LAYOUTS`. ``"auto"`` reads ``(H, W)`` as grey, a rank-3
            shape whose last axis is 1, 3 or 4 as one channels-last frame, a rank-3 shape whose
            first axis is not 1, 3 or 4 as a grey stack ``(S, H, W)`` and ``(S, H, W, C)`` as a
            stack; it refuses ``(C, H, W)``-like shapes (first axis 1, 3 or 4, last not), which
            read as channels-first frames or as a stack of C grey frames alike, and asks for
            ``layout="channels_first"`` or ``layout="grey_stack"``.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"{owner}: layout must be one of {LAYOUTS}, got {layout!r}")
        what = ("image observations: a Box of uint8 frames (H, W, C) with C in {1, 3, 4} or grey (H, W), "
                "a float Box in [0, 1], or a frame stack (S, H, W[, C])")
        if not isinstance(space, spaces.Box):
            raise TypeError(f"{owner} needs {what}; got {space} ({type(space).__name__}). Keypoints are computed "
                            "from images only (wrap a pixel env such as envs.atari.make_atari_env).")
        dtype = np.dtype(space.dtype)
        is_float = np.issubdtype(dtype, np.floating)
        if dtype != np.uint8 and not is_float:
            raise TypeError(f"{owner} needs uint8 (0–255) or float ([0, 1]) frames; the observation space {space} "
                            f"has dtype {dtype}")
        if is_float and (not np.all(np.isfinite(space.low)) or not np.all(np.isfinite(space.high))
                         or space.low.min() < 0 or space.high.max() > 1):
            raise ValueError(f"{owner}: float frames must be bounded in [0, 1], the observation space {space} has "
                             f"bounds [{space.low.min()}, {space.high.max()}]; scale them (or pass uint8 frames)")
        shape = tuple(int(s) for s in space.shape)
        rank = len(shape)
        first = False
        if rank == 2 and layout != "grey_stack":
            stack, (h, w), c, axis = None, shape, 1, False
        elif rank == 3 and layout == "auto" and shape[-1] not in _CHANNELS and shape[0] in _CHANNELS:
            n, h, w = shape
            raise ValueError(
                f"{owner}: the observation space {space} is ambiguous: shape {shape} reads either as channels-first "
                f"{_CHANNEL_NAMES[n]} frames (C, H, W) = ({n}, {h}, {w}), or as a stack of {n} grey (H, W) = "
                f"({h}, {w}) frames, as FrameStackObservation of a grey env gives (both have this space). Say "
                f"which: layout='channels_first' for the first reading, layout='grey_stack' for the second.")
        elif rank == 3 and layout in ("auto", "channels_last") and shape[-1] in _CHANNELS:
            stack, (h, w, c), axis = None, shape, True
        elif rank == 3 and layout in ("auto", "grey_stack"):
            stack, h, w, c, axis = shape[0], shape[1], shape[2], 1, False
        elif rank == 3 and layout == "channels_first" and shape[0] in _CHANNELS:
            stack, (c, h, w), axis, first = None, shape, True, True
        elif rank == 4 and layout in ("auto", "channels_last") and shape[-1] in _CHANNELS:
            stack, h, w, c, axis = shape[0], shape[1], shape[2], shape[3], True
        elif rank == 4 and layout == "channels_first" and shape[1] in _CHANNELS:
            stack, c, h, w, axis, first = shape[0], shape[1], shape[2], shape[3], True, True
        else:
            if layout != "auto":
                raise ValueError(f"{owner}: layout={layout!r} needs {_LAYOUT_SHAPES[layout]}; the observation space "
                                 f"{space} has shape {shape}")
            hint = (" It reads as a stack of channels-first frames (S, C, H, W): pass layout='channels_first'."
                    if rank == 4 and shape[1] in _CHANNELS else "")
            raise ValueError(f"{owner} needs {what}; the observation space {space} has shape {shape}.{hint}")
        if min(h, w) < _MIN_SIDE or (stack is not None and stack < 1):
            raise ValueError(f"{owner}: the observation space {space} of shape {shape} does not look like images "
                             f"(frames {h}×{w}; both sides must be >= {_MIN_SIDE} pixels)")
        return cls(stack=stack, height=h, width=w, channels=c, channel_axis=axis, is_float=bool(is_float),
                   channels_first=first)


def default_mint_config(layout: ImageLayout, grey_to_rgb: bool = False) -> MintConfig:
    """The :class:`~mint_rl.config.MintConfig` a wrapper builds when ``online=True`` comes
    without a config: ``in_channels`` from the frames (3 for grey frames with
    ``grey_to_rgb``), ``image_size`` the frame size when both sides are at most
    :data:`DEFAULT_MAX_SIDE` px (no resampling: Atari's preprocessed 84×84, the 64×64
    scenes; sides under 16 px are upscaled to 16), else :data:`DEFAULT_IMAGE_SIZE` (64×64:
    a raw 210×160 ALE frame is shrunk, the input size whose encoder is the fast one in
    ``docs/benchmarks.md``). Every other field is ``MintConfig``'s default.

    :param layout: the layout of the env's observations (:meth:`ImageLayout.from_space`).
    :param grey_to_rgb: grey frames feed a 3-channel encoder.
    """
    h, w = layout.height, layout.width
    size = (max(h, 16), max(w, 16)) if max(h, w) <= DEFAULT_MAX_SIDE else DEFAULT_IMAGE_SIZE
    channels = 3 if (layout.channels == 1 and grey_to_rgb) else layout.channels
    return MintConfig(in_channels=channels, image_size=size)


# ---------------------------------------------------------------------------- frame checks
class ObservationError(ValueError):
    """An observation does not fit the observation space its env declares (checked by the
    keypoint wrappers at every reset and step)."""


class FrameCheck:
    """Checks batches of image observations against the ``Box`` their env declares.

    Cheap on the hot path: for a uint8 space a dtype and a shape comparison (the dtype bounds
    the values); for a float space also one min and one max over the batch (NaN fails both
    comparisons, ±inf lies outside the bounds). What went wrong, in which sub-env, and a hint
    are worked out only when a check fails.

    :param space: the declared image space (a uint8 or float ``Box``).
    :param owner: who checks, for the message (e.g. ``"MintKeypointWrapper(ALE/Pong-v5)"``).
    """

    def __init__(self, space: spaces.Box, owner: str) -> None:
        self.space = space
        self.owner = owner
        self.shape = tuple(int(s) for s in space.shape)
        self.dtype = np.dtype(space.dtype)
        self.is_float = self.dtype.kind == "f"
        self.low = float(np.min(space.low)) if self.is_float else 0.0
        self.high = float(np.max(space.high)) if self.is_float else 255.0
        self.enabled = True
        self.check_values = True  # False: dtype and shape only (the values were checked upstream)

    def __call__(self, batch: np.ndarray, where: str = "observation", env_index: int | None = None) -> None:
        """Raise :class:`ObservationError` unless every observation of ``batch`` (``(N, *shape)``)
        fits the space.

        :param batch: observations stacked along a new first axis.
        :param where: what produced them, for the message (``"reset"``, ``"step"``, ...).
        :param env_index: the sub-env of a one-observation batch (None: a single env, or
            ``batch[i]`` comes from sub-env i).
        """
        if not self.enabled:
            return
        if batch.shape[1:] == self.shape:
            if self.is_float:
                if batch.dtype.kind == "f" and (not self.check_values or batch.size == 0
                                                or (batch.min() >= self.low and batch.max() <= self.high)):
                    return
            elif batch.dtype == np.uint8:
                return
        raise self.error(batch, where, env_index)

    def error(self, batch: np.ndarray, where: str = "observation", env_index: int | None = None) -> ObservationError:
        """The :class:`ObservationError` describing why ``batch`` does not fit the space."""
        x = batch
        n = x.shape[0] if x.ndim else 1
        shape = tuple(x.shape[1:])
        dtype = x.dtype
        problems: list[str] = []
        hints: list[str] = []
        bad_envs: list[int] = []
        got = f"{dtype} frames of shape {shape}"
        if dtype.kind in "biuf" and x.size:
            if dtype.kind == "f":
                finite = x[np.isfinite(x)]
                if finite.size:
                    label = "values" if finite.size == x.size else "finite values"
                    got += f", {label} in [{finite.min():.4g}, {finite.max():.4g}]"
            else:
                got += f", values in [{x.min()}, {x.max()}]"
        # dtype
        if not self.is_float and dtype != np.uint8:
            if dtype.kind == "f":
                problems.append(f"{dtype} frames from a uint8 space: they would be read as 0–255 pixel values")
                finite = x[np.isfinite(x)] if x.size else x
                if finite.size and finite.min() >= 0 and finite.max() <= 1:
                    hints.append(f"They look like frames scaled to [0, 1]: return uint8 frames "
                                 f"((obs * 255).round().astype(np.uint8)) or declare a float space "
                                 f"Box(0.0, 1.0, {self.shape}, np.float32).")
                else:
                    hints.append("Return uint8 frames (0–255) or declare a float Box(0.0, 1.0) space with frames "
                                 "scaled to [0, 1].")
            elif dtype.kind in "iu":
                lo, hi = (x.min(), x.max()) if x.size else (0, 0)
                if lo < 0 or hi > 255:
                    problems.append(f"{dtype} values outside uint8's 0–255")
                    hints.append("Clip and cast them in the env (np.clip(obs, 0, 255).astype(np.uint8)); a plain "
                                 "cast would wrap 300 to 44.")
                else:
                    problems.append(f"{dtype} frames from a uint8 space")
                    hints.append("Cast them in the env (obs.astype(np.uint8)).")
            else:
                problems.append(f"{dtype} frames from a uint8 space")
        elif self.is_float and dtype.kind != "f":
            problems.append(f"{dtype} frames from a float space in [{self.low:g}, {self.high:g}]")
            hints.append(f"uint8 frames need a uint8 space Box(0, 255, {self.shape}, np.uint8); or scale them to "
                         "[0, 1] in the env.")
        elif self.is_float and x.size and shape == self.shape:
            flat = x.reshape(n, -1)
            ok = (flat >= self.low) & (flat <= self.high)  # NaN fails both
            bad_envs = [int(i) for i in np.flatnonzero(~ok.all(axis=1))]
            nan, inf = int(np.isnan(x).sum()), int(np.isinf(x).sum())
            if nan or inf:
                counts = " and ".join(f"{k} {name}" for k, name in ((nan, "NaN"), (inf, "inf")) if k)
                problems.append(f"{counts} value{'s' * (nan + inf != 1)}")
                hints.append("The env produced non-finite pixels (a division by zero or an overflow in its "
                             "rendering or scaling?).")
            finite = x[np.isfinite(x)]
            if finite.size and (finite.min() < self.low or finite.max() > self.high):
                problems.append(f"values in [{finite.min():.4g}, {finite.max():.4g}] outside the space's bounds "
                                f"[{self.low:g}, {self.high:g}]")
                hints.append("Scale the frames to the declared bounds in the env (or fix the declared bounds).")
        # shape
        if shape != self.shape:
            if len(shape) == len(self.shape) and sorted(shape) == sorted(self.shape):
                if len(shape) >= 3 and shape[-3] == self.shape[-1] and shape[-3] in _CHANNELS:
                    problems.append(f"channels-first frames {shape} from a channels-last space {self.shape}")
                    perm = tuple(range(len(shape) - 3)) + tuple(len(shape) - 3 + i for i in (1, 2, 0))
                    hints.append(f"Transpose them in the env (np.transpose(obs, {perm})), or declare the space they "
                                 "have and pass layout='channels_first'.")
                else:
                    problems.append(f"transposed frames {shape} where the space declares {self.shape}")
                    hints.append("Return frames in the declared layout, or declare the space they have.")
            elif len(shape) == len(self.shape):
                problems.append(f"frames of shape {shape} where the space declares {self.shape} (another frame size)")
                hints.append("Declare the frame size the env returns: the wrapper resizes any declared size to the "
                             "encoder's.")
            else:
                problems.append(f"frames of rank {len(shape)}, shape {shape}, where the space declares {self.shape}")
                hints.append("Return frames in the declared layout, or declare the space they have.")
        if not problems:
            problems.append(f"{dtype} frames do not fit")
        if env_index is not None:
            who = f" of sub-env {env_index}"
        elif n > 1 and bad_envs:
            who = f" of sub-env{'s' * (len(bad_envs) > 1)} {', '.join(map(str, bad_envs))}"
        elif n > 1:
            who = f" of all {n} sub-envs"
        else:
            who = ""
        what = "observation" if where == "observation" else f"{where} observation"
        return ObservationError(
            f"{self.owner}: the {what}{who} does not fit the observation space {self.space}: got {got}. "
            f"Problem: {'; '.join(problems)}. {' '.join(hints)}".rstrip())


class FrameCheckWrapper(gym.Wrapper):
    """Checks a sub-env's observations against its own space before a vector env copies
    them into its batch buffer (SB3's ``DummyVecEnv`` casts them to the space's dtype
    silently: float frames in [0, 1] become 0s and 1s, int16 300 becomes 44).

    :param env: the sub-env.
    :param check: the :class:`FrameCheck` to run on each reset and step observation.
    :param index: the sub-env's index in the vector env, for the error message.
    """

    def __init__(self, env: gym.Env, check: FrameCheck, index: int) -> None:
        super().__init__(env)
        self.check = check
        self.index = index

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.check(np.asarray(obs)[None], "reset", self.index)
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        result = self.env.step(action)
        self.check(np.asarray(result[0])[None], "step", self.index)
        return result


# ---------------------------------------------------------------------------- the space
def keypoint_space(num_keypoints: int, feature_dim: int, obs_format: str = "box", stack: int | None = None,
                   feature_bound: float | None = None, glimpse_dim: int = 0) -> spaces.Space:
    """The observation space of keypoint observations.

    :param num_keypoints: K.
    :param feature_dim: F.
    :param obs_format: ``"box"`` → ``Box((S,) K, 2 + 1 + F)``; ``"dict"`` → ``Dict`` of coords
        ``((S,) K, 2)``, status ``((S,) K)`` and (if F > 0) features ``((S,) K, F)``.
    :param stack: S for frame-stacked input, None for one frame.
    :param feature_bound: features lie in ``[-feature_bound, feature_bound]``; None: unbounded.
    :param glimpse_dim: G glimpse values in [0, 1] after the features (``"box"`` only).
    """
    lead = () if stack is None else (stack,)
    k, f = num_keypoints, feature_dim
    fb = np.inf if feature_bound is None else float(feature_bound)
    if obs_format == "box":
        low = np.full((*lead, k, 3 + f + glimpse_dim), -fb, dtype=np.float32)
        high = np.full((*lead, k, 3 + f + glimpse_dim), fb, dtype=np.float32)
        low[..., 0:2], high[..., 0:2] = -1.0, 1.0
        low[..., 2], high[..., 2] = 0.0, 1.0
        low[..., 3 + f:], high[..., 3 + f:] = 0.0, 1.0
        return spaces.Box(low, high, dtype=np.float32)
    if obs_format == "dict":
        parts = {"coords": spaces.Box(-1.0, 1.0, (*lead, k, 2), np.float32),
                 "status": spaces.Box(0.0, 1.0, (*lead, k), np.float32)}
        if f > 0:
            parts["features"] = spaces.Box(-fb, fb, (*lead, k, f), np.float32)
        return spaces.Dict(parts)
    raise ValueError(f"obs_format must be one of {OBS_FORMATS}, got {obs_format!r}")


# ---------------------------------------------------------------------------- encoding
def _resolve_encoder(encoder: Any, options: OnlineOptions | None, config: MintConfig | None, device: torch.device,
                     num_streams: int = 1, owner: str = "MintKeypointWrapper"
                     ) -> tuple[nn.Module, MintConfig, OnlineEncoderTrainer | None]:
    """The encoder module, its config and (online, ``options`` not None) its trainer from the
    wrapper's arguments (``config`` is checked to be a MintConfig by :class:`ObservationOptions`)."""
    if is_encoder_name(encoder):  # a shipped encoder (envs.shipped_encoders), e.g. "pong"
        module = load_encoder(shipped_encoder_path(encoder), expected_config=config, device=device)
    elif isinstance(encoder, (str, os.PathLike)):
        module = load_encoder(encoder, expected_config=config, device=device)
    elif isinstance(encoder, nn.Module):
        enc_config = getattr(encoder, "config", None)
        if not isinstance(enc_config, MintConfig):
            raise TypeError(f"an encoder module must carry its MintConfig as `.config` (KeypointEncoder and "
                            f"TransporterEncoder do); {type(encoder).__name__} has none")
        if config is not None and config.architecture_mismatch(enc_config):
            raise ValueError("config does not match the encoder's own config (encoder vs config): "
                             + "; ".join(enc_config.architecture_mismatch(config)))
        module = encoder.to(device)
    elif encoder is None:
        if options is None:
            raise ValueError(f"{owner}: pass an encoder for frozen keypoints (a checkpoint path such as "
                             "'runs/pretrain/<run>/encoder.pt', or an encoder module), or online=True to co-train a "
                             "new encoder (with options=ObservationOptions(config=MintConfig(...)), or a config built "
                             "from the observation space)")
        if config is None:
            raise ValueError(f"{owner}: online=True without an encoder needs a MintConfig "
                             "(options=ObservationOptions(config=...)) to build one")
        module = None
    else:
        raise TypeError(f"encoder must be a checkpoint path, a shipped encoder's name, an nn.Module or None, "
                        f"got {type(encoder).__name__}")
    cfg = config if config is not None else module.config
    if options is None:
        return module, cfg, None
    trainer = OnlineEncoderTrainer(cfg, module, device=device, num_streams=num_streams, options=options)
    return trainer.encoder, cfg, trainer


class KeypointObserver:
    """Image observations → keypoint observations: the part the single-env wrapper, the
    vector wrapper and the SB3 adapter share (input layout, step-time frame checks, default
    config, resizing, one batched encoder forward, output format, online trainer).

    :param image_space: the (single) env's image observation space.
    :param encoder: a checkpoint path, a shipped encoder's name (``envs.shipped_encoders``), an encoder module
        carrying its ``config``, or None with ``online`` (see :class:`envs.wrappers.MintKeypointWrapper`).
    :param online: False (frozen), True or an :class:`~mint_rl.online.OnlineOptions` (co-trained;
        ``auto_update`` None means True here: an adapter with another default resolves it
        first, :meth:`~mint_rl.online.OnlineOptions.resolved`).
    :param options: the :class:`ObservationOptions` (None: the defaults), kept as :attr:`options`.
    :param num_streams: frames streams for online training (sub-envs).
    :param owner: who observes, in messages (e.g. ``"MintKeypointWrapper(ALE/Pong-v5)"``).

    Online, with no encoder and no ``options.config``, the config is :func:`default_mint_config`
    of the space, logged at INFO level.
    """

    def __init__(self, image_space: gym.Space, encoder: Any = None, *, online: bool | OnlineOptions = False,
                 options: ObservationOptions | None = None, num_streams: int = 1,
                 owner: str = "MintKeypointWrapper") -> None:
        self.owner = owner
        online_opts = online_options(online, owner=owner)
        if options is None:
            options = ObservationOptions()
        elif not isinstance(options, ObservationOptions):
            hint = " (ObservationOptions(**kwargs) builds one from a dict)" if isinstance(options, Mapping) else ""
            raise TypeError(f"{owner}: options must be an ObservationOptions (envs.keypoint_observation) or None, "
                            f"got {type(options).__name__}{hint}")
        self.options = options
        config = options.config
        self.layout = ImageLayout.from_space(image_space, owner, options.layout)
        self.frame_check = FrameCheck(image_space, owner)  # type: ignore[arg-type]
        self._sub_env_checks: list[FrameCheck] = []
        self.device = resolve_device(options.device)
        self.config_built = False  # whether the config was built from the observation space
        if encoder is None and online_opts is not None and config is None:
            config = default_mint_config(self.layout, options.grey_to_rgb)
            self.config_built = True
            lay = self.layout
            resize = ("encoded at their own size" if (lay.height, lay.width) == config.image_size else
                      f"resized {lay.height}×{lay.width} → {config.image_size[0]}×{config.image_size[1]}")
            logger.info("%s: online=True without a config: built MintConfig(num_keypoints=%d, in_channels=%d, "
                        "image_size=%s, grid_size=%s, feature_dim=%d, hidden_channels=%d; other fields default) "
                        "from the observation space %s (frames %s); the config in use is wrapper.config",
                        owner, config.num_keypoints, config.in_channels, config.image_size, config.grid_size,
                        config.feature_dim, config.hidden_channels, image_space, resize)
        self.encoder, self.config, self.online = _resolve_encoder(
            encoder, online_opts, config, self.device, num_streams, owner)
        enc_cfg: MintConfig = self.encoder.config
        c_in, c_enc = self.layout.channels, enc_cfg.in_channels
        self.repeat_grey = c_in == 1 and c_enc == 3 and options.grey_to_rgb
        if c_in != c_enc and not self.repeat_grey:
            source = f"the checkpoint {encoder}" if isinstance(encoder, (str, os.PathLike)) else "the encoder"
            hint = (" Pass ObservationOptions(grey_to_rgb=True) to repeat the grey channel."
                    if c_in == 1 and c_enc == 3 else
                    " Use an encoder trained on this kind of frame (MintConfig.in_channels) or change the env's "
                    "observations (e.g. make_atari_env(rgb=...)).")
            raise ValueError(f"{owner}: {source} expects {c_enc}-channel frames (in_channels={c_enc}) but the "
                             f"observation space {image_space} has {c_in}-channel frames.{hint}")
        self.image_size: tuple[int, int] = tuple(enc_cfg.image_size)  # type: ignore[assignment]
        self.obs_format = options.obs_format
        self.feature_bound = options.feature_bound
        self.num_keypoints = enc_cfg.num_keypoints
        self.encoder_feature_dim = enc_cfg.feature_dim  # what the encoder computes
        self.feature_dim = enc_cfg.feature_dim if options.encoder_features else 0  # what the rows carry
        for size, check in ((options.glimpse_size, check_glimpse_size), (options.refine_window, check_refine_window),
                            (options.refine_snap, functools.partial(check_refine_window, name="snap window"))):
            if size:  # windows cut from the encoder's input frames must fit them
                try:
                    check(size, *self.image_size)
                except ValueError as exc:
                    raise ValueError(f"{owner}: {exc} (the encoder's input, config.image_size)") from exc
        self.glimpse_size, self.glimpse_at = int(options.glimpse_size), options.glimpse_at
        self.glimpse_dim = enc_cfg.in_channels * self.glimpse_size ** 2
        self.colour_codes = None
        if options.colour_codes is not None:
            codes = torch.as_tensor(np.asarray(options.colour_codes, np.float32))
            if codes.shape[1] != enc_cfg.in_channels:
                raise ValueError(f"{owner}: colour_codes must be an (n, {enc_cfg.in_channels}) array of finite "
                                 "colours in [0, 1] (mint_rl.appearance.fit_colour_codebook), got shape "
                                 f"{tuple(codes.shape)}")
            self.colour_codes = codes
            self.glimpse_dim = codes.shape[0]  # one-hot categories instead of the raw glimpse
        self.drop_code = options.drop_code
        self.refine_window = options.refine_window
        self.refine_snap = options.refine_snap
        self._glimpse_rng = np.random.default_rng(0)
        self.observation_space = keypoint_space(self.num_keypoints, self.feature_dim, self.obs_format,
                                                self.layout.stack, self.feature_bound, self.glimpse_dim)
        self.last_coords: np.ndarray | None = None  # (N, K, 2) of the newest frame of each obs
        self.last_status: np.ndarray | None = None  # (N, K)

    # ------------------------------------------------------------------ checks
    @property
    def check_frames(self) -> bool:
        """Whether frames are checked against the declared space at step time (default
        True; switching it off skips :class:`FrameCheck`, sub-env checks included)."""
        return self.frame_check.enabled

    @check_frames.setter
    def check_frames(self, value: bool) -> None:
        for check in (self.frame_check, *self._sub_env_checks):
            check.enabled = bool(value)

    def check_sub_envs(self, base: Any, direct: bool = False) -> int:
        """Check each sub-env's frames against its own space before the vector env ``base``
        batches them: wraps the gymnasium envs in ``base.envs`` (``SyncVectorEnv``, SB3's
        ``DummyVecEnv``; others, e.g. subprocess vector envs, are left alone) whose space is
        a uint8 or float ``Box``.

        :param base: the innermost vector env.
        :param direct: the adapter wraps ``base`` itself (no vector wrapper in between), so
            when every sub-env is checked against this observer's space the batch check
            keeps only its O(1) dtype and shape tests (float values are not scanned twice).
        :return: the number of sub-envs checked.
        """
        subs = getattr(base, "envs", None)
        if not isinstance(subs, list):
            return 0
        same_space = True
        for i, sub in enumerate(subs):
            if isinstance(sub, FrameCheckWrapper):
                self._sub_env_checks.append(sub.check)
                same_space = same_space and sub.check.space == self.frame_check.space
                continue
            space = getattr(sub, "observation_space", None)
            if not (isinstance(sub, gym.Env) and isinstance(space, spaces.Box)
                    and (np.dtype(space.dtype) == np.uint8 or np.dtype(space.dtype).kind == "f")):
                same_space = False
                continue
            check = FrameCheck(space, self.owner)
            check.enabled = self.check_frames
            subs[i] = FrameCheckWrapper(sub, check, i)
            self._sub_env_checks.append(check)
            same_space = same_space and space == self.frame_check.space
        if direct and same_space and len(self._sub_env_checks) == len(subs):
            self.frame_check.check_values = False
        return len(self._sub_env_checks)

    # ------------------------------------------------------------------ frames
    def frames(self, observations: np.ndarray, where: str = "observation") -> torch.Tensor:
        """A batch of observations ``(N, *obs_shape)`` → encoder input ``(N, S, C, H, W)`` uint8
        (S = 1 without frame stacking), after checking them against the declared space
        (:class:`FrameCheck`; ``where`` names their origin in the error)."""
        lay = self.layout
        x = np.asarray(observations)
        self.frame_check(x, where)
        n, s = x.shape[0], lay.frames_per_obs
        if lay.channels_first:
            x = np.moveaxis(x, -3, -1)
        if lay.is_float:
            x = np.clip(np.rint(x.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        elif x.dtype != np.uint8:
            x = x.astype(np.uint8)
        x = x.reshape(n * s, lay.height, lay.width, lay.channels)
        h, w = self.image_size
        if (lay.height, lay.width) != (h, w):
            interp = cv2.INTER_AREA if (h <= lay.height and w <= lay.width) else cv2.INTER_LINEAR
            x = np.stack([cv2.resize(f, (w, h), interpolation=interp).reshape(h, w, lay.channels) for f in x])
        if self.repeat_grey:
            x = np.repeat(x, 3, axis=-1)
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
        return t.reshape(n, s, t.shape[1], h, w).contiguous()

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> Any:
        """Encoder input ``(N, S, C, H, W)`` → keypoint observations of the N observations
        (a float32 array ``(N, [S,] K, D)`` or a dict of arrays); remembers the newest
        frame's keypoints for rendering."""
        n, s = frames.shape[:2]
        was_training = self.encoder.training
        if was_training:  # (an encoder loaded from a checkpoint is in eval mode: no walk over its modules per step)
            self.encoder.eval()
        try:
            kp = self.encoder(frames.flatten(0, 1).to(self.device))
        finally:
            if was_training:
                self.encoder.train()
        k = self.num_keypoints
        kp_coords = kp.coords.float().clamp(-1.0, 1.0).cpu()  # (N·S, K, 2)
        if self.refine_window:  # to the centre of the object part under each keypoint (mint_rl.refine)
            kp_coords = refine_keypoints(frames.flatten(0, 1), kp_coords, self.refine_window,
                                         colour_size=self.glimpse_size or 5, snap=self.refine_snap)
        coords = kp_coords.numpy().reshape(n, s, k, 2)
        status = kp.status.float().clamp(0.0, 1.0).cpu().numpy().reshape(n, s, k)
        features = kp.features.float().cpu().numpy().reshape(n, s, k, self.encoder_feature_dim)[..., :self.feature_dim]
        if self.feature_bound is not None:
            features = np.clip(features, -self.feature_bound, self.feature_bound)
        if self.glimpse_size:  # cut from the encoder's input frames
            where = kp_coords if self.glimpse_at == "keypoints" else torch.from_numpy(
                self._glimpse_rng.uniform(-1.0, 1.0, tuple(kp.coords.shape)).astype(np.float32))
            if self.colour_codes is not None:  # (N·S, K, n) one-hot colour categories
                look = colour_categories(glimpse_colours(frames.flatten(0, 1), where.cpu(), self.glimpse_size),
                                         self.colour_codes)
                if self.drop_code is not None:  # keypoints of the dropped category read as inactive
                    status = status * (1.0 - look[..., self.drop_code].numpy().reshape(n, s, k))
            else:  # (N·S, K, C·p·p) raw glimpses in [0, 1]
                look = extract_glimpses(frames.flatten(0, 1), where.cpu(), self.glimpse_size).flatten(2) / 255.0
            features = np.concatenate([features, look.float().numpy().reshape(n, s, k, -1)], axis=-1)
        self.last_coords, self.last_status = coords[:, -1], status[:, -1]
        if self.layout.stack is None:
            coords, status, features = coords[:, 0], status[:, 0], features[:, 0]
        if self.obs_format == "box":
            return np.concatenate([coords, status[..., None], features], axis=-1).astype(np.float32)
        out = {"coords": coords, "status": status}
        if self.feature_dim > 0:
            out["features"] = features
        return out

    def observe(self, observations: np.ndarray, new_episode: Sequence[bool] | np.ndarray | None = None,
                env_steps: int = 0, include: Sequence[bool] | np.ndarray | None = None,
                where: str = "observation") -> Any:
        """Encode a batch of observations; online, first add their newest frames to the
        buffers (``new_episode`` marks resets, ``include`` selects streams) and count
        ``env_steps`` (which may run an update round, so the returned keypoints come from
        the freshest encoder). ``where`` (``"reset"``, ``"step"``) names them in errors."""
        frames = self.frames(observations, where)
        if self.online is not None and new_episode is not None:
            self.online.add(frames[:, -1], new_episode, include)
            if env_steps:
                self.online.record_steps(env_steps)
        return self.encode(frames)

    def draw(self, frame: np.ndarray, index: int = 0, scale: int | None = None) -> np.ndarray:
        """``frame`` (any size, RGB or grey uint8) with the newest keypoints of observation
        ``index`` drawn; ``scale`` None upscales small frames to at least ~256 px."""
        if self.last_coords is None:
            return frame
        h, w = frame.shape[:2]
        s = max(1, 256 // max(1, min(h, w))) if scale is None else int(scale)
        return draw_keypoints(frame, self.last_coords[index], self.last_status[index], scale=s)

