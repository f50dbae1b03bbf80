"""``MintConfig``: every hyperparameter of the MINT encoder, losses and trainer.

The defaults follow the authors' (``MINT_METHOD.md`` §2–§4) except where our input scale
or grid size demands otherwise; each such field says so. A config is validated on
construction (:class:`ConfigError`, a ``ValueError``, naming the field, what it holds and
what to give instead: ints for counts and sizes, finite numbers for the rest) and
round-trips through JSON, so it is stored inside every checkpoint and compared when a
checkpoint is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MintConfig", "ConfigError", "config_overrides"]


def _default_grid(image_size: tuple[int, int]) -> tuple[int, int]:
    """The heatmap grid when none is given: half the input size, at least 8×8."""
    return (max(int(image_size[0]) // 2, 8), max(int(image_size[1]) // 2, 8))


class ConfigError(ValueError):
    """A configuration value is invalid or two configurations do not match."""


# --------------------------------------------------------------------------- field types
def _fail(name: str, value: Any, why: str) -> ConfigError:
    """The error for one field: ``MintConfig.<name>=<value>: <why>``."""
    return ConfigError(f"MintConfig.{name}={value!r}: {why}")


def _int_hint(value: Any) -> str:
    """What to give instead of ``value`` for an int field."""
    if isinstance(value, str):
        try:
            return f"give {int(value.strip())} (a number, not a string)"
        except ValueError:
            return "give a whole number such as 8 (not a string)"
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        if float(value).is_integer():
            return f"give {int(value)}"
        return f"give a whole number such as {math.floor(value)} or {math.ceil(value)}"
    if hasattr(value, "item"):
        return "give a plain int (call .item() on a tensor or array)"
    return "give a whole number such as 8"


def _as_int(name: str, value: Any) -> int:
    """``value`` as a Python int: ints and NumPy integers pass; bools, floats (even 8.0) and strings do not.

    :param name: the field, for the message.
    :raises ConfigError: naming the field, the value and what to give instead.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, bool):
        raise _fail(name, value, f"must be an int, got a bool; give a whole number such as {int(value)}")
    raise _fail(name, value, f"must be an int, got {type(value).__name__}; {_int_hint(value)}")


def _as_float(name: str, value: Any) -> float:
    """``value`` as a finite Python float: floats, ints and NumPy numbers pass; bools, strings, NaN and ±inf do not.

    :param name: the field, for the message.
    :raises ConfigError: naming the field, the value and what to give instead.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        out = float(value)
        if not math.isfinite(out):
            raise _fail(name, value, "must be a finite number, not NaN or infinity"
                        + ("; give 0 to turn gradient clipping off" if name == "grad_clip" else ""))
        return out
    if isinstance(value, str):
        try:
            hint = f"give {float(value.strip())!r} (a number, not a string)"
        except ValueError:
            hint = "give a number such as 0.001 (not a string)"
    elif isinstance(value, bool):
        hint = "give a number"
    elif hasattr(value, "item"):
        hint = "give a plain float (call .item() on a tensor or array)"
    else:
        hint = "give a number such as 0.001"
    raise _fail(name, value, f"must be a real number, got {type(value).__name__}; {hint}")


def _as_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool (``True``/``False`` or a NumPy bool); anything else, e.g. ``"false"``, is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _fail(name, value, f"must be True or False, got {type(value).__name__}")


def _as_pair(name: str, value: Any, letters: str) -> tuple[int, int]:
    """``value`` as an ``(H, W)`` pair of Python ints; a list (as JSON stores it) is fine.

    :param letters: how the message names the pair, e.g. ``"(H, W)"``.
    :raises ConfigError: for a bare number (suggesting the square pair), a string, a pair of another
        length, or sides that are not ints.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        raise _fail(name, value, f"must be a pair {letters}, got a single int; give ({int(value)}, {int(value)}) "
                                 "for a square")
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise _fail(name, value, f"must be a pair {letters} of ints such as (64, 64), got {type(value).__name__}")
    if len(value) != 2:
        extra = "; give only the height and width (the channel count is in_channels)" if len(value) == 3 else ""
        raise _fail(name, value, f"must be a pair {letters} of ints such as (64, 64), got {len(value)} value(s)"
                    + extra)
    out = []
    for side, v in zip(letters.strip("()").split(", "), value):
        if not (isinstance(v, numbers.Integral) and not isinstance(v, bool)):
            raise _fail(name, value, f"{side} must be an int, got {type(v).__name__} {v!r}; {_int_hint(v)}")
        out.append(int(v))
    return out[0], out[1]


