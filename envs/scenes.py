"""Synthetic object scenes with exact ground truth.

A family of passive Gymnasium environments: each episode is a short video of 2D objects
(circles and regular polygons in distinct saturated colours) moving with real rigid-body
physics (``pymunk``): they collide with each other and with the walls of the frame, some
are static, some enter and leave through the borders, optionally over a textured
background with static distractor patches that carry image entropy but are not objects.
Every ``reset`` and ``step`` returns the ground truth of every object in ``info["objects"]``
so that keypoint methods can be scored against it.

Coordinate convention
---------------------
Positions are ``(x, y)`` with ``y`` pointing down.

* Pixel coordinates (``*_px``): the centre of pixel column ``i`` is at ``x = i`` and the
  centre of pixel row ``j`` at ``y = j``, so the frame covers ``[-0.5, W - 0.5]`` in ``x``
  and ``[-0.5, H - 0.5]`` in ``y``. The physics runs in these coordinates and OpenCV
  rasterises in them too.
* Normalised coordinates: ``x_n = (2 x + 1) / W - 1``, ``y_n = (2 y + 1) / H - 1``, so pixel
  column ``i`` has centre ``(2i + 1) / W - 1`` and the frame edges are at ``-1`` and ``1``
  (pixel-centre aligned, the convention of ``mint_rl`` keypoints).
  See :func:`mint_rl.coords.pixel_to_normalised` and :func:`mint_rl.coords.normalised_to_pixel`.

Rendering and occlusion
-----------------------
Objects are rasterised without anti-aliasing (``cv2.LINE_8`` with sub-pixel ``shift``; the
label-image rendering of :mod:`envs.render`, shared with :mod:`envs.tasks`) into one label
image: slot ``k`` writes the value ``k + 1`` over its pixels, in slot order, so a later slot is
drawn on top of an earlier one. The RGB frame is the background with each
labelled pixel replaced by its object's colour, and ``masks[k] = label == k + 1``: a mask is
exactly the set of pixels of the frame that show object ``k`` (its visible pixels, after
occlusion). Slots are ordered static objects, then moving objects, then entering objects,
so static objects are at the bottom and entering objects on top. Rigid bodies do not
overlap, so occlusion only happens during the small penetrations of a contact.
Background textures and distractor patches are drawn under all objects and are never
labelled.

Ground truth (``info["objects"]``, ``N = SceneConfig.max_objects`` slots)
------------------------------------------------------------------------
===============  ==============  ===========================================================
key              shape, dtype    meaning
===============  ==============  ===========================================================
``ids``          (N,) int64      object id, unique within an episode; -1 for an empty slot
``present``      (N,) bool       the slot holds an object (possibly off-screen)
``visible``      (N,) bool       at least one pixel of the object is in the frame
``static``       (N,) bool       the object never moves
``centres``      (N, 2) float32  centre of mass, normalised (x, y); outside [-1, 1] when the
                                 centre is off-screen; 0 for an empty slot
``centres_px``   (N, 2) float32  the same in pixel coordinates
``velocities``   (N, 2) float32  velocity in normalised units per step
``angles``       (N,) float32    orientation in radians
``sizes``        (N,) float32    diameter of the circumscribed circle, pixels
``shapes``       (N,) int64      index into :data:`SHAPES`; -1 for an empty slot
``colours``      (N, 3) uint8    RGB colour
``areas``        (N,) int64      number of visible pixels
``masks``        (N, H, W) bool  visible pixels (only when ``return_masks``)
===============  ==============  ===========================================================

Scene ids registered in :mod:`envs`: ``MintScenes/Bouncing-v0``,
``MintScenes/Collisions-v0``, ``MintScenes/EnterLeave-v0``, ``MintScenes/Cluttered-v0``.

Example::

    >>> env = ObjectScenesEnv(SceneConfig(n_moving=2, n_static=1))
    >>> frame, info = env.reset(seed=0)
    >>> frame.shape, info["objects"]["masks"].shape
    ((64, 64, 3), (3, 64, 64))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import pymunk
from gymnasium import spaces

from mint_rl.coords import pixel_to_normalised, units_per_pixel

from .render import compose_frame, fill_circle, fill_polygon, label_masks, rotate, shape_vertices, visible_areas

__all__ = [
    "BACKGROUNDS",
    "PALETTE",
    "SHAPES",
    "border_entry",
    "ObjectScenesEnv",
    "SceneConfig",
    "check_min_max",
    "mean_object_area",
]

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "pentagon", "hexagon")
"""Object shapes; ``info["objects"]["shapes"]`` indexes this tuple."""

BACKGROUNDS: tuple[str, ...] = ("plain", "noise", "stripes", "checker", "mixed")
"""Background kinds: a constant colour, static grey noise, stripes, a checkerboard, or
``"mixed"``: one of the three textures drawn at random each episode."""

PALETTE: np.ndarray = np.array(
    [
        (255, 0, 0),  # red
        (0, 220, 0),  # green
        (30, 90, 255),  # blue
        (255, 230, 0),  # yellow
        (255, 0, 255),  # magenta
        (0, 230, 255),  # cyan
        (255, 130, 0),  # orange
        (150, 40, 255),  # violet
    ],
    dtype=np.uint8,
)
"""Object colours (RGB). Objects present together get distinct colours while there are
enough; none of them is grey, so they differ from the grey textured backgrounds."""

# pymunk collision categories
_CAT_OBJECT, _CAT_WALL, _CAT_ENTERING = 1, 2, 4
_WALL_FILTER = pymunk.ShapeFilter(categories=_CAT_WALL, mask=_CAT_OBJECT)
_OBJECT_FILTER = pymunk.ShapeFilter(
    categories=_CAT_OBJECT, mask=_CAT_OBJECT | _CAT_WALL | _CAT_ENTERING
)
_ENTERING_FILTER = pymunk.ShapeFilter(
    categories=_CAT_ENTERING, mask=_CAT_OBJECT | _CAT_ENTERING
)
_PLACEMENT_TRIES = 200
_SPAWN_TRIES = 10


def check_min_max(name: str, value: Any, low: float, integer: bool = False) -> tuple:
    """Validate a config's ``(min, max)`` pair: two numbers with ``low <= min <= max``.

    :param name: the field's name, for the message.
    :param value: the pair to check.
    :param low: the smallest allowed ``min``.
    :param integer: both must be integers.
    :return: ``(min, max)`` as floats, or ints when ``integer``.
    :raises ValueError: naming the field and what is wrong.
    """
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}") from None
    if integer and not all(isinstance(v, (int, np.integer)) for v in (lo, hi)):
        raise ValueError(f"{name} must hold integers, got {value!r}")
    if not (low <= lo <= hi):
        raise ValueError(f"{name} must satisfy {low} <= min <= max, got {value!r}")
    return (int(lo), int(hi)) if integer else (float(lo), float(hi))


def border_entry(edge: int, along: float, margin: float, width: int, height: int) -> tuple[float, float, float]:
    """Where an object enters the frame: just outside border ``edge`` (0 left, 1 right, 2 top, 3 bottom), at
    fraction ``along`` ∈ [0, 1] of that border, its centre ``margin`` px beyond the frame's outer pixel edge.

    :return: ``(x, y, inward)``: the centre in pixels (pixel-centre coordinates, y down) and the heading that
        points straight into the frame, in radians (0 right, π/2 down).
    """
    if edge == 0:  # left, heading right
        return -0.5 - margin, along * (height - 1), 0.0
    if edge == 1:  # right, heading left
        return width - 0.5 + margin, along * (height - 1), math.pi
    if edge == 2:  # top, heading down
        return along * (width - 1), -0.5 - margin, math.pi / 2
    return along * (width - 1), height - 0.5 + margin, -math.pi / 2  # bottom, heading up


@dataclass(frozen=True)
class SceneConfig:
    """Everything that defines a scene family; validated at construction.

    Sizes are in pixels, speeds in pixels per environment step, and all randomness of an
    episode (placement, shapes, colours, textures, entries) comes from the env's seed.

    :param height: frame height H in pixels.
    :param width: frame width W in pixels.
    :param n_moving: objects that move and bounce off each other and off the frame walls.
    :param n_static: objects that never move (other objects bounce off them).
    :param n_entering: slots for objects that enter from outside the frame, cross it without
        seeing the walls, and are removed once fully outside again; an empty slot spawns a
        new object (with a new id) just outside a random border with probability
        ``enter_rate`` per step. At reset each slot is filled with probability 1/2. An object
        deflected before it ever came in is removed after a few frame-crossing times.
    :param enter_rate: per-step spawn probability of an empty entering slot, in [0, 1].
    :param size_range: ``(min, max)`` diameter of an object's circumscribed circle, pixels.
    :param speed_range: ``(min, max)`` initial speed of moving objects, pixels per step;
        entering objects draw from the upper half so that they cross the frame.
    :param keep_speed: clamp every moving object's speed into ``speed_range`` after each
        step, so collisions change directions and exchange speed without the scene freezing
        or speeding up.
    :param shapes: shape names drawn uniformly for each object, from :data:`SHAPES`.
    :param background: one of :data:`BACKGROUNDS`.
    :param background_colour: RGB of the ``"plain"`` background.
    :param n_distractors: static textured patches (noise or coloured stripes) drawn on the
        background each episode; they carry image entropy but are not objects.
    :param distractor_size_range: ``(min, max)`` side of a distractor patch, pixels.
    :param max_steps: the episode is truncated after this many steps.
    :param physics_substeps: physics sub-steps per environment step. Contacts are found
        once bodies overlap, so two bodies can interpenetrate by up to their relative
        displacement per sub-step (about ``2 * speed_range[1] / physics_substeps`` pixels)
        before they are pushed apart; more sub-steps, tighter contacts, slower steps.
    :param return_masks: put the ``(N, H, W)`` visible-pixel masks in ``info["objects"]``;
        off saves a little time per step (areas and visibility are always returned).
    """

    height: int = 64
    width: int = 64
    n_moving: int = 3
    n_static: int = 0
    n_entering: int = 0
    enter_rate: float = 0.05
    size_range: tuple[float, float] = (8.0, 14.0)
    speed_range: tuple[float, float] = (0.5, 2.0)
    keep_speed: bool = True
    shapes: tuple[str, ...] = ("circle", "square", "triangle")
    background: str = "plain"
    background_colour: tuple[int, int, int] = (0, 0, 0)
    n_distractors: int = 0
    distractor_size_range: tuple[int, int] = (8, 20)
    max_steps: int = 200
    physics_substeps: int = 4
    return_masks: bool = True

    def __post_init__(self) -> None:
        def set_(name: str, value: Any) -> None:  # normalise a field of the frozen dataclass
            object.__setattr__(self, name, value)

        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 8:
                raise ValueError(f"{name} must be an integer >= 8 pixels, got {value!r}")
            set_(name, int(value))
        for name in ("n_moving", "n_static", "n_entering", "n_distractors"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            set_(name, int(value))
        if self.max_objects < 1:
            raise ValueError("n_moving + n_static + n_entering must be at least 1 object")
        if self.max_objects > 254:
            raise ValueError(
                f"n_moving + n_static + n_entering = {self.max_objects} exceeds the 254 "
                "object slots of the uint8 label image"
            )
        if not 0.0 <= float(self.enter_rate) <= 1.0:
            raise ValueError(f"enter_rate must be in [0, 1], got {self.enter_rate!r}")
        set_("enter_rate", float(self.enter_rate))

        size_lo, size_hi = check_min_max("size_range", self.size_range, 0.0)
        if size_lo <= 0.0:
            raise ValueError(f"size_range must be positive pixel sizes, got {self.size_range!r}")
        if size_hi > min(self.height, self.width):
            raise ValueError(
                f"size_range max {size_hi} is larger than the {self.height}x{self.width} frame; "
                "lower size_range or raise height/width"
            )
        set_("size_range", (size_lo, size_hi))
        # Rejection sampling of non-overlapping starting positions must succeed: ask for
        # at most half of the frame area in bounding squares of the walled objects.
        walled = self.n_moving + self.n_static
        if walled * (size_hi + 1.0) ** 2 > 0.5 * self.height * self.width:
            raise ValueError(
                f"n_moving + n_static = {walled} objects of up to {size_hi} px do not fit in a "
                f"{self.height}x{self.width} frame; lower n_moving/n_static or size_range"
            )

        speed_lo, speed_hi = check_min_max("speed_range", self.speed_range, 0.0)
        if not isinstance(self.physics_substeps, (int, np.integer)) or self.physics_substeps < 1:
            raise ValueError(
                f"physics_substeps must be an integer >= 1, got {self.physics_substeps!r}"
            )
        set_("physics_substeps", int(self.physics_substeps))
        if speed_hi / self.physics_substeps > size_lo / 2.0:
            raise ValueError(
                f"speed_range max {speed_hi} px/step over {self.physics_substeps} physics_substeps "
                f"moves objects more than half the smallest size ({size_lo} px) per substep, so "
                "they could pass through each other; raise physics_substeps or lower speed_range"
            )
        if self.n_entering > 0 and speed_hi <= 0.0:
            raise ValueError("speed_range max must be > 0 when n_entering > 0 (objects must cross)")
        set_("speed_range", (speed_lo, speed_hi))

        shapes = (self.shapes,) if isinstance(self.shapes, str) else tuple(self.shapes)
        unknown = [s for s in shapes if s not in SHAPES]
        if not shapes or unknown:
            raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {self.shapes!r}")
        set_("shapes", shapes)
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {self.background!r}")
        colour = tuple(self.background_colour)
        if len(colour) != 3 or not all(0 <= int(c) <= 255 for c in colour):
            raise ValueError(f"background_colour must be 3 values in [0, 255], got {colour!r}")
        set_("background_colour", tuple(int(c) for c in colour))
        set_(
            "distractor_size_range",
            check_min_max("distractor_size_range", self.distractor_size_range, 1, integer=True),
        )
        if not isinstance(self.max_steps, (int, np.integer)) or self.max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {self.max_steps!r}")
        set_("max_steps", int(self.max_steps))
        set_("keep_speed", bool(self.keep_speed))
        set_("return_masks", bool(self.return_masks))

    @property
    def max_objects(self) -> int:
        """N: the number of object slots in the ground truth."""
        return self.n_static + self.n_moving + self.n_entering

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (``SceneConfig(**d)`` rebuilds it)."""
        return dataclasses.asdict(self)


