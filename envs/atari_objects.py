"""Object ground truth for ALE Atari games, read from the emulator's RAM.

Each supported game has a *RAM reader*: a function from the 128-byte RAM of the Atari 2600 to
the game's objects, each with a category (``"player"``, ``"ball"``, ``"ghost"``, ...), an RGB
colour and a box ``(x, y, w, h)`` in the pixels of the full 210×160 ALE frame (``x`` the first
column, ``y`` the first row, ``w`` × ``h`` pixels). The RAM addresses are the published
layouts (OCAtari's ``ocatari/ram/<game>.py``); the offsets from RAM value to pixel, the box
sizes and the ghost colours were checked here against the rendered frames, and differ from
OCAtari's by a pixel where the frame says so (see ``docs/atari_objects.md``, which also gives
the measured agreement with OCAtari).

:class:`AtariObjects` puts these objects in ``info["objects"]`` at ``reset`` and ``step``, with
the keys of the synthetic scenes (:mod:`envs.scenes`, :mod:`envs.tasks`), so that
``mint_rl.metrics`` and the keypoint evaluation run on Atari unchanged: the boxes become
boolean masks at the observation's frame size.

========  ============================================================================
game      slots (category, in slot order)
========  ============================================================================
Boxing    player (white boxer), enemy (black boxer)
Breakout  player (paddle), ball
Freeway   player (left chicken), chicken (right chicken), car × 10 (lanes top to bottom)
MsPacman  player (Ms Pac-Man), ghost × 4 (orange, cyan, pink, red), fruit
Pong      player (right, green paddle), enemy (left, orange paddle), ball
========  ============================================================================

Boxes cover the sprite's body as drawn (a boxer's body without a punching arm, Breakout's
full-size paddle); they are clipped to the game's playfield (Pong's walls, Breakout's side walls,
the black HMOVE bar of Freeway, the maze of Ms Pac-Man), so a box is the part of the object that
can be seen. Known limits, all from the hardware or the RAM layout: the Atari draws several Ms
Pac-Man ghosts that share rows on alternate frames (a ghost can be present and in its box but not
drawn in a given frame; frightened ghosts are drawn blue, their ``colours`` stay nominal);
Freeway's right-moving cars are drawn one frame behind their RAM position (up to 1 px); Breakout's
half-size paddle (after the ball reaches the top wall) is not modelled; Breakout's bricks are not
objects here.

Ground truth (``info["objects"]``, ``N`` = the game's number of slots)
----------------------------------------------------------------------
The keys of :mod:`envs.scenes` (same shapes and dtypes), with these meanings on Atari:

===============  ==============  ============================================================
key              shape, dtype    meaning
===============  ==============  ============================================================
``ids``          (N,) int64      the slot index when present, -1 otherwise
``present``      (N,) bool       the RAM says the object exists
``visible``      (N,) bool       present, and its box has pixels in the playfield
``static``       (N,) bool       all False (every object here can move)
``centres``      (N, 2) float32  box centre, normalised (x, y); 0 for an absent slot
``centres_px``   (N, 2) float32  the same in pixels of the observation frame
``velocities``   (N, 2) float32  change of ``centres`` since the previous step (normalised
                                 units per step); 0 at reset and where the object was absent
``angles``       (N,) float32    0
``sizes``        (N,) float32    box diagonal, observation pixels
``shapes``       (N,) int64      ``envs.tasks.TASK_SHAPES.index("bar")`` (an axis-aligned
                                 rectangle); -1 for an absent slot
``colours``      (N, 3) uint8    the object's nominal RGB colour; 0 for an absent slot
``areas``        (N,) int64      pixels of the mask at the observation size
``masks``        (N, H, W) bool  the box at the observation size (only when ``return_masks``)
``pooled_masks`` (N, H, W) bool  the union of the object's boxes in the emulator frames the
                                 observation max-pools (see below), where it is visible in the
                                 last one (only when ``return_masks``)
===============  ==============  ============================================================

plus, as :mod:`envs.tasks` does, ``agent`` (N,) bool (the player's slot), and for Atari
``categories`` (N,) str (the category of each slot, also for absent slots) and ``boxes``
(N, 4) int64, the ``(x, y, w, h)`` boxes in the full 210×160 frame (zeros when absent).

A box becomes a mask at an ``H × W`` observation by keeping the pixels whose centre lies inside
the scaled box; when that keeps none (a 2×4 ball in an 84×84 frame can fall between pixel
centres), the one pixel under the box's centre. Positions follow the project's convention:
``(x, y)``, y down, normalised to [-1, 1], pixel-centre aligned
(:func:`mint_rl.coords.pixel_to_normalised`).

The RAM is read after each step, that is after the last emulator frame of the step; with
:func:`envs.atari.make_atari_env`'s frame skip the observation is the maximum of the last two
frames, so a fast object (the ball) can show a second image one frame behind its box. For that,
``pooled_masks`` holds everything the observation draws of each object: the union of its boxes after
both pooled frames where it is visible in the last one, read from :class:`envs.atari.RamHistory` (which
``make_atari_env`` puts under its frame skip). When the observation is one frame (after a plain reset; a
reset with :class:`envs.atari.FireOnReset` ends on a pooled FIRE step) and in an env without a ``RamHistory``
(no frame skip, or the emulator's own ``frameskip``) ``pooled_masks`` equals ``masks``. A step that ends the
episode inside the frame skip returns ``AtariPreprocessing``'s observation of the step before, which neither
``masks`` nor ``pooled_masks`` describes.

Example::

    >>> import gymnasium as gym, ale_py
    >>> gym.register_envs(ale_py)
    >>> env = AtariObjects(gym.make("ALE/Pong-v5"))
    >>> frame, info = env.reset(seed=0)
    >>> info["objects"]["categories"].tolist(), info["objects"]["masks"].shape
    (['player', 'enemy', 'ball'], (3, 210, 160))
    >>> from envs.atari import make_atari_env
    >>> env = make_atari_env("ALE/Breakout-v5", wrappers=[AtariObjects])   # 84×84 masks
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from mint_rl.coords import normalised_to_pixel, pixel_to_normalised

from .atari import RamHistory, find_wrapper
from .tasks import TASK_SHAPES

__all__ = [
    "ATARI_FRAME_SIZE",
    "SUPPORTED_GAMES",
    "AtariObject",
    "AtariObjects",
    "GameLayout",
    "atari_game_name",
    "box_mask",
    "game_layout",
    "read_objects",
]

ATARI_FRAME_SIZE: tuple[int, int] = (210, 160)
"""``(height, width)`` of the full ALE frame, the frame of the RAM readers' boxes."""

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class AtariObject:
    """One object read from the RAM.

    :param slot: the object's fixed slot in its game's :class:`GameLayout`.
    :param category: e.g. ``"player"``, ``"ball"``, ``"ghost"``.
    :param box: ``(x, y, w, h)`` in pixels of the 210×160 frame, clipped to the game's playfield;
        ``w`` or ``h`` is 0 when the object is present but outside the playfield.
    :param colour: the object's nominal RGB colour.
    """

    slot: int
    category: str
    box: Box
    colour: RGB

    @property
    def visible(self) -> bool:
        """The box has pixels in the playfield."""
        return self.box[2] > 0 and self.box[3] > 0