@dataclass
class MintConfig:
    """Hyperparameters of MINT.

    Geometry
    :param num_keypoints: K, the number of keypoints.
    :param in_channels: channels of the input frames (3 for RGB, 1 for grey).
    :param image_size: (H, W) the encoder expects; frames of another size are rejected
        (the Gymnasium wrapper resizes for you).
    :param grid_size: (H', W') of the heatmap grid on which the keypoints live and every
        loss is computed. ``None`` picks ``(H // 2, W // 2)``: 42×42 for 84×84 frames,
        32×32 for 64×64 (the authors upsample 96 → 135, which costs ~10× the compute).
    :param feature_dim: F, size of the per-keypoint feature vector sampled at each keypoint
        from the network's last hidden maps (our addition; the authors have none). 0 = none.
    :param hidden_channels: width of the conv backbone.
    :param norm: ``"batch"`` (the authors'), ``"group"`` or ``"none"``. Use group/none for
        DistributedDataParallel on CPU (BatchNorm statistics differ per process).

    Keypoint maps
    :param softmax_temperature: initial temperature of the spatial soft-argmax (logits =
        maps / temperature). Our inputs are in [0, 1], so maps are small at init; a
        temperature < 1 keeps the softmax peaked enough for keypoints to move with content
        (MINT_METHOD §8). Learned when ``learn_temperature``.
    :param learn_temperature: learn the (log) temperature with the rest of the network.
    :param gaussian_std: std of the Gaussian map as a fraction of the grid width (authors:
        9 px on a 135-px grid = 0.067); ``G = exp(-d² / std²)`` with d in grid pixels.
    :param patch_lambda: λ of the information patch ``clamp(λ·relu(G − η), 0, 1)``.
    :param patch_eta: η of the information patch.
    :param status_threshold: τ of the active status ``sigmoid(slope·(max F − τ))``. ``None``
        calibrates τ on the first training batch to the median initial map peak, so about
        half the gates are open at initialisation (the authors' τ = 15 is for 0–255 inputs).
    :param status_slope: slope of the status sigmoid (authors: 1000 on 0–255 inputs; our
        maps are ~100× smaller, so the default is proportionally gentler).

    Entropy
    :param entropy_window: R, the side of the local-entropy neighbourhood (odd).
    :param entropy_preprocess: apply the local-contrast normalisation before the histogram.
    :param sharpen_small: sharpen the grid-resized frame when the input is narrower than
        100 px (the authors' rule).

    Loss weights and constants (MINT_METHOD §3)
    :param w_me, w_mce, w_it, w_overlap, w_status: weights of the terms.
    :param kappa: κ of the transport target.
    :param movement_weight: m, weight of the movement cost inside ``L_IT``.
    :param overlap_beta: β of the overlap term.

    Authors' quirks (MINT_METHOD §7), all off by default
    :param wrap_around: compare frame 0 with the clip's last frame in the transport and
        movement terms.
    :param attach_status_factor: leave ``(1 − L_ME)`` attached to the graph in the status term.
    :param average_all_t: average the temporal terms over all t, including the empty t = 0.
    :param authors_patch_area: |P| = area of keypoint 0's patch in frame 0 of the batch's
        first clip, one value for every clip of the batch (not detached; it shrinks when that
        patch is clipped by the border), as the authors' code, instead of the constant area of an
        unclipped patch.
    :param authors_input_scale: feed the network ``(x − 0.5) / 0.5`` of the 0–255 pixel values, as the
        authors' code does (range [−1, 509]; their τ = 15 and slope 1000 assume it), instead of [−1, 1].

    Training (MINT_METHOD §4)
    :param lr, weight_decay, grad_clip, batch_size, clip_length: optimiser and batch.
    :param seed: seed of initialisation and clip sampling.
    """

    num_keypoints: int = 16
    in_channels: int = 3
    image_size: tuple[int, int] = (64, 64)
    grid_size: tuple[int, int] | None = None
    feature_dim: int = 8
    hidden_channels: int = 16
    norm: str = "batch"

    softmax_temperature: float = 0.1
    learn_temperature: bool = True
    gaussian_std: float = 0.067
    patch_lambda: float = 3.5
    patch_eta: float = 0.1
    status_threshold: float | None = None
    status_slope: float = 10.0

    entropy_window: int = 3
    entropy_preprocess: bool = True
    sharpen_small: bool = True

    w_me: float = 100.0
    w_mce: float = 100.0
    w_it: float = 20.0
    w_overlap: float = 30.0
    w_status: float = 10.0
    kappa: float = 0.9
    movement_weight: float = 1.0
    overlap_beta: float = 4.0

    wrap_around: bool = False
    attach_status_factor: bool = False
    average_all_t: bool = False
    authors_patch_area: bool = False
    authors_input_scale: bool = False

    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float = 10.0
    batch_size: int = 32
    clip_length: int = 3
    seed: int = 0

    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_size = _as_pair("image_size", self.image_size, "(H, W)")
        if self.grid_size is None:
            self.grid_size = _default_grid(self.image_size)
        self.validate()

    # ------------------------------------------------------------------ validation
    def _check_types(self) -> None:
        """Check every field's type and normalise it in place: NumPy scalars become Python ints,
        floats and bools, ints in float fields become floats, lists in pair fields become tuples.

        :raises ConfigError: naming the first field of the wrong type, what arrived and what to give.
        """
        for f in dataclasses.fields(self):
            name, value, kind = f.name, getattr(self, f.name), _FIELD_KINDS[f.name]
            if kind == "int":
                value = _as_int(name, value)
            elif kind == "float":
                value = _as_float(name, value)
            elif kind == "float | None":
                value = None if value is None else _as_float(name, value)
            elif kind == "bool":
                value = _as_bool(name, value)
            elif kind == "tuple[int, int]":
                value = _as_pair(name, value, "(H, W)")
            elif kind == "tuple[int, int] | None":
                value = None if value is None else _as_pair(name, value, "(H', W')")
            elif kind == "str":
                if not isinstance(value, str):
                    raise _fail(name, value, f"must be a string, got {type(value).__name__}")
            elif kind == "dict[str, Any]":
                if not isinstance(value, dict):
                    raise _fail(name, value, f"must be a dict, got {type(value).__name__}")
            setattr(self, name, value)

    def validate(self) -> None:
        """Check every field (type first, then range) and normalise its type (see :meth:`_check_types`).

        :raises ConfigError: naming the first invalid field, what it holds and what to give instead.
        """
        self._check_types()

        def need(cond: bool, name: str, why: str) -> None:
            if not cond:
                raise _fail(name, getattr(self, name), why)

        need(self.grid_size is not None, "grid_size", "must be (H', W') once built; to derive it from image_size "
             "pass grid_size=None to MintConfig(...) or replace()")
        need(self.num_keypoints >= 1, "num_keypoints", "need at least one keypoint (K >= 1)")
        need(self.in_channels in (1, 3, 4), "in_channels", "must be 1 (grey), 3 (RGB) or 4")
        need(len(self.image_size) == 2 and min(self.image_size) >= 16, "image_size",
             "must be (H, W) with both sides >= 16 pixels")
        need(len(self.grid_size) == 2 and min(self.grid_size) >= 8, "grid_size",
             "must be (H', W') with both sides >= 8")
        need(self.feature_dim >= 0, "feature_dim", "must be >= 0")
        need(self.hidden_channels >= 4, "hidden_channels", "must be >= 4")
        need(self.norm in ("batch", "group", "none"), "norm", "must be 'batch', 'group' or 'none'")
        need(self.softmax_temperature > 0, "softmax_temperature", "must be > 0")
        need(0 < self.gaussian_std < 1, "gaussian_std", "is a fraction of the grid width, in (0, 1)")
        need(self.patch_lambda > 0, "patch_lambda", "must be > 0")
        need(0 <= self.patch_eta < 1, "patch_eta", "must be in [0, 1)")
        need(self.status_slope > 0, "status_slope", "must be > 0")
        need(self.entropy_window >= 3 and self.entropy_window % 2 == 1, "entropy_window",
             "must be odd and >= 3")
        need(self.entropy_window < min(self.grid_size), "entropy_window",
             f"must be smaller than the grid {self.grid_size}")
        for name in ("w_me", "w_mce", "w_it", "w_overlap", "w_status", "movement_weight",
                     "overlap_beta", "weight_decay", "grad_clip"):
            need(getattr(self, name) >= 0, name, "must be >= 0")
        need(0 <= self.kappa <= 1, "kappa", "must be in [0, 1]")
        need(self.lr > 0, "lr", "must be > 0")
        need(self.batch_size >= 1, "batch_size", "must be >= 1")
        need(self.clip_length >= 2, "clip_length", "clips need at least 2 frames")
        need(self.seed >= 0, "seed", "must be >= 0 (NumPy refuses negative seeds); give e.g. 0 or abs(seed)")
        need(self.seed < 2**64, "seed", "must be < 2**64 (torch's limit); give seed % 2**64")

    # ------------------------------------------------------------------ derived
    @property
    def gaussian_std_px(self) -> float:
        """Gaussian std in grid pixels (``gaussian_std`` × grid width)."""
        return self.gaussian_std * self.grid_size[1]

    # ------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        d["grid_size"] = list(self.grid_size)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MintConfig":
        """A config from :meth:`to_dict`'s output (also an older version's: missing fields take their
        defaults, lists stand for pairs). Every value goes through :meth:`validate`.

        :raises ConfigError: for a non-dict, an unknown field or an invalid value (the field is named).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"MintConfig.from_dict needs a dict of fields (MintConfig.to_dict()), got "
                              f"{type(data).__name__}" + ("; for JSON text use MintConfig.from_json"
                                                          if isinstance(data, str) else ""))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown MintConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MintConfig":
        """A config from :meth:`to_json`'s output, validated as :meth:`from_dict`.

        :raises ConfigError: for text that is not JSON, or any error of :meth:`from_dict`.
        """
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"MintConfig.from_json needs the JSON text of MintConfig.to_json(): {exc}") from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> "MintConfig":
        """A copy with some fields changed (validated). A new ``image_size`` without a ``grid_size`` re-derives
        the grid (half the input) when this config's grid was the derived one; a grid set explicitly stays."""
        if ("image_size" in changes and "grid_size" not in changes
                and tuple(self.grid_size) == _default_grid(self.image_size)):
            changes["grid_size"] = None
        return dataclasses.replace(self, **changes)

    # Fields that change the network's parameter shapes or what its outputs mean: a
    # checkpoint is incompatible with a config that differs in any of them.
    ARCHITECTURE_FIELDS = ("num_keypoints", "in_channels", "image_size", "grid_size",
                           "feature_dim", "hidden_channels", "norm", "authors_input_scale")

    def architecture_mismatch(self, other: "MintConfig") -> list[str]:
        """Names and values of architecture fields where ``self`` and ``other`` differ."""
        out = []
        for name in self.ARCHITECTURE_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: {a!r} != {b!r}")
        return out