class ObjectScenesEnv(gym.Env):
    """A passive video of physically simulated 2D objects with exact ground truth.

    Observations are RGB ``uint8`` frames ``(H, W, 3)``; the action space is ``Discrete(1)``
    (a no-op: the video just plays); the reward is 0; the episode never terminates and is
    truncated after ``config.max_steps`` steps. ``info["objects"]`` carries the ground truth
    described in the module docstring, ``info["step"]`` the step index.

    :param config: the scene family; defaults to ``SceneConfig()``.
    :param render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame).
    :param overrides: :class:`SceneConfig` fields replacing those of ``config``, so that
        ``gym.make("MintScenes/Bouncing-v0", n_moving=5)`` works.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(
        self,
        config: SceneConfig | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        config = SceneConfig() if config is None else config
        if overrides:
            config = dataclasses.replace(config, **overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.config = config
        self.render_mode = render_mode
        height, width = config.height, config.width
        n = config.max_objects
        self.observation_space = spaces.Box(0, 255, (height, width, 3), np.uint8)
        self.action_space = spaces.Discrete(1)

        self._static = np.zeros(n, dtype=bool)
        self._static[: config.n_static] = True
        self._entering = np.zeros(n, dtype=bool)
        self._entering[config.n_static + config.n_moving :] = True
        self._label = np.zeros((height, width), dtype=np.uint8)
        self._lut = np.zeros((n + 1, 3), dtype=np.uint8)  # label value -> RGB
        self._frame: np.ndarray | None = None
        self._space: pymunk.Space | None = None

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new video; returns the first frame ``(H, W, 3)`` and the ground truth."""
        super().reset(seed=seed)
        cfg = self.config
        n = cfg.max_objects
        self._t = 0
        self._next_id = cfg.n_static + cfg.n_moving
        self._bodies: list[pymunk.Body | None] = [None] * n
        self._shape_index = np.full(n, -1, dtype=np.int64)
        self._sizes = np.zeros(n, dtype=np.float64)
        self._local_vertices: list[np.ndarray | None] = [None] * n
        self._colours = np.zeros((n, 3), dtype=np.uint8)
        self._ids = np.full(n, -1, dtype=np.int64)
        self._entered = np.zeros(n, dtype=bool)
        self._age = np.zeros(n, dtype=np.int64)

        self._space = space = pymunk.Space()
        self._add_walls(space)
        self._background = self._make_background()
        placed: list[tuple[float, float, float]] = []  # (x, y, radius) of walled objects
        for slot in range(cfg.n_static + cfg.n_moving):
            self._add_walled_object(slot, placed)
        for slot in np.flatnonzero(self._entering):
            if self.np_random.random() < 0.5:
                self._spawn_entering(int(slot))
        self._render()
        return self._frame.copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance the physics by one step; returns ``(frame, 0.0, False, truncated, info)``."""
        if self._space is None:
            raise RuntimeError("call reset() before step()")
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        cfg = self.config
        dt = 1.0 / cfg.physics_substeps
        for _ in range(cfg.physics_substeps):
            self._space.step(dt)
        if cfg.keep_speed:
            self._clamp_speeds()
        if cfg.n_entering:
            self._update_entering()
        self._t += 1
        self._render()
        truncated = self._t >= cfg.max_steps
        return self._frame.copy(), 0.0, False, truncated, self._info()

    def render(self) -> np.ndarray | None:
        """The current frame ``(H, W, 3)`` uint8 in ``"rgb_array"`` mode, else ``None``."""
        if self.render_mode != "rgb_array" or self._frame is None:
            return None
        return self._frame.copy()

    def close(self) -> None:
        self._space = None

    # ------------------------------------------------------------------ scene building

    def _add_walls(self, space: pymunk.Space) -> None:
        """Four thick static segments whose inner faces are the frame edges."""
        w, h = float(self.config.width), float(self.config.height)
        r = max(w, h)
        lo_x, hi_x, lo_y, hi_y = -0.5, w - 0.5, -0.5, h - 0.5
        segments = [
            ((lo_x - r, lo_y - r), (hi_x + r, lo_y - r)),  # top
            ((lo_x - r, hi_y + r), (hi_x + r, hi_y + r)),  # bottom
            ((lo_x - r, lo_y - r), (lo_x - r, hi_y + r)),  # left
            ((hi_x + r, lo_y - r), (hi_x + r, hi_y + r)),  # right
        ]
        for a, b in segments:
            wall = pymunk.Segment(space.static_body, a, b, r)
            wall.elasticity, wall.friction, wall.filter = 1.0, 0.0, _WALL_FILTER
            space.add(wall)

    def _new_object(self, slot: int, size: float, static: bool) -> tuple[pymunk.Body, pymunk.Shape]:
        """Draw a shape and a colour for ``slot`` and build its (unplaced) body."""
        cfg = self.config
        name = cfg.shapes[int(self.np_random.integers(len(cfg.shapes)))]
        radius = size / 2.0
        body = pymunk.Body(body_type=pymunk.Body.STATIC if static else pymunk.Body.DYNAMIC)
        vertices = shape_vertices(name, size)
        if vertices is None:
            shape: pymunk.Shape = pymunk.Circle(body, radius)
        else:
            shape = pymunk.Poly(body, [tuple(v) for v in vertices.tolist()])
        self._local_vertices[slot] = vertices
        shape.elasticity, shape.friction = 1.0, 0.0
        if not static:
            shape.density = 1.0
        body.angle = float(self.np_random.uniform(0.0, 2.0 * math.pi))
        self._shape_index[slot] = SHAPES.index(name)
        self._sizes[slot] = size
        self._colours[slot] = self._pick_colour()
        self._lut[slot + 1] = self._colours[slot]
        return body, shape

    def _pick_colour(self) -> np.ndarray:
        """A palette colour not used by a present object, while there is one."""
        used = {tuple(self._colours[s]) for s, b in enumerate(self._bodies) if b is not None}
        free = [i for i, c in enumerate(map(tuple, PALETTE)) if c not in used]
        choices = free if free else list(range(len(PALETTE)))
        return PALETTE[choices[int(self.np_random.integers(len(choices)))]]

    def _random_velocity(
        self, lo: float, hi: float, angle: float | None = None
    ) -> tuple[float, float]:
        """A velocity of uniform speed in ``[lo, hi]``, heading ``angle`` (random if None)."""
        speed = float(self.np_random.uniform(lo, hi))
        if angle is None:
            angle = float(self.np_random.uniform(0.0, 2.0 * math.pi))
        return speed * math.cos(angle), speed * math.sin(angle)

    def _add_walled_object(self, slot: int, placed: list[tuple[float, float, float]]) -> None:
        """Place a static or moving object fully inside the frame, apart from the others."""
        cfg = self.config
        static = bool(self._static[slot])
        size = float(self.np_random.uniform(*cfg.size_range))
        radius = size / 2.0
        body, shape = self._new_object(slot, size, static)
        x_hi, y_hi = cfg.width - 0.5 - radius, cfg.height - 0.5 - radius
        for _ in range(_PLACEMENT_TRIES):
            x = float(self.np_random.uniform(radius - 0.5, x_hi))
            y = float(self.np_random.uniform(radius - 0.5, y_hi))
            clearance = [(x - px) ** 2 + (y - py) ** 2 - (radius + pr + 1.0) ** 2 for px, py, pr in placed]
            if all(c > 0.0 for c in clearance):
                break
        # after _PLACEMENT_TRIES failures the last sample is kept: the physics separates it
        placed.append((x, y, radius))
        body.position = (x, y)
        if not static:
            body.velocity = self._random_velocity(*cfg.speed_range)
        shape.filter = _OBJECT_FILTER
        self._space.add(body, shape)
        self._bodies[slot] = body
        self._ids[slot] = slot

    def _spawn_entering(self, slot: int) -> bool:
        """Put a new object just outside a random border, heading in; False if no room."""
        cfg = self.config
        w, h = cfg.width, cfg.height
        size = float(self.np_random.uniform(*cfg.size_range))
        radius = size / 2.0
        margin = radius + 1.0  # fully outside: the circumscribed circle misses the frame
        others = [
            (b.position, self._sizes[s] / 2.0) for s, b in enumerate(self._bodies) if b is not None
        ]
        for _ in range(_SPAWN_TRIES):
            edge = int(self.np_random.integers(4))
            x, y, inward = border_entry(edge, float(self.np_random.uniform(0.0, 1.0)), margin, w, h)
            if all((x - p.x) ** 2 + (y - p.y) ** 2 > (radius + r + 1.0) ** 2 for p, r in others):
                break
        else:
            return False
        body, shape = self._new_object(slot, size, static=False)
        body.position = (x, y)
        heading = inward + float(self.np_random.uniform(-math.pi / 3, math.pi / 3))
        lo, hi = cfg.speed_range
        body.velocity = self._random_velocity(max(lo, (lo + hi) / 2.0), hi, heading)
        shape.filter = _ENTERING_FILTER
        self._space.add(body, shape)
        self._bodies[slot] = body
        self._ids[slot] = self._next_id
        self._next_id += 1
        self._entered[slot] = False
        self._age[slot] = 0
        return True

    def _make_background(self) -> np.ndarray:
        """The static ``(H, W, 3)`` uint8 background of this episode, with distractors."""
        cfg = self.config
        rng = self.np_random
        h, w = cfg.height, cfg.width
        kind = cfg.background
        if kind == "mixed":
            kind = ("noise", "stripes", "checker")[int(rng.integers(3))]
        if kind == "plain":
            background = np.empty((h, w, 3), dtype=np.uint8)
            background[:] = cfg.background_colour
        elif kind == "noise":
            grey = rng.integers(0, 120, size=(h, w, 1), dtype=np.uint8)
            background = np.repeat(grey, 3, axis=2)
        else:
            levels = np.sort(rng.integers(0, 120, size=2)).astype(np.uint8)
            period = float(rng.uniform(4.0, 12.0))
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
            if kind == "stripes":
                angle = float(rng.uniform(0.0, math.pi))
                phase = (xx * math.cos(angle) + yy * math.sin(angle)) / period
                on = (np.floor(phase) % 2).astype(bool)
            else:  # checker
                on = ((np.floor(xx / period) + np.floor(yy / period)) % 2).astype(bool)
            background = np.repeat(np.where(on, levels[1], levels[0])[..., None], 3, axis=2)
            background = background.astype(np.uint8)
        lo, hi = cfg.distractor_size_range
        for _ in range(cfg.n_distractors):
            ph, pw = (int(v) for v in rng.integers(lo, hi + 1, size=2))
            y0 = int(rng.integers(-(ph // 2), h - ph // 2))
            x0 = int(rng.integers(-(pw // 2), w - pw // 2))
            if rng.random() < 0.5:  # colour noise patch
                patch = rng.integers(0, 256, size=(ph, pw, 3), dtype=np.uint8)
            else:  # stripes of two random colours
                colours = rng.integers(0, 256, size=(2, 3), dtype=np.uint8)
                period = int(rng.integers(2, 6))
                vertical = rng.random() < 0.5  # stripes along y (vary with x) or along x
                on = (np.arange(pw if vertical else ph) // period) % 2
                patch = colours[on][None, :, :] if vertical else colours[on][:, None, :]
                patch = np.broadcast_to(patch, (ph, pw, 3))
            ys, xs = slice(max(y0, 0), min(y0 + ph, h)), slice(max(x0, 0), min(x0 + pw, w))
            background[ys, xs] = patch[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        return background

    # ------------------------------------------------------------------ dynamics

    def _clamp_speeds(self) -> None:
        lo, hi = self.config.speed_range
        for slot, body in enumerate(self._bodies):
            if body is None or self._static[slot]:
                continue
            vx, vy = body.velocity
            speed = math.hypot(vx, vy)
            if speed > hi:
                body.velocity = (vx * hi / speed, vy * hi / speed)
            elif speed < lo:
                if speed < 1e-9:  # stopped dead: restart in a random direction
                    body.velocity = self._random_velocity(lo, lo)
                else:
                    body.velocity = (vx * lo / speed, vy * lo / speed)

    def _update_entering(self) -> None:
        """Remove entering objects that have left the frame; spawn into empty slots."""
        cfg = self.config
        w, h = cfg.width, cfg.height
        # an object that has not come in after this many steps (deflected outside) goes
        crossing = (cfg.size_range[1] + 2.0) / max(cfg.speed_range[1], 1e-6)
        max_outside_age = int(math.ceil(4.0 * crossing)) + 2
        for slot in np.flatnonzero(self._entering):
            body = self._bodies[slot]
            if body is None:
                if self.np_random.random() < cfg.enter_rate:
                    self._spawn_entering(int(slot))
                continue
            self._age[slot] += 1
            x, y = body.position
            r = self._sizes[slot] / 2.0
            outside = x + r < -0.5 or x - r > w - 0.5 or y + r < -0.5 or y - r > h - 0.5
            if not outside:
                self._entered[slot] = True
            elif self._entered[slot] or self._age[slot] > max_outside_age:
                self._space.remove(body, *body.shapes)
                self._bodies[slot] = None
                self._ids[slot] = -1
                self._shape_index[slot] = -1
                self._lut[slot + 1] = 0

    # ------------------------------------------------------------------ rendering

    def _render(self) -> None:
        """Rasterise the label image and compose the RGB frame (no anti-aliasing)."""
        cfg = self.config
        w, h = cfg.width, cfg.height
        label = self._label
        label.fill(0)
        n = cfg.max_objects
        self._positions = positions = np.zeros((n, 2), dtype=np.float64)
        self._velocities = velocities = np.zeros((n, 2), dtype=np.float64)
        self._angles = angles = np.zeros(n, dtype=np.float64)
        for slot, body in enumerate(self._bodies):
            if body is None:
                continue
            x, y = body.position
            positions[slot] = x, y
            velocities[slot] = body.velocity
            angle = angles[slot] = body.angle
            r = self._sizes[slot] / 2.0
            if x + r < -1.0 or x - r > w or y + r < -1.0 or y - r > h:
                continue  # fully outside the frame
            vertices = self._local_vertices[slot]
            if vertices is None:
                fill_circle(label, x, y, r, slot + 1)
            else:
                fill_polygon(label, rotate(vertices, angle) + (x, y), slot + 1)
        self._frame = compose_frame(self._background, label, self._lut)

    def _info(self) -> dict[str, Any]:
        cfg = self.config
        present = self._ids >= 0
        areas = visible_areas(self._label, cfg.max_objects)
        centres_px = self._positions
        size = (cfg.height, cfg.width)
        centres = np.where(present[:, None], pixel_to_normalised(centres_px, size), 0.0)
        objects: dict[str, Any] = {
            "ids": self._ids.copy(),
            "present": present,
            "visible": areas > 0,
            "static": self._static & present,
            "centres": centres.astype(np.float32),
            "centres_px": centres_px.astype(np.float32),
            "velocities": (self._velocities * units_per_pixel(size)).astype(np.float32),
            "angles": self._angles.astype(np.float32),
            "sizes": np.where(present, self._sizes, 0.0).astype(np.float32),
            "shapes": np.where(present, self._shape_index, -1),
            "colours": np.where(present[:, None], self._colours, 0).astype(np.uint8),
            "areas": areas,
        }
        if cfg.return_masks:
            objects["masks"] = label_masks(self._label, cfg.max_objects)
        return {"objects": objects, "step": self._t}


def mean_object_area(
    config: SceneConfig,
    n_episodes: int = 4,
    seed: int = 0,
    steps_per_episode: int | None = None,
) -> float:
    """Ā: the mean visible area, in pixels, of the visible ground-truth objects of a scene family.

    Averages ``info["objects"]["areas"]`` over every (frame, visible object) pair of
    ``n_episodes`` episodes (the first seeded with ``seed``), frames taken at reset and
    after every step.

    :param config: the scene family (its ``return_masks`` is ignored).
    :param n_episodes: episodes to sample.
    :param seed: seed of the first reset.
    :param steps_per_episode: steps per episode; ``config.max_steps`` when None.
    :return: the mean area in pixels.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    steps = config.max_steps if steps_per_episode is None else int(steps_per_episode)
    env = ObjectScenesEnv(dataclasses.replace(config, return_masks=False))
    total, count = 0, 0
    for episode in range(n_episodes):
        _, info = env.reset(seed=seed if episode == 0 else None)
        for t in range(steps + 1):
            if t > 0:
                _, _, _, _, info = env.step(0)
            areas = info["objects"]["areas"]
            total += int(areas.sum())
            count += int(np.count_nonzero(areas))
    env.close()
    if count == 0:
        raise ValueError("no object was visible in the sampled frames; cannot average their area")
    return total / count