@dataclass(frozen=True)
class GameLayout:
    """The fixed object slots of a game and its RAM reader.

    :param game: the game's ALE name, e.g. ``"MsPacman"``.
    :param categories: the category of each slot.
    :param colours: the nominal RGB colour of each slot's object.
    :param playfield: ``(x0, y0, x1, y1)``, the half-open pixel rectangle where objects can be
        seen; boxes are clipped to it.
    :param read: the reader, ``read(ram)`` with ``ram`` an ``int64`` copy of the 128 bytes,
        returning the present objects (any order).
    :param agent_slot: the slot the agent controls.
    """

    game: str
    categories: tuple[str, ...]
    colours: tuple[RGB, ...]
    playfield: tuple[int, int, int, int]
    read: Callable[[np.ndarray], list[AtariObject]]
    agent_slot: int = 0

    @property
    def num_slots(self) -> int:
        return len(self.categories)

    def obj(self, slot: int, x: int, y: int, w: int, h: int) -> AtariObject:
        """The object of ``slot`` with the box ``(x, y, w, h)`` clipped to the playfield."""
        x0, y0, x1, y1 = self.playfield
        left, top = min(max(x, x0), x1), min(max(y, y0), y1)
        right, bottom = max(min(x + w, x1), left), max(min(y + h, y1), top)
        box = (int(left), int(top), int(right - left), int(bottom - top))
        return AtariObject(slot, self.categories[slot], box, self.colours[slot])