# Each field's kind, from its annotation (strings, under ``from __future__ import annotations``):
# a new field of an unhandled kind fails here, at import, not silently at validation.
_FIELD_KINDS: dict[str, str] = {f.name: str(f.type) for f in dataclasses.fields(MintConfig)}
_unknown_kinds = {n: k for n, k in _FIELD_KINDS.items() if k not in (
    "int", "float", "float | None", "bool", "tuple[int, int]", "tuple[int, int] | None", "str", "dict[str, Any]")}
if _unknown_kinds:
    raise TypeError(f"MintConfig fields without a validator in MintConfig._check_types: {_unknown_kinds}")


def config_overrides(items: list[str], base: MintConfig, own_flags: Mapping[str, str | None],
                     flag: str = "--mint", fixed: str = "fixed by this command") -> dict[str, Any]:
    """Command-line ``FIELD=VALUE`` items → checked :class:`MintConfig` overrides, e.g. for an ablation.

    Values are JSON (``true``/``false``/``null``, numbers, lists; a list becomes a tuple, as for
    ``grid_size=[64,64]``); a bare word is a string.

    :param items: ``["kappa=0.5", "w_overlap=0", ...]``.
    :param base: the config the overrides apply to; the result must be valid on it.
    :param own_flags: fields the caller sets otherwise: field → the flag that sets it (named in the error), or
        None where the caller fixes it.
    :param flag: the option's name in error messages.
    :param fixed: what the error says of a field the caller fixes (``own_flags`` value None).
    :raises ValueError: naming the item: not FIELD=VALUE, an unknown field, a field in ``own_flags``, a value
        :class:`MintConfig` refuses.
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{flag} {item}: give FIELD=VALUE, e.g. kappa=0.5")
        if name not in _FIELD_KINDS:
            raise ValueError(f"{flag} {item}: MintConfig has no field {name!r} (mint_rl/config.py lists them)")
        if name in own_flags:
            other = own_flags[name]
            raise ValueError(f"{flag} {item}: {name} is " + (f"set by {other}" if other else fixed))
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if text in ("True", "False", "None"):
                raise ValueError(f"{flag} {item}: values are JSON: write {text.lower() if text != 'None' else 'null'}")
            value = text
        out[name] = tuple(value) if isinstance(value, list) else value
    try:
        base.replace(**out)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{flag} {' '.join(items)}: {exc}") from exc
    return out
