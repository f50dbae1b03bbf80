"""RL tasks on synthetic object scenes: where the objects are decides the reward.

Two small control tasks drawn like the passive scenes of :mod:`envs.scenes` (same palette,
same shapes, the same non-anti-aliased label-image rendering and the same ground truth in
``info["objects"]``), so that keypoints learned on the scenes can be tested as RL
observations, against an upper reference that sees the true object positions.

* :class:`CatchEnv` (``MintTasks/Catch-v0``): a white paddle at the bottom catches falling
  objects; good colours pay, red ones cost.
* :class:`ReachEnv` (``MintTasks/Reach-v0``): a white square avatar steers to the object that
  most recently entered the frame.

Coordinate convention
---------------------
As in :mod:`envs.scenes`: ``(x, y)`` with ``y`` pointing down; pixel column ``i`` is centred at
``x = i`` (the frame spans ``[-0.5, W - 0.5]``); normalised coordinates are
``x_n = (2x + 1)/W - 1``, ``y_n = (2y + 1)/H - 1`` (frame edges at -1 and 1; :mod:`mint_rl.coords`).

Objects move kinematically (no rigid-body physics): they do not collide with each other and
may overlap; the label image is written in slot order, so a later slot is drawn on top and
``masks[k]`` is exactly the set of pixels that show slot ``k``.

Ground truth
------------
``info["objects"]`` has the keys of :mod:`envs.scenes` (``ids``, ``present``, ``visible``,
``static``, ``centres``, ``centres_px``, ``velocities``, ``angles``, ``sizes``, ``shapes``,
``colours``, ``areas`` and, when ``return_masks``, ``masks``) over ``N = 1 + n_slots`` slots:
slot 0 is the agent (paddle or avatar, id 0), slots ``1..n_slots`` the task objects (ids
1, 2, ... in order of appearance, -1 for an empty slot). ``shapes`` indexes
:data:`TASK_SHAPES` (which extends :data:`envs.scenes.SHAPES` with ``"bar"``). Two keys are
added: ``agent`` (N,) bool, true for slot 0, and the task flag (``good`` for Catch,
``target`` for Reach), (N,) bool.

``info["state"]`` is the flat ``float32`` ground-truth vector that
:class:`GroundTruthObservation` uses as observation (see :meth:`ObjectTaskEnv.state`)::

    [agent x, agent y, agent vx, agent vy,                  # normalised, per step
     for each of n_slots object blocks:
         present, x, y, vx, vy, flag]                       # zeros for an empty slot

with ``flag`` = +1 for a good and -1 for a bad object (Catch), 1 for the target and 0
otherwise (Reach). :data:`STATE_AGENT_FIELDS` and :data:`STATE_OBJECT_FIELDS` name them.
The object blocks are in the task's order of relevance, not in slot order (Catch: the
objects still to reach the paddle, the soonest first, then those past it; Reach: the
target, then the most recently entered first); ``info["state_slots"]`` gives the
``info["objects"]`` slot of each block, empty slots last. With slot order instead, PPO did
not learn Catch within 100k steps (the object that matters keeps changing slot).

Example::

    >>> env = CatchEnv(render_mode="rgb_array")
    >>> frame, info = env.reset(seed=0)
    >>> frame.shape, info["state"].shape
    ((64, 64, 3), (22,))
    >>> gt = GroundTruthObservation(CatchEnv())
    >>> gt.reset(seed=0)[0].shape
    (22,)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mint_rl.coords import pixel_to_normalised, units_per_pixel

from .render import (compose_frame, fill_box, fill_circle, fill_polygon, label_masks, rotate, shape_vertices,
                     visible_areas)
from .scenes import PALETTE, SHAPES, border_entry, check_min_max

__all__ = [
    "AGENT_COLOUR",
    "BAD_COLOUR",
    "GOOD_COLOURS",
    "STATE_AGENT_FIELDS",
    "STATE_OBJECT_FIELDS",
    "TASK_SHAPES",
    "CatchConfig",
    "CatchEnv",
    "GroundTruthObservation",
    "ObjectTaskEnv",
    "ReachConfig",
    "ReachEnv",
]

TASK_SHAPES: tuple[str, ...] = SHAPES + ("bar",)
"""Shapes of the task scenes: those of :data:`envs.scenes.SHAPES` (same indices), then the
paddle's ``"bar"`` (an axis-aligned rectangle)."""

AGENT_COLOUR: np.ndarray = np.array((255, 255, 255), dtype=np.uint8)
"""The paddle / avatar colour (white: no palette colour is grey or white)."""

BAD_COLOUR: np.ndarray = PALETTE[0]
"""Red: Catch objects of this colour cost ``bad_reward`` when caught."""

TARGET_COLOUR: tuple[int, int, int] = (255, 230, 0)
"""Yellow: the target of ``ReachConfig(mark_target=True)``; no other object has it then."""

GOOD_COLOURS: np.ndarray = PALETTE[[1, 2, 3, 5, 7]]
"""Green, blue, yellow, cyan and violet: the colours of good Catch objects (orange and
magenta, the palette's reddish colours, are left out so that "bad" means "red")."""