# ------------------------------------------------------------------------------------ readers
# Each reader takes the RAM as int64 (no uint8 wrap-around in the offsets). Addresses are
# indices into the 128 bytes of RAM (0x80 + index on the console); comments name what they hold.


def _read_pong(ram: np.ndarray) -> list[AtariObject]:
    # 51: player paddle y, 50: enemy paddle y, 49/54: ball x/y (54 == 0: no ball in play).
    # The player's paddle is drawn on even rows only; both paddles are 16 rows, clipped by the walls.
    layout = _LAYOUTS["Pong"]
    objects = [layout.obj(0, 140, (ram[51] - 13) & ~1, 4, 16),
               layout.obj(1, 16, ram[50] - 15, 4, 16)]
    if ram[54] != 0 and ram[49] > 49:
        objects.append(layout.obj(2, ram[49] - 49, ram[54] - 14, 2, 4))
    return objects


def _read_breakout(ram: np.ndarray) -> list[AtariObject]:
    # 72: paddle x, 99/101: ball x/y (101 == 0: no ball in play).
    layout = _LAYOUTS["Breakout"]
    objects = [layout.obj(0, ram[72] - 47, 189, 16, 4)]
    if ram[101] != 0 and ram[101] + 9 <= 196:
        objects.append(layout.obj(1, ram[99] - 49, ram[101] + 9, 2, 4))
    return objects


def _read_boxing(ram: np.ndarray) -> list[AtariObject]:
    # 32/34: player x/y, 33/35: enemy x/y (top-left of the boxer's body; arms reach beyond it).
    layout = _LAYOUTS["Boxing"]
    return [layout.obj(0, ram[32] + 5, ram[34] + 38, 14, 46),
            layout.obj(1, ram[33] + 3, ram[35] + 37, 14, 46)]


def _read_mspacman(ram: np.ndarray) -> list[AtariObject]:
    # 10/16: Ms Pac-Man x/y; 6..9 / 12..15: ghosts x/y (orange, cyan, pink, red); 11/17: fruit x/y
    # (0: no fruit); 47 > 0 while the ghosts are in play, 19 + 1 of them are present.
    # All sprites are 8 x 10 at (x - 12, y + 1); Ms Pac-Man is drawn a frame behind her RAM position,
    # so while she moves her sprite can be 1-2 px off the box.
    layout = _LAYOUTS["MsPacman"]
    objects = [layout.obj(0, ram[10] - 12, ram[16] + 1, 8, 10)]
    if ram[47] > 0:
        for i in range(min(int(ram[19]) + 1, 4)):
            objects.append(layout.obj(1 + i, ram[6 + i] - 12, ram[12 + i] + 1, 8, 10))
    if ram[11] > 0 and ram[17] > 0:
        objects.append(layout.obj(5, ram[11] - 12, ram[17] + 1, 8, 10))
    return objects


def _read_freeway(ram: np.ndarray) -> list[AtariObject]:
    # 14/15: left/right chicken, rows climbed from the bottom; 117 - i: x of the car in lane i
    # (lanes top to bottom, 16 rows apart). Cars wrap around at the right edge of the screen. The
    # cars of the top five lanes (driving left) are drawn a frame behind their RAM position, 0 or
    # 1 px right of it: their box is 9 px wide to hold both.
    layout = _LAYOUTS["Freeway"]
    objects = [layout.obj(0, 44, 193 - ram[14], 7, 8), layout.obj(1, 108, 193 - ram[15], 7, 8)]
    for i in range(10):
        objects.append(layout.obj(2 + i, (ram[117 - i] - 3) % 160, 28 + 16 * i, 9 if i < 5 else 8, 8))
    return objects


_FREEWAY_CAR_COLOURS: tuple[RGB, ...] = (
    (167, 26, 26), (180, 231, 117), (105, 105, 15), (228, 111, 111), (24, 26, 167),
    (162, 98, 33), (84, 92, 214), (184, 50, 50), (135, 183, 84), (210, 210, 64),
)

_LAYOUTS: dict[str, GameLayout] = {
    layout.game: layout
    for layout in (
        GameLayout("Boxing", ("player", "enemy"), ((214, 214, 214), (0, 0, 0)), (0, 0, 160, 210), _read_boxing),
        GameLayout("Breakout", ("player", "ball"), ((200, 72, 72), (200, 72, 72)), (8, 32, 152, 210),
                   _read_breakout),
        GameLayout("Freeway", ("player", "chicken") + ("car",) * 10,
                   ((252, 252, 84), (252, 252, 84)) + _FREEWAY_CAR_COLOURS, (8, 0, 160, 210), _read_freeway),
        GameLayout("MsPacman", ("player",) + ("ghost",) * 4 + ("fruit",),
                   ((210, 164, 74), (180, 122, 48), (84, 184, 153), (198, 89, 179), (200, 72, 72), (184, 50, 50)),
                   (0, 0, 160, 172), _read_mspacman),
        GameLayout("Pong", ("player", "enemy", "ball"), ((92, 186, 92), (213, 130, 74), (236, 236, 236)),
                   (0, 34, 160, 194), _read_pong),
    )
}

SUPPORTED_GAMES: tuple[str, ...] = tuple(sorted(_LAYOUTS))
"""The games with a RAM reader, by their ALE names (``ALE/<game>-v5``)."""


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def game_layout(game: str) -> GameLayout:
    """The :class:`GameLayout` of ``game``.

    :param game: an ALE game name (``"MsPacman"``; case, ``_`` and ``-`` are ignored, so the ROM
        name ``"ms_pacman"`` works too) or an env id such as ``"ALE/MsPacman-v5"``.
    :raises ValueError: for a game without a reader; the message lists :data:`SUPPORTED_GAMES`.
    """
    if not isinstance(game, str):
        raise TypeError(f"game must be a str such as 'Pong' or 'ALE/Pong-v5', got {type(game).__name__}")
    name = _game_from_id(game)
    for layout in _LAYOUTS.values():
        if _key(layout.game) == _key(name):
            return layout
    raise ValueError(f"no RAM object reader for the Atari game {game!r}; supported games: "
                     f"{', '.join(SUPPORTED_GAMES)} (as ALE/<game>-v5)")