STATE_AGENT_FIELDS: tuple[str, ...] = ("x", "y", "vx", "vy")
"""Names of the agent's entries at the start of ``info["state"]``."""

STATE_OBJECT_FIELDS: tuple[str, ...] = ("present", "x", "y", "vx", "vy", "flag")
"""Names of each object slot's entries in ``info["state"]``, after the agent's."""

STATE_BOUND = 4.0
"""``info["state"]`` lies in ``[-STATE_BOUND, STATE_BOUND]`` (positions of objects partly
off-screen may leave [-1, 1]; the config validation keeps them, and speeds, well inside)."""

_SPAWN_TRIES = 10


# ---------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class _TaskConfig:
    """Fields shared by the task configs (see :class:`CatchConfig`, :class:`ReachConfig`)."""

    height: int = 64
    width: int = 64
    max_steps: int = 200
    n_slots: int = 3
    size_range: tuple[float, float] = (8.0, 10.0)
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    background_colour: tuple[int, int, int] = (0, 0, 0)
    return_masks: bool = True

    def _set(self, name: str, value: Any) -> None:  # normalise a field of the frozen dataclass
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 16:
                raise ValueError(f"{name} must be an integer >= 16 pixels, got {value!r}")
            self._set(name, int(value))
        for name in ("max_steps", "n_slots"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
            self._set(name, int(value))
        if self.n_slots > 253:
            raise ValueError(f"n_slots {self.n_slots} exceeds the 253 object slots of the label image")
        size_lo, size_hi = check_min_max("size_range", self.size_range, 0.0)
        if size_lo < 2.0:
            raise ValueError(f"size_range min must be >= 2 pixels to stay visible, got {self.size_range!r}")
        if size_hi > min(self.height, self.width) / 4:
            raise ValueError(
                f"size_range max {size_hi} px is more than a quarter of the "
                f"{self.height}x{self.width} frame; lower size_range or raise height/width"
            )
        self._set("size_range", (size_lo, size_hi))
        shapes = (self.shapes,) if isinstance(self.shapes, str) else tuple(self.shapes)
        unknown = [s for s in shapes if s not in SHAPES]
        if not shapes or unknown:
            raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {self.shapes!r}")
        self._set("shapes", shapes)
        colour = tuple(self.background_colour)
        if len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour):
            raise ValueError(f"background_colour must be 3 values in [0, 255], got {colour!r}")
        if max(colour) > 200:
            raise ValueError(
                f"background_colour {colour!r} is too bright: the agent is white; use a "
                "channel maximum <= 200"
            )
        self._set("background_colour", tuple(int(c) for c in colour))
        self._set("return_masks", bool(self.return_masks))

    @property
    def max_objects(self) -> int:
        """N: slots of the ground truth, the agent's included."""
        return 1 + self.n_slots

    @property
    def state_dim(self) -> int:
        """Length of ``info["state"]``."""
        return len(STATE_AGENT_FIELDS) + self.n_slots * len(STATE_OBJECT_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (``type(config)(**d)`` rebuilds it)."""
        return dataclasses.asdict(self)


def _check_speed(config: _TaskConfig, name: str, speed: float) -> None:
    """A speed (px/step) must stay below a tenth of the frame: keeps the state bounded."""
    if speed > min(config.height, config.width) / 10:
        raise ValueError(
            f"{name} {speed} px/step crosses a tenth of the {config.height}x{config.width} "
            "frame per step; lower it"
        )


@dataclass(frozen=True)
class CatchConfig(_TaskConfig):
    """Everything that defines a Catch task; validated at construction.

    Sizes in pixels, speeds in pixels per step.

    :param height: frame height H.
    :param width: frame width W.
    :param max_steps: the episode is truncated after this many steps (it never terminates).
    :param n_slots: most objects present at once.
    :param size_range: ``(min, max)`` circumscribed diameter of an object.
    :param shapes: object shapes, from :data:`envs.scenes.SHAPES`.
    :param background_colour: RGB of the plain background.
    :param return_masks: put the ``(N, H, W)`` visible-pixel masks in ``info["objects"]``.
    :param fall_speed_range: ``(min, max)`` downward speed of an object.
    :param drift: horizontal speed drawn in ``[-drift, drift]``; objects bounce off the side
        edges of the frame.
    :param spawn_interval_range: ``(min, max)`` steps between two spawns (integers). When
        every slot is taken, the next object spawns as soon as one frees up.
    :param bad_fraction: probability that a new object is red (bad).
    :param paddle_width: paddle width.
    :param paddle_height: paddle height.
    :param paddle_speed: paddle displacement per left/right action.
    :param catch_reward: reward for catching a good object.
    :param bad_reward: reward for catching a red object.
    :param miss_reward: reward when a good object passes the paddle uncaught.
    """

    fall_speed_range: tuple[float, float] = (1.5, 2.5)
    drift: float = 0.5
    spawn_interval_range: tuple[int, int] = (10, 20)
    bad_fraction: float = 0.3
    paddle_width: float = 12.0
    paddle_height: float = 4.0
    paddle_speed: float = 3.0
    catch_reward: float = 1.0
    bad_reward: float = -1.0
    miss_reward: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = check_min_max("fall_speed_range", self.fall_speed_range, 0.0)
        if lo <= 0.0:
            raise ValueError(f"fall_speed_range must be positive (objects must fall), got {self.fall_speed_range!r}")
        _check_speed(self, "fall_speed_range max", hi)
        self._set("fall_speed_range", (lo, hi))
        if not 0.0 <= float(self.drift):
            raise ValueError(f"drift must be >= 0 px/step, got {self.drift!r}")
        _check_speed(self, "drift", float(self.drift))
        self._set("drift", float(self.drift))
        self._set(
            "spawn_interval_range",
            check_min_max("spawn_interval_range", self.spawn_interval_range, 1, integer=True),
        )
        if not 0.0 <= float(self.bad_fraction) <= 1.0:
            raise ValueError(f"bad_fraction must be in [0, 1], got {self.bad_fraction!r}")
        self._set("bad_fraction", float(self.bad_fraction))
        if not 2.0 <= float(self.paddle_width) <= self.width / 2:
            raise ValueError(
                f"paddle_width must be in [2, width / 2 = {self.width / 2}] px, got {self.paddle_width!r}"
            )
        if not 2.0 <= float(self.paddle_height) <= self.height / 8:
            raise ValueError(
                f"paddle_height must be in [2, height / 8 = {self.height / 8}] px, got {self.paddle_height!r}"
            )
        if not float(self.paddle_speed) > 0.0:
            raise ValueError(f"paddle_speed must be > 0 px/step, got {self.paddle_speed!r}")
        _check_speed(self, "paddle_speed", float(self.paddle_speed))
        for name in ("paddle_width", "paddle_height", "paddle_speed", "catch_reward", "bad_reward", "miss_reward"):
            value = getattr(self, name)
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be finite, got {value!r}")
            self._set(name, float(value))


@dataclass(frozen=True)
class ReachConfig(_TaskConfig):
    """Everything that defines a Reach task; validated at construction.

    Sizes in pixels, speeds in pixels per step.

    :param height: frame height H.
    :param width: frame width W.
    :param max_steps: the episode is truncated after this many steps (it never terminates).
    :param n_slots: most objects present at once.
    :param size_range: ``(min, max)`` circumscribed diameter of an object.
    :param shapes: object shapes, from :data:`envs.scenes.SHAPES`.
    :param background_colour: RGB of the plain background.
    :param return_masks: put the ``(N, H, W)`` visible-pixel masks in ``info["objects"]``.
    :param speed_range: ``(min, max)`` speed of an object; it enters through a random border,
        heading inwards within 45 degrees of the normal, crosses the frame in a straight
        line and is removed once fully outside again.
    :param enter_rate: per-step probability that an empty slot spawns a new object just
        outside the frame.
    :param avatar_size: side of the avatar square.
    :param avatar_speed: avatar displacement per step (per unit action when ``continuous``).
    :param continuous: ``Box(-1, 1, (2,))`` velocity actions instead of ``Discrete(5)``.
    :param reach_reward: reward for touching the target.
    :param time_penalty: subtracted from the reward at every step.
    :param mark_target: draw the target in :data:`TARGET_COLOUR` (yellow) and every other object in
        another colour, so that the target can be told from one frame (``MintTasks/ReachMarked-v0``);
        False (``MintTasks/Reach-v0``): nothing marks it and a policy must remember which object
        came in last.
    """

    size_range: tuple[float, float] = (10.0, 12.0)
    speed_range: tuple[float, float] = (0.2, 0.6)
    enter_rate: float = 0.05
    avatar_size: float = 10.0
    avatar_speed: float = 3.0
    continuous: bool = False
    reach_reward: float = 1.0
    time_penalty: float = 0.01
    mark_target: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        lo, hi = check_min_max("speed_range", self.speed_range, 0.0)
        if hi <= 0.0:
            raise ValueError(f"speed_range max must be > 0 (objects must cross), got {self.speed_range!r}")
        _check_speed(self, "speed_range max", hi)
        self._set("speed_range", (lo, hi))
        if not 0.0 <= float(self.enter_rate) <= 1.0:
            raise ValueError(f"enter_rate must be in [0, 1], got {self.enter_rate!r}")
        self._set("enter_rate", float(self.enter_rate))
        if not 2.0 <= float(self.avatar_size) <= min(self.height, self.width) / 4:
            raise ValueError(
                f"avatar_size must be in [2, a quarter of the frame] px, got {self.avatar_size!r}"
            )
        if not float(self.avatar_speed) > 0.0:
            raise ValueError(f"avatar_speed must be > 0 px/step, got {self.avatar_speed!r}")
        _check_speed(self, "avatar_speed", float(self.avatar_speed))
        for name in ("avatar_size", "avatar_speed", "reach_reward", "time_penalty"):
            value = getattr(self, name)
            if not math.isfinite(float(value)):
                raise ValueError(f"{name} must be finite, got {value!r}")
            self._set(name, float(value))
        self._set("continuous", bool(self.continuous))


# ---------------------------------------------------------------------------- envs


class ObjectTaskEnv(gym.Env):
    """Base of the tasks: object slots, rendering, ground truth and the state vector.

    Slot 0 is the agent, slots ``1..n_slots`` the objects. Subclasses implement
    :meth:`_start` (place the agent and the first objects), :meth:`_advance` (apply the
    action, move, reward) and name their per-object flag in :attr:`flag_name`.

    :param config: the task config.
    :param render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    flag_name = "flag"

    def __init__(self, config: _TaskConfig, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.config = config
        self.render_mode = render_mode
        h, w, n = config.height, config.width, config.max_objects
        self.observation_space = spaces.Box(0, 255, (h, w, 3), np.uint8)
        self.state_space = spaces.Box(-STATE_BOUND, STATE_BOUND, (config.state_dim,), np.float32)
        """The space of ``info["state"]`` (the observation of :class:`GroundTruthObservation`)."""
        self._label = np.zeros((h, w), dtype=np.uint8)
        self._lut = np.zeros((n + 1, 3), dtype=np.uint8)
        self._background = np.empty((h, w, 3), dtype=np.uint8)
        self._background[:] = config.background_colour
        self._frame: np.ndarray | None = None
        self._started = False

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; returns the first frame ``(H, W, 3)`` and the info dict."""
        super().reset(seed=seed)
        n = self.config.max_objects
        self._t = 0
        self._next_id = 1
        self._ids = np.full(n, -1, dtype=np.int64)
        self._pos = np.zeros((n, 2), dtype=np.float64)  # pixels
        self._vel = np.zeros((n, 2), dtype=np.float64)  # pixels per step
        self._angles = np.zeros(n, dtype=np.float64)
        self._sizes = np.zeros(n, dtype=np.float64)
        self._shape_index = np.full(n, -1, dtype=np.int64)
        self._colours = np.zeros((n, 3), dtype=np.uint8)
        self._flags = np.zeros(n, dtype=np.float64)
        self._local: list[np.ndarray | None] = [None] * n  # vertices about the centre; None: circle
        self._boxes: list[tuple[float, float] | None] = [None] * n  # axis-aligned (w, h)
        self._lut[:] = 0
        self._start()
        self._started = True
        self._render()
        return self._frame.copy(), self._info({})

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply ``action`` and advance one step; returns ``(frame, reward, False, truncated, info)``."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        reward, events = self._advance(action)
        self._t += 1
        self._render()
        truncated = self._t >= self.config.max_steps
        return self._frame.copy(), float(reward), False, truncated, self._info(events)

    def render(self) -> np.ndarray | None:
        """The current frame ``(H, W, 3)`` uint8 in ``"rgb_array"`` mode, else ``None``."""
        if self.render_mode != "rgb_array" or self._frame is None:
            return None
        return self._frame.copy()

    def state(self) -> np.ndarray:
        """The ground-truth state vector ``(state_dim,)`` float32 (layout in the module docstring)."""
        if not self._started:
            raise RuntimeError("call reset() before state()")
        n_fields = len(STATE_OBJECT_FIELDS)
        out = np.zeros(self.config.state_dim, dtype=np.float32)
        centres, velocities = self._normalised_positions()
        out[0:2], out[2:4] = centres[0], velocities[0]
        objects = out[len(STATE_AGENT_FIELDS) :].reshape(self.config.n_slots, n_fields)
        order = self.state_slots()
        present = self._ids[order] >= 0
        objects[:, 0] = present
        objects[:, 1:3] = np.where(present[:, None], centres[order], 0.0)
        objects[:, 3:5] = np.where(present[:, None], velocities[order], 0.0)
        objects[:, 5] = np.where(present, self._flags[order], 0.0)
        return np.clip(out, -STATE_BOUND, STATE_BOUND)

    def _normalised_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Every slot's centre ``(N, 2)`` and velocity ``(N, 2)``, normalised (per step)."""
        size = (self.config.height, self.config.width)
        return pixel_to_normalised(self._pos, size), self._vel * units_per_pixel(size)

    def state_slots(self) -> np.ndarray:
        """``(n_slots,)`` int64: the ``info["objects"]`` slot shown by each object block of
        :meth:`state`, most relevant first, empty slots last (the order is the task's)."""
        slots = np.arange(1, self.config.max_objects)
        return slots[np.lexsort((slots, *self._relevance()[::-1]))]

    def _relevance(self) -> tuple[np.ndarray, ...]:
        """Sort keys of the object slots for :meth:`state_slots`, most significant first,
        smaller first; the base order is: present slots, then empty ones, by slot."""
        return (self._ids[1:] < 0,)

    # ------------------------------------------------------------------ subclass hooks

    def _start(self) -> None:
        raise NotImplementedError

    def _advance(self, action: Any) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------------ slots

    def _place(
        self,
        slot: int,
        xy: tuple[float, float],
        velocity: tuple[float, float],
        size: float,
        shape: str,
        colour: np.ndarray,
        angle: float = 0.0,
        box: tuple[float, float] | None = None,
        flag: float = 0.0,
    ) -> None:
        """Fill ``slot`` (the agent keeps id 0; an object gets the next id).

        ``box = (width, height)`` draws an axis-aligned rectangle instead of ``shape``'s
        outline: exactly the pixels whose centres lie in ``[x - w/2, x + w/2)`` by
        ``[y - h/2, y + h/2)``, so an integer-sized box always covers ``w * h`` pixels.
        """
        self._ids[slot] = 0 if slot == 0 else self._next_id
        if slot != 0:
            self._next_id += 1
        self._pos[slot] = xy
        self._vel[slot] = velocity
        self._angles[slot] = angle
        self._sizes[slot] = size
        self._shape_index[slot] = TASK_SHAPES.index(shape)
        self._colours[slot] = colour
        self._lut[slot + 1] = colour
        self._flags[slot] = flag
        self._boxes[slot] = box
        vertices = None if box is not None else shape_vertices(shape, size)
        if vertices is not None and angle != 0.0:
            vertices = rotate(vertices, angle)
        self._local[slot] = vertices

    def _clear(self, slot: int) -> None:
        self._ids[slot] = -1
        self._vel[slot] = 0.0
        self._shape_index[slot] = -1
        self._flags[slot] = 0.0
        self._lut[slot + 1] = 0
        self._local[slot] = None
        self._boxes[slot] = None

    def _free_slot(self) -> int | None:
        free = np.flatnonzero(self._ids[1:] < 0)
        return int(free[0]) + 1 if free.size else None

    def _outside(self, slot: int) -> bool:
        """The object's circumscribed circle misses the frame."""
        x, y = self._pos[slot]
        r = self._sizes[slot] / 2.0
        w, h = self.config.width, self.config.height
        return x + r < -0.5 or x - r > w - 0.5 or y + r < -0.5 or y - r > h - 0.5

    # ------------------------------------------------------------------ rendering

    def _render(self) -> None:
        """Rasterise the label image and compose the RGB frame (no anti-aliasing)."""
        label = self._label
        label.fill(0)
        for slot in np.flatnonzero(self._ids >= 0):
            if self._outside(slot):
                continue
            x, y = self._pos[slot]
            local, box = self._local[slot], self._boxes[slot]
            if box is not None:
                fill_box(label, x, y, *box, slot + 1)
            elif local is None:
                fill_circle(label, x, y, self._sizes[slot] / 2.0, slot + 1)
            else:
                fill_polygon(label, local + (x, y), slot + 1)
        self._frame = compose_frame(self._background, label, self._lut)

    def _info(self, events: dict[str, Any]) -> dict[str, Any]:
        n = self.config.max_objects
        present = self._ids >= 0
        areas = visible_areas(self._label, n)
        centres, velocities = self._normalised_positions()
        agent = np.zeros(n, dtype=bool)
        agent[0] = True
        objects: dict[str, Any] = {
            "ids": self._ids.copy(),
            "present": present,
            "visible": areas > 0,
            "static": np.zeros(n, dtype=bool),
            "centres": np.where(present[:, None], centres, 0.0).astype(np.float32),
            "centres_px": np.where(present[:, None], self._pos, 0.0).astype(np.float32),
            "velocities": velocities.astype(np.float32),
            "angles": np.where(present, self._angles, 0.0).astype(np.float32),
            "sizes": np.where(present, self._sizes, 0.0).astype(np.float32),
            "shapes": self._shape_index.copy(),
            "colours": np.where(present[:, None], self._colours, 0).astype(np.uint8),
            "areas": areas,
            "agent": agent,
            self.flag_name: present & (self._flags > 0),
        }
        if self.config.return_masks:
            objects["masks"] = label_masks(self._label, n)
        return {
            "objects": objects,
            "state": self.state(),
            "state_slots": self.state_slots(),
            "step": self._t,
            **events,
        }


class CatchEnv(ObjectTaskEnv):
    """Catch falling objects with a paddle; red ones cost.

    A white paddle (``"bar"``, ``paddle_width`` x ``paddle_height`` px, slot 0) slides along the
    bottom of the frame, 2 px above the bottom edge. Objects (shapes and sizes of the config)
    appear just above the top edge at a random x every ``spawn_interval_range`` steps (one is
    already falling at reset), fall at a constant speed in ``fall_speed_range`` with a
    horizontal drift in ``[-drift, drift]``, bouncing off the side edges. A fraction
    ``bad_fraction`` of them is red (:data:`BAD_COLOUR`), the others take one of
    :data:`GOOD_COLOURS`.

    Actions, ``Discrete(3)``: 0 stay, 1 left, 2 right (by ``paddle_speed`` px; the paddle
    stays inside the frame).

    Reward: the step at which an object's lowest point (centre + size / 2) first reaches the
    paddle's top edge, the object is *caught* if its centre x is within
    ``paddle_width / 2 + size / 4`` of the paddle's centre x: it disappears and pays
    ``catch_reward`` (+1) when good, ``bad_reward`` (-1) when red. Otherwise it is *missed*:
    it falls on past the paddle and out of the frame, and a good one pays ``miss_reward``
    (0); a missed red object pays 0. Nothing else is rewarded.

    The episode never terminates; it is truncated after ``max_steps`` (200) steps. ``info``
    adds ``caught_good``, ``caught_bad`` and ``missed_good``: the ids concerned at this step.

    :param config: the task; defaults to ``CatchConfig()``.
    :param render_mode: ``None`` or ``"rgb_array"``.
    :param overrides: :class:`CatchConfig` fields replacing those of ``config``, so that
        ``gym.make("MintTasks/Catch-v0", bad_fraction=0.5)`` works.
    """

    flag_name = "good"

    def __init__(
        self, config: CatchConfig | None = None, render_mode: str | None = None, **overrides: Any
    ) -> None:
        config = CatchConfig() if config is None else config
        if not isinstance(config, CatchConfig):
            raise TypeError(f"config must be a CatchConfig, got {type(config).__name__}")
        if overrides:
            config = dataclasses.replace(config, **overrides)
        super().__init__(config, render_mode)
        self.action_space = spaces.Discrete(3)
        h = config.height
        self._paddle_y = h - 0.5 - 2.0 - config.paddle_height / 2.0
        self._paddle_top = self._paddle_y - config.paddle_height / 2.0

    def _start(self) -> None:
        cfg = self.config
        x = float(self.np_random.uniform(cfg.paddle_width / 2.0 - 0.5, cfg.width - 0.5 - cfg.paddle_width / 2.0))
        box = (cfg.paddle_width, cfg.paddle_height)
        size = math.hypot(*box)
        self._place(0, (x, self._paddle_y), (0.0, 0.0), size, "bar", AGENT_COLOUR, box=box)
        self._resolved = np.zeros(cfg.max_objects, dtype=bool)  # caught or missed already
        self._spawn(y_fraction=float(self.np_random.uniform(0.0, 0.3)))
        self._countdown = int(self.np_random.integers(cfg.spawn_interval_range[0], cfg.spawn_interval_range[1] + 1))

    def _spawn(self, y_fraction: float | None = None) -> bool:
        """A new object at a random x, just above the frame (or at ``y_fraction`` of its height)."""
        slot = self._free_slot()
        if slot is None:
            return False
        cfg, rng = self.config, self.np_random
        size = float(rng.uniform(*cfg.size_range))
        r = size / 2.0
        x = float(rng.uniform(r - 0.5, cfg.width - 0.5 - r))
        y = -0.5 - r - 0.5 if y_fraction is None else y_fraction * cfg.height
        velocity = (float(rng.uniform(-cfg.drift, cfg.drift)), float(rng.uniform(*cfg.fall_speed_range)))
        shape = cfg.shapes[int(rng.integers(len(cfg.shapes)))]
        bad = bool(rng.random() < cfg.bad_fraction)
        colour = BAD_COLOUR if bad else GOOD_COLOURS[int(rng.integers(len(GOOD_COLOURS)))]
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        self._place(slot, (x, y), velocity, size, shape, colour, angle=angle, flag=-1.0 if bad else 1.0)
        self._resolved[slot] = False
        return True

    def _relevance(self) -> tuple[np.ndarray, ...]:
        """Objects still to reach the paddle, the soonest to reach it first (steps until their
        lowest point meets the paddle's top); then those past it; then empty slots."""
        bottoms = self._pos[1:, 1] + self._sizes[1:] / 2.0
        arrival = (self._paddle_top - bottoms) / np.maximum(self._vel[1:, 1], 1e-9)
        return (self._ids[1:] < 0, self._resolved[1:], arrival)

    def _advance(self, action: Any) -> tuple[float, dict[str, Any]]:
        cfg = self.config
        w = cfg.width
        # paddle
        half = cfg.paddle_width / 2.0
        old_x = self._pos[0, 0]
        dx = (0.0, -cfg.paddle_speed, cfg.paddle_speed)[int(action)]
        new_x = min(max(old_x + dx, half - 0.5), w - 0.5 - half)
        self._pos[0, 0], self._vel[0, 0] = new_x, new_x - old_x
        # objects
        reward = 0.0
        events: dict[str, list[int]] = {"caught_good": [], "caught_bad": [], "missed_good": []}
        for slot in np.flatnonzero(self._ids[1:] >= 0) + 1:
            r = self._sizes[slot] / 2.0
            pos, vel = self._pos[slot], self._vel[slot]
            pos += vel
            if pos[0] - r < -0.5 or pos[0] + r > w - 0.5:  # bounce off a side edge
                edge = -0.5 + r if pos[0] - r < -0.5 else w - 0.5 - r
                pos[0] = 2.0 * edge - pos[0]
                vel[0] = -vel[0]
            good = self._flags[slot] > 0
            object_id = int(self._ids[slot])
            if not self._resolved[slot] and pos[1] + r >= self._paddle_top:
                self._resolved[slot] = True
                if abs(pos[0] - new_x) <= half + r / 2.0:
                    reward += cfg.catch_reward if good else cfg.bad_reward
                    events["caught_good" if good else "caught_bad"].append(object_id)
                    self._clear(slot)
                    continue
                if good:
                    reward += cfg.miss_reward
                    events["missed_good"].append(object_id)
            if pos[1] - r > cfg.height - 0.5:  # fell out of the frame
                self._clear(slot)
        # spawning
        self._countdown -= 1
        if self._countdown <= 0 and self._spawn():
            lo, hi = cfg.spawn_interval_range
            self._countdown = int(self.np_random.integers(lo, hi + 1))
        return reward, events


class ReachEnv(ObjectTaskEnv):
    """Steer an avatar to the object that most recently entered the frame.

    A white square avatar (side ``avatar_size``, slot 0) starts at the centre of the frame
    and stays inside it. Objects enter through a random border (an empty slot spawns one
    with probability ``enter_rate`` per step; one object is already inside at reset), cross
    the frame in a straight line at a speed in ``speed_range`` and are removed once fully
    outside again. An object *enters* at the first step its circumscribed circle meets the
    frame; the **target** is, among the objects whose circle meets the frame, the one that
    entered last (ties: the higher id). Nothing marks it in the image: a pixel policy must
    remember which object came in last.

    Actions, ``Discrete(5)``: 0 stay, 1 up, 2 down, 3 left, 4 right (by ``avatar_speed`` px);
    with ``continuous=True``, ``Box(-1, 1, (2,))``: the velocity ``(vx, vy) * avatar_speed``.

    Reward: ``reach_reward`` (+1) at the step the avatar square touches the target's
    circumscribed circle (the target then disappears and the next most recent object, if
    any, becomes the target), minus ``time_penalty`` (0.01) at every step. Touching other
    objects does nothing.

    The episode never terminates; it is truncated after ``max_steps`` (200) steps. ``info``
    adds ``reached``: the ids reached at this step (zero or one).

    :param config: the task; defaults to ``ReachConfig()``.
    :param render_mode: ``None`` or ``"rgb_array"``.
    :param overrides: :class:`ReachConfig` fields replacing those of ``config``.
    """

    flag_name = "target"

    def __init__(
        self, config: ReachConfig | None = None, render_mode: str | None = None, **overrides: Any
    ) -> None:
        config = ReachConfig() if config is None else config
        if not isinstance(config, ReachConfig):
            raise TypeError(f"config must be a ReachConfig, got {type(config).__name__}")
        if overrides:
            config = dataclasses.replace(config, **overrides)
        super().__init__(config, render_mode)
        if config.continuous:
            self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        else:
            self.action_space = spaces.Discrete(5)

    _MOVES = np.array([(0, 0), (0, -1), (0, 1), (-1, 0), (1, 0)], dtype=np.float64)

    def _start(self) -> None:
        cfg = self.config
        n = cfg.max_objects
        self._entry = np.full(n, -1, dtype=np.int64)  # entry order; -1: not entered yet
        self._own_colours = np.zeros((n, 3), dtype=np.uint8)  # colours before target marking
        self._entries = 0
        self._age = np.zeros(n, dtype=np.int64)
        side = cfg.avatar_size
        centre = ((cfg.width - 1) / 2.0, (cfg.height - 1) / 2.0)
        self._place(0, centre, (0.0, 0.0), side * math.sqrt(2.0), "square", AGENT_COLOUR, box=(side, side))
        self._spawn(inside=True)
        self._update_target()

    def _spawn(self, inside: bool = False) -> bool:
        """A new object just outside a random border heading in (or ``inside`` the frame)."""
        slot = self._free_slot()
        if slot is None:
            return False
        cfg, rng = self.config, self.np_random
        w, h = cfg.width, cfg.height
        size = float(rng.uniform(*cfg.size_range))
        r = size / 2.0
        margin = r + 1.0
        others = [(self._pos[s], self._sizes[s] / 2.0) for s in np.flatnonzero(self._ids >= 0)]
        for _ in range(_SPAWN_TRIES):
            if inside:  # anywhere inside, heading anywhere
                x, y = float(rng.uniform(r, w - 1 - r)), float(rng.uniform(r, h - 1 - r))
                heading = float(rng.uniform(0.0, 2.0 * math.pi))
            else:
                edge, along = int(rng.integers(4)), float(rng.uniform(0.0, 1.0))
                x, y, inward = border_entry(edge, along, margin, w, h)
                heading = inward + float(rng.uniform(-math.pi / 4, math.pi / 4))
            if all(math.dist(p, (x, y)) > radius + r + 1.0 for p, radius in others):
                break
        else:
            return False
        speed = float(rng.uniform(*cfg.speed_range))
        shape = cfg.shapes[int(rng.integers(len(cfg.shapes)))]
        used = {tuple(self._colours[s]) for s in np.flatnonzero(self._ids[1:] >= 0) + 1}
        palette = [c for c in PALETTE if tuple(c) != TARGET_COLOUR] if cfg.mark_target else list(PALETTE)
        free = [c for c in palette if tuple(c) not in used] or palette
        colour = free[int(rng.integers(len(free)))]
        angle = float(rng.uniform(0.0, 2.0 * math.pi))
        velocity = (speed * math.cos(heading), speed * math.sin(heading))
        self._place(slot, (x, y), velocity, size, shape, colour, angle=angle)
        self._own_colours[slot] = colour
        self._entry[slot] = -1
        self._age[slot] = 0
        if inside:
            self._entry[slot] = self._entries
            self._entries += 1
        return True

    def _update_target(self) -> int | None:
        """Set the target flag on the most recently entered object in the frame; its slot."""
        self._flags[1:] = 0.0
        best, best_key = None, None
        for slot in np.flatnonzero(self._ids[1:] >= 0) + 1:
            if self._entry[slot] < 0 or self._outside(slot):
                continue
            key = (self._entry[slot], self._ids[slot])
            if best_key is None or key > best_key:
                best, best_key = int(slot), key
        if best is not None:
            self._flags[best] = 1.0
        if self.config.mark_target:  # the target yellow, every other object its own colour
            for slot in np.flatnonzero(self._ids[1:] >= 0) + 1:
                colour = np.array(TARGET_COLOUR, np.uint8) if slot == best else self._own_colours[slot]
                self._colours[slot] = colour
                self._lut[slot + 1] = colour
        return best

    def _relevance(self) -> tuple[np.ndarray, ...]:
        """The target; then the other objects, the most recently entered first (those not
        entered yet last); then empty slots."""
        present = self._ids[1:] >= 0
        return (~present, self._flags[1:] <= 0, self._entry[1:] < 0, -self._entry[1:])

    def _touches(self, slot: int) -> bool:
        """The avatar square meets the circumscribed circle of ``slot``."""
        half = self.config.avatar_size / 2.0
        delta = np.abs(self._pos[slot] - self._pos[0])
        gap = np.maximum(delta - half, 0.0)
        return float(gap @ gap) <= (self._sizes[slot] / 2.0) ** 2

    def _advance(self, action: Any) -> tuple[float, dict[str, Any]]:
        cfg = self.config
        # avatar
        if cfg.continuous:
            move = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        else:
            move = self._MOVES[int(action)]
        half = cfg.avatar_size / 2.0
        old = self._pos[0].copy()
        lo = half - 0.5
        new = np.clip(old + cfg.avatar_speed * move, lo, (cfg.width - 0.5 - half, cfg.height - 0.5 - half))
        self._pos[0], self._vel[0] = new, new - old
        # objects: move, enter, leave
        crossing = (cfg.size_range[1] + 2.0) / max(cfg.speed_range[1], 1e-6)
        max_outside_age = int(math.ceil(4.0 * crossing)) + 2
        for slot in np.flatnonzero(self._ids[1:] >= 0) + 1:
            self._pos[slot] += self._vel[slot]
            self._age[slot] += 1
            outside = self._outside(slot)
            if not outside and self._entry[slot] < 0:
                self._entry[slot] = self._entries
                self._entries += 1
            elif outside and (self._entry[slot] >= 0 or self._age[slot] > max_outside_age):
                self._clear(slot)
                self._entry[slot] = -1
        # reward
        reward = -cfg.time_penalty
        reached: list[int] = []
        target = self._update_target()
        if target is not None and self._touches(target):
            reward += cfg.reach_reward
            reached.append(int(self._ids[target]))
            self._clear(target)
            self._entry[target] = -1
        # spawning into the slots that were empty before this step's removals count too
        for slot in np.flatnonzero(self._ids[1:] < 0) + 1:
            if self.np_random.random() < cfg.enter_rate:
                self._spawn()
        self._update_target()
        return reward, {"reached": reached}


class GroundTruthObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace a task's frame by its ground-truth state vector (the upper-reference input).

    The observation is ``env.unwrapped.state()``, a ``Box(-STATE_BOUND, STATE_BOUND,
    (state_dim,), float32)`` equal to ``info["state"]`` (layout in the module docstring), so
    that ``PPO("MlpPolicy", GroundTruthObservation(env))`` trains on true object positions.

    :param env: a task env (:class:`ObjectTaskEnv`), possibly wrapped.

    >>> env = GroundTruthObservation(gym.make("MintTasks/Catch-v0"))  # doctest: +SKIP
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        base = env.unwrapped
        if not isinstance(base, ObjectTaskEnv):
            raise TypeError(
                "GroundTruthObservation needs an object task (envs.tasks.ObjectTaskEnv, e.g. "
                f"MintTasks/Catch-v0) underneath, got {type(base).__name__}"
            )
        self.observation_space = base.state_space

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """Ignore the frame; return the current ground-truth state vector."""
        return self.env.unwrapped.state()