def _game_from_id(env_id: str) -> str:
    """``"ALE/MsPacman-v5"``, ``"MsPacmanNoFrameskip-v4"`` → ``"MsPacman"``; a bare name is kept."""
    name = env_id.split("/")[-1].split("-")[0]
    for suffix in ("NoFrameskip", "Deterministic"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _check_ram(ram: Any) -> np.ndarray:
    ram = np.asarray(ram)
    if ram.shape != (128,) or not np.issubdtype(ram.dtype, np.integer):
        raise ValueError(f"ram must be the 128 bytes of Atari RAM (env.unwrapped.ale.getRAM(), uint8), got "
                         f"shape {ram.shape} and dtype {ram.dtype}")
    if ram.min() < 0 or ram.max() > 255:
        raise ValueError(f"ram values must be bytes in [0, 255], got [{ram.min()}, {ram.max()}]")
    return ram.astype(np.int64)


def read_objects(game: str, ram: np.ndarray | Sequence[int]) -> list[AtariObject]:
    """The objects of ``game`` present in ``ram``, in slot order.

    :param game: an ALE game name or env id (see :func:`game_layout`).
    :param ram: the 128 RAM bytes, e.g. ``env.unwrapped.ale.getRAM()``.
    :return: one :class:`AtariObject` per present object, boxes in the 210×160 frame.

    >>> ram = np.zeros(128, np.uint8); ram[51] = 120
    >>> read_objects("Pong", ram)[0].box
    (140, 106, 4, 16)
    """
    layout = game_layout(game)
    return sorted(layout.read(_check_ram(ram)), key=lambda o: o.slot)


def atari_game_name(env: gym.Env) -> str:
    """The ALE game name of ``env`` (any wrapper stack over an ``ale_py`` env), e.g. ``"MsPacman"``.

    Taken from the env id (``ALE/MsPacman-v5``), or else the ROM name (``ms_pacman``).

    :raises TypeError: when ``env`` is not an ALE env.
    """
    base = env.unwrapped
    if not hasattr(base, "ale"):
        raise TypeError(f"AtariObjects needs an ALE Atari env (gym.make('ALE/Pong-v5'), envs.atari.make_atari_env); "
                        f"got {base!r} without an emulator (.ale)")
    if base.spec is not None:
        return _game_from_id(base.spec.id)
    rom = str(getattr(base, "_game", ""))
    return "".join(part.capitalize() for part in rom.split("_"))


def _box_span(start: int, length: int, native: int, target: int) -> slice:
    """Target pixels whose centre lies in the native span ``[start, start + length)``, or the one
    pixel under its centre when there is none."""
    scale = target / native
    lo = math.ceil(start * scale - 0.5)
    hi = math.ceil((start + length) * scale - 0.5)
    if hi <= lo:
        lo = min(int((start + length / 2.0) * scale), target - 1)
        hi = lo + 1
    return slice(max(lo, 0), min(hi, target))


def box_mask(box: Box, frame_size: tuple[int, int] = ATARI_FRAME_SIZE) -> np.ndarray:
    """The ``(H, W)`` bool mask of a 210×160-frame box at another frame size.

    Keeps the pixels whose centre lies inside the scaled box, or the one pixel under the box's
    centre when none does, so a visible object never has an empty mask.

    :param box: ``(x, y, w, h)`` in pixels of the 210×160 frame.
    :param frame_size: ``(H, W)`` of the mask.

    >>> int(box_mask((140, 106, 4, 16)).sum()), int(box_mask((80, 100, 2, 4), (84, 84)).sum())
    (64, 2)
    """
    height, width = frame_size
    mask = np.zeros((height, width), dtype=bool)
    x, y, w, h = box
    if w > 0 and h > 0:
        mask[_box_span(y, h, ATARI_FRAME_SIZE[0], height), _box_span(x, w, ATARI_FRAME_SIZE[1], width)] = True
    return mask


def _ram_history(env: gym.Env) -> Any:
    """The :class:`envs.atari.RamHistory` in ``env``'s wrapper chain, or None."""
    return find_wrapper(env, RamHistory)


def _frame_size_of(space: gym.Space) -> tuple[int, int] | None:
    """``(H, W)`` of image observations ``(H, W)``, ``(H, W, 3)``, ``(S, H, W)`` or ``(S, H, W, 3)``."""
    shape = getattr(space, "shape", None)
    if not isinstance(space, gym.spaces.Box) or shape is None or len(shape) < 2:
        return None
    if len(shape) >= 3 and shape[-1] in (1, 3, 4):
        return int(shape[-3]), int(shape[-2])
    return int(shape[-2]), int(shape[-1])


class AtariObjects(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds ``info["objects"]``, the RAM ground truth of the game's objects, at reset and step.

    Observations, rewards and spaces are unchanged. Keys, shapes and conventions are in the
    module docstring; they are those of the object scenes, so ``info["objects"]["masks"]`` and
    ``["visible"]`` go to ``mint_rl.metrics.video_metrics`` as they are.

    :param env: an ALE env or a wrapper stack over one (e.g. :func:`envs.atari.make_atari_env`;
        pass ``wrappers=[AtariObjects]`` there for vector envs, one per sub-env).
    :param frame_size: ``(H, W)`` of the masks and pixel centres; by default the observation's
        frame size (``(84, 84)`` after the standard preprocessing, ``(210, 160)`` for raw frames).
        Needed when the observation is not an image (``obs_type="ram"``).
    :param game: the game's ALE name; by default read from the env (:func:`atari_game_name`).
    :param return_masks: put the ``(N, H, W)`` masks in ``info["objects"]``.
    :raises TypeError: when ``env`` is not an ALE env.
    :raises ValueError: for a game without a reader (the message lists :data:`SUPPORTED_GAMES`)
        or a bad ``frame_size``.
    """

    def __init__(self, env: gym.Env, frame_size: int | tuple[int, int] | None = None, *,
                 game: str | None = None, return_masks: bool = True) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, frame_size=frame_size, game=game, return_masks=return_masks)
        gym.Wrapper.__init__(self, env)
        name = atari_game_name(env) if game is None else game
        self.layout = game_layout(name)
        if frame_size is None:
            frame_size = _frame_size_of(env.observation_space)
            if frame_size is None:
                raise ValueError(f"AtariObjects({self.layout.game}): the observation space {env.observation_space} "
                                 "holds no image frames; pass frame_size=(H, W), the size of the masks")
        elif isinstance(frame_size, (int, np.integer)) and not isinstance(frame_size, bool):
            frame_size = (int(frame_size), int(frame_size))
        try:
            height, width = (int(v) for v in frame_size)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise ValueError(f"frame_size must be an int or an (H, W) pair of ints, got {frame_size!r}") from None
        if height < 1 or width < 1:
            raise ValueError(f"frame_size must be positive, got {frame_size!r}")
        self.frame_size: tuple[int, int] = (height, width)
        self.return_masks = bool(return_masks)
        n = self.layout.num_slots
        self._categories = np.array(self.layout.categories)
        self._colours = np.array(self.layout.colours, dtype=np.uint8)
        self._agent = np.arange(n) == self.layout.agent_slot
        self._bar = TASK_SHAPES.index("bar")
        self._box_scale = np.array([width / ATARI_FRAME_SIZE[1], height / ATARI_FRAME_SIZE[0]])
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (present, centres) of the last frame
        self._history = _ram_history(env)  # envs.atari.RamHistory under the frame skip, or None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._previous = None
        info["objects"] = self._ground_truth()
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["objects"] = self._ground_truth()
        return obs, reward, terminated, truncated, info

    def _pooled_masks(self, masks: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """``masks`` joined with the boxes of the earlier frame the observation max-pools (where visible in both)."""
        out = masks.copy()
        history = self._history
        if history is not None and history.observation_pooled and len(history.rams) == 2:
            rams = history.rams
            for obj in read_objects(self.layout.game, rams[0]):
                if visible[obj.slot] and obj.visible:
                    out[obj.slot] |= box_mask(obj.box, self.frame_size)
        return out

    def _ground_truth(self) -> dict[str, Any]:
        """``info["objects"]`` for the emulator's current RAM; the velocity reference moves to it."""
        n = self.layout.num_slots
        ram = self.env.unwrapped.ale.getRAM()
        boxes = np.zeros((n, 4), dtype=np.int64)
        present = np.zeros(n, dtype=bool)
        for obj in read_objects(self.layout.game, ram):
            boxes[obj.slot] = obj.box
            present[obj.slot] = True
        visible = present & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        # box centre in the pixel-centre convention: columns x .. x + w - 1 have centre x + (w - 1) / 2
        centres_native = boxes[:, :2] + (np.maximum(boxes[:, 2:], 1) - 1) / 2.0
        centres = np.where(present[:, None], pixel_to_normalised(centres_native, ATARI_FRAME_SIZE), 0.0)
        centres_px = np.where(present[:, None], normalised_to_pixel(centres, self.frame_size), 0.0)
        velocities = np.zeros((n, 2))
        if self._previous is not None:
            was_present, previous = self._previous
            moved = present & was_present
            velocities[moved] = centres[moved] - previous[moved]
        self._previous = (present, centres)
        masks = np.zeros((n, *self.frame_size), dtype=bool)
        for slot in np.flatnonzero(visible):
            masks[slot] = box_mask(tuple(boxes[slot]), self.frame_size)
        objects: dict[str, Any] = {
            "ids": np.where(present, np.arange(n), -1).astype(np.int64),
            "present": present,
            "visible": visible,
            "static": np.zeros(n, dtype=bool),
            "centres": centres.astype(np.float32),
            "centres_px": centres_px.astype(np.float32),
            "velocities": velocities.astype(np.float32),
            "angles": np.zeros(n, dtype=np.float32),
            "sizes": np.where(present, np.hypot(*(boxes[:, 2:] * self._box_scale).T), 0.0).astype(np.float32),
            "shapes": np.where(present, self._bar, -1).astype(np.int64),
            "colours": np.where(present[:, None], self._colours, 0).astype(np.uint8),
            "areas": masks.sum(axis=(1, 2)).astype(np.int64),
            "agent": self._agent.copy(),
            "categories": self._categories.copy(),
            "boxes": boxes,
        }
        if self.return_masks:
            objects["masks"] = masks
            objects["pooled_masks"] = self._pooled_masks(masks, visible)
        return objects
