"""RAM object ground truth on Atari (``envs/atari_objects.py``), checked against the rendered frames.

For every supported game a random policy plays a few hundred agent steps from a fixed seed, and the
boxes read from the RAM are compared with the frame the emulator drew: the pixels of each object's
colour around its box must have their centroid inside the box and within a pixel or so of the box
centre (a box shifted by its own width fails the same check), the player must move where the
actions send it, and masks, centres and velocities must agree with the boxes. The comparison with
OCAtari runs only where ``ocatari`` is installed (docs/atari_objects.md says how).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from envs.atari import PoolingMarker, RamHistory, make_atari_env
from envs.atari_objects import (
    ATARI_FRAME_SIZE,
    SUPPORTED_GAMES,
    AtariObjects,
    _ram_history,
    box_mask,
    game_layout,
    read_objects,
)
from envs.scenes import ObjectScenesEnv, SceneConfig
from envs.tasks import TASK_SHAPES
from mint_rl.coords import pixel_to_normalised
from mint_rl.metrics import video_metrics

STEPS = 300  # random agent steps per game (frame skip 4: 1200 emulator frames)
SEED = 0

# Mean |colour centroid - box centre| (px) allowed per game: the sprites are drawn pixel-exactly at
# the RAM position in Pong, Breakout and Freeway (measured: <= 0.5 px); Ms Pac-Man is drawn a frame
# behind her RAM position (0.5 px), a boxer's arms pull the centroid off the body (0.9 px).
CENTRE_TOLERANCE_PX = {"Pong": 0.6, "Breakout": 0.6, "Freeway": 0.6, "MsPacman": 1.0, "Boxing": 1.5}

# Slots that a random policy must show drawn in at least this many frames of the play (the fruit
# of Ms Pac-Man needs many eaten pills and is not seen); the ghosts flicker, so fewer frames.
MIN_DRAWN_FRAMES = 100


def _ale(game: str, **kwargs: Any) -> gym.Env:
    import ale_py

    gym.register_envs(ale_py)
    return gym.make(f"ALE/{game}-v5", **kwargs)


def _record(game: str, return_masks: bool = False) -> list[tuple[np.ndarray, dict[str, Any], bool]]:
    """Frames (210×160 RGB), ``info["objects"]`` and "came from a reset" of a seeded random play."""
    env = AtariObjects(_ale(game), return_masks=return_masks)
    env.action_space.seed(SEED)
    frame, info = env.reset(seed=SEED)
    play = [(frame, info["objects"], True)]
    for _ in range(STEPS):
        frame, _, terminated, truncated, info = env.step(env.action_space.sample())
        play.append((frame, info["objects"], False))
        if terminated or truncated:
            frame, info = env.reset()
            play.append((frame, info["objects"], True))
    env.close()
    return play


_play = functools.lru_cache(maxsize=None)(_record)  # without masks (12 × 210 × 160 per Freeway frame)


def _colour_centroid(frame: np.ndarray, objects: dict[str, Any], slot: int, game: str, shift: int = 0,
                     window: int = 8) -> np.ndarray | None:
    """``(x, y)`` centroid of the pixels of ``slot``'s colour within ``window`` px of its box (moved
    ``shift`` px right) inside the game's playfield, leaving out the boxes of other objects of the same
    colour (Breakout's ball and paddle); None where no such pixel is drawn."""
    layout = game_layout(game)
    x, y, w, h = (int(v) for v in objects["boxes"][slot])
    x += shift
    colour = objects["colours"][slot]
    keep = np.zeros(frame.shape[:2], dtype=bool)
    x0, y0, x1, y1 = layout.playfield
    keep[y0:y1, x0:x1] = True
    for other in np.flatnonzero(objects["visible"]):
        if other != slot and np.array_equal(objects["colours"][other], colour):
            ox, oy, ow, oh = objects["boxes"][other]
            keep[oy:oy + oh, ox:ox + ow] = False
    rows, cols = slice(max(y - window, 0), y + h + window), slice(max(x - window, 0), x + w + window)
    ys, xs = np.nonzero(np.all(frame[rows, cols] == colour, axis=-1) & keep[rows, cols])
    if len(xs) == 0:
        return None
    return np.array([xs.mean() + cols.start, ys.mean() + rows.start])


def _frame_agreement(game: str, shift_by_width: bool = False) -> dict[int, tuple[int, float, float]]:
    """Per slot: frames where the object is drawn near its box, share of them with the colour centroid
    inside the box, mean |centroid - box centre| in px (boxes moved right by their width + 3 px when
    ``shift_by_width``)."""
    result = {}
    for slot in range(game_layout(game).num_slots):
        inside, errors = [], []
        for frame, objects, _ in _play(game):
            if not objects["visible"][slot]:
                continue
            x, y, w, h = (int(v) for v in objects["boxes"][slot])
            shift = w + 3 if shift_by_width else 0
            centroid = _colour_centroid(frame, objects, slot, game, shift=shift)
            if centroid is None:
                continue
            centre = np.array([x + shift + (w - 1) / 2, y + (h - 1) / 2])
            inside.append(abs(centroid[0] - centre[0]) <= w / 2 and abs(centroid[1] - centre[1]) <= h / 2)
            errors.append(np.abs(centroid - centre).mean())
        result[slot] = (len(inside), float(np.mean(inside)) if inside else np.nan,
                        float(np.mean(errors)) if errors else np.nan)
    return result


# ------------------------------------------------------------------------------- the frame


@pytest.mark.parametrize("game", SUPPORTED_GAMES)
def test_boxes_sit_on_the_drawn_objects(game: str) -> None:
    """The pixels of each object's colour near its box are centred in it, to a pixel or so."""
    layout = game_layout(game)
    agreement = _frame_agreement(game)
    for slot, (drawn, inside, error) in agreement.items():
        name = f"{game} slot {slot} ({layout.categories[slot]})"
        if layout.categories[slot] == "fruit":
            continue  # not reached by a random policy in 300 steps
        assert drawn >= MIN_DRAWN_FRAMES, f"{name}: drawn near its box in only {drawn} frames"
        assert inside >= 0.98, f"{name}: colour centroid inside the box in only {inside:.1%} of {drawn} frames"
        assert error <= CENTRE_TOLERANCE_PX[game], f"{name}: mean |centroid - box centre| = {error:.2f} px"


@pytest.mark.parametrize("game", ["Pong", "Breakout", "MsPacman", "Freeway"])
def test_the_frame_check_rejects_shifted_boxes(game: str) -> None:
    """The check above can fail: boxes moved right by their own width miss the objects."""
    for slot, (drawn, inside, _) in _frame_agreement(game, shift_by_width=True).items():
        if drawn:
            assert inside <= 0.2, f"{game} slot {slot}: a shifted box still holds the object ({inside:.1%})"


@pytest.mark.parametrize("game", SUPPORTED_GAMES)
def test_boxes_masks_and_centres_agree(game: str) -> None:
    """Boxes stay in the playfield; masks are the boxes; centres and velocities follow the boxes."""
    layout = game_layout(game)
    x0, y0, x1, y1 = layout.playfield
    previous: dict[str, Any] = {}
    for frame, objects, from_reset in _record(game, return_masks=True):
        assert frame.shape == (*ATARI_FRAME_SIZE, 3)
        boxes, visible, present = objects["boxes"], objects["visible"], objects["present"]
        x, y, w, h = boxes.T
        assert np.all(visible <= present)
        inside = (x >= x0) & (y >= y0) & (x + w <= x1) & (y + h <= y1)
        assert np.all(inside[present]), f"{game}: a box leaves the playfield: {boxes[present & ~inside]}"
        assert np.array_equal(visible, present & (w > 0) & (h > 0))
        assert np.array_equal(objects["ids"], np.where(present, np.arange(len(present)), -1))
        assert np.all(boxes[~present] == 0)
        for slot in range(layout.num_slots):
            expected = box_mask(tuple(boxes[slot])) if visible[slot] else np.zeros(ATARI_FRAME_SIZE, bool)
            assert np.array_equal(objects["masks"][slot], expected)
        assert np.array_equal(objects["areas"], np.where(visible, w * h, 0))
        centres_px = np.stack([x + (w - 1) / 2, y + (h - 1) / 2], axis=1)
        np.testing.assert_allclose(objects["centres_px"][visible], centres_px[visible], atol=1e-4)
        np.testing.assert_allclose(objects["centres"][visible],
                                   pixel_to_normalised(centres_px[visible], ATARI_FRAME_SIZE), atol=1e-5)
        assert np.all(np.abs(objects["centres"][visible]) < 1.0)
        if from_reset:
            assert np.all(objects["velocities"] == 0)
        else:
            both = present & previous["present"]
            np.testing.assert_allclose(objects["velocities"][both],
                                       objects["centres"][both] - previous["centres"][both], atol=1e-5)
        previous = objects


# Action scripts: (action, agent steps, expected player displacement sign along x and y; 0: no move).
MOVES = {
    "Pong": [("NOOP", 10, 0, 0), ("RIGHT", 10, 0, -1), ("LEFT", 10, 0, 1)],
    "Breakout": [("NOOP", 10, 0, 0), ("RIGHT", 10, 1, 0), ("LEFT", 10, -1, 0)],
    "Boxing": [("RIGHT", 10, 1, 0), ("DOWN", 10, None, 1), ("LEFT", 10, -1, None), ("UP", 10, 0, -1)],
    "MsPacman": [("NOOP", 60, 0, 0), ("LEFT", 15, -1, 0), ("RIGHT", 15, 1, 0)],
    "Freeway": [("NOOP", 10, 0, 0), ("UP", 15, 0, -1), ("DOWN", 10, 0, 1)],
}


@pytest.mark.parametrize("game", SUPPORTED_GAMES)
def test_the_player_moves_where_the_actions_send_it(game: str) -> None:
    """Holding a direction moves the player's box that way by more than 10 px; NOOP leaves it
    (Ms Pac-Man cannot move before the start tune ends, so her NOOP phase also checks that)."""
    env = AtariObjects(_ale(game, repeat_action_probability=0.0))
    meanings = env.unwrapped.get_action_meanings()
    _, info = env.reset(seed=SEED)
    for action, steps, sign_x, sign_y in MOVES[game]:
        start = info["objects"]["centres_px"][0].copy()
        for _ in range(steps):
            _, _, _, _, info = env.step(meanings.index(action))
        moved = info["objects"]["centres_px"][0] - start
        for axis, sign in enumerate((sign_x, sign_y)):
            if sign == 0:
                assert moved[axis] == 0, f"{game}: {action} moved the player by {moved}"
            elif sign is not None:
                assert sign * moved[axis] > 10, f"{game}: {action} x{steps} moved the player by {moved}"
    env.close()


# ---------------------------------------------------------------- the scenes' keys, resized frames


def test_info_objects_has_the_keys_of_the_object_scenes() -> None:
    scene = ObjectScenesEnv(SceneConfig(n_moving=2))
    _, info = scene.reset(seed=0)
    reference = info["objects"]
    objects = AtariObjects(_ale("Pong")).reset(seed=SEED)[1]["objects"]
    assert set(reference) <= set(objects)
    assert set(objects) - set(reference) == {"agent", "categories", "boxes", "pooled_masks"}
    for key, value in reference.items():
        assert objects[key].dtype == value.dtype, key
        assert objects[key].shape[1:] == value.shape[1:] or key == "masks", key
    assert objects["masks"].shape == (3, *ATARI_FRAME_SIZE)
    assert objects["categories"].tolist() == ["player", "enemy", "ball"]
    assert objects["agent"].tolist() == [True, False, False]
    assert np.all(objects["shapes"][objects["present"]] == TASK_SHAPES.index("bar"))


@pytest.mark.parametrize("kwargs,size", [(dict(), (84, 84)), (dict(rgb=False, frame_stack=4), (84, 84)),
                                         (dict(screen_size=(105, 80)), (105, 80))])
def test_masks_follow_a_resized_observation(kwargs: dict[str, Any], size: tuple[int, int]) -> None:
    """With the standard preprocessing the masks have the observation's frame size, and each visible
    mask's centroid is the object's centre to within one observation pixel."""
    env = make_atari_env("ALE/Breakout-v5", repeat_action_probability=0.0, fire_on_reset=True,
                         wrappers=[AtariObjects], **kwargs)
    env.action_space.seed(SEED)
    _, info = env.reset(seed=SEED)
    seen = 0
    for _ in range(60):
        objects = info["objects"]
        assert objects["masks"].shape == (2, *size)
        for slot in np.flatnonzero(objects["visible"]):
            ys, xs = np.nonzero(objects["masks"][slot])
            assert len(xs) == objects["areas"][slot] > 0
            np.testing.assert_allclose([xs.mean(), ys.mean()], objects["centres_px"][slot], atol=1.0)
            seen += 1
        _, _, _, _, info = env.step(env.action_space.sample())
    assert seen > 60
    env.close()


def test_pooled_masks_hold_both_images_of_the_fast_ball() -> None:
    """make_atari_env's observation max-pools the last two emulator frames, so the ball is drawn twice when it
    moves. A label-free keypoint on the brightest pixel near the ball lands in the last frame's box far less
    often than in ``pooled_masks`` (its boxes in both pooled frames; the ball_ceiling_probe measured 66 % and
    92-95 % over 658 frames). ``pooled_masks`` holds ``masks``, equals them at reset and without a frame skip."""
    env = make_atari_env("ALE/Pong-v5", wrappers=[AtariObjects])
    history = _ram_history(env)  # under AtariPreprocessing
    assert isinstance(history, RamHistory) and isinstance(history.env, gym.Wrapper)
    env.action_space.seed(SEED)
    obs, info = env.reset(seed=SEED)
    np.testing.assert_array_equal(info["objects"]["pooled_masks"], info["objects"]["masks"])
    inside = {"masks": 0, "pooled_masks": 0}
    frames = 0
    for _ in range(400):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        objects = info["objects"]
        assert len(history.rams) == 2 and np.all(objects["pooled_masks"] >= objects["masks"])
        if terminated or truncated or not objects["visible"][2]:
            continue
        near = np.zeros((84, 84), bool)
        ys, xs = np.nonzero(objects["masks"][2])
        near[max(ys.min() - 3, 0):ys.max() + 4, max(xs.min() - 3, 0):xs.max() + 4] = True
        distance = np.abs(obs.astype(float) - np.median(obs.reshape(-1, 3), 0)).max(-1)
        row, col = np.unravel_index(np.argmax(np.where(near, distance, -1.0)), distance.shape)
        for key in inside:
            inside[key] += bool(objects[key][2][row, col])
        frames += 1
    env.close()
    assert frames > 150
    last, pooled = (100.0 * inside[k] / frames for k in ("masks", "pooled_masks"))
    assert pooled >= 85.0 and pooled - last >= 10.0, (last, pooled)
    single = make_atari_env("ALE/Pong-v5", frame_skip=1, wrappers=[AtariObjects])
    assert _ram_history(single) is None
    _, info = single.reset(seed=SEED)
    for _ in range(20):
        _, _, _, _, info = single.step(single.action_space.sample())
        np.testing.assert_array_equal(info["objects"]["pooled_masks"], info["objects"]["masks"])
    single.close()


def test_a_reset_pools_only_when_it_ends_on_a_fire_step() -> None:
    """A plain reset's observation is one frame (pooled_masks == masks); a reset with FireOnReset ends on a FIRE
    step, whose observation pools two frames, so its pooled_masks join the boxes read from both RAMs."""
    plain = make_atari_env("ALE/Breakout-v5", wrappers=[AtariObjects])
    _, info = plain.reset(seed=SEED)
    assert not _ram_history(plain).observation_pooled
    np.testing.assert_array_equal(info["objects"]["pooled_masks"], info["objects"]["masks"])
    _, _, _, _, info = plain.step(0)
    assert _ram_history(plain).observation_pooled
    plain.close()
    env = make_atari_env("ALE/Breakout-v5", fire_on_reset=True, wrappers=[AtariObjects])
    history, differ = _ram_history(env), 0
    for seed in range(6):
        _, info = env.reset(seed=seed)
        objects = info["objects"]
        assert history.observation_pooled and len(history.rams) == 2
        expected = objects["masks"].copy()
        for obj in read_objects("Breakout", history.rams[0]):
            if objects["visible"][obj.slot] and obj.visible:
                expected[obj.slot] |= box_mask(obj.box, (84, 84))
        np.testing.assert_array_equal(objects["pooled_masks"], expected)
        differ += int((objects["pooled_masks"] != objects["masks"]).any())
    assert differ >= 3  # the paddle or the served ball moved between the two pooled frames
    env.close()


def test_ram_history_is_refused_where_it_cannot_see_the_pooled_frames() -> None:
    with pytest.raises(TypeError, match="frameskip=1"):
        RamHistory(_ale("Pong"))  # the emulator skips frames itself
    with pytest.raises(TypeError, match="under AtariPreprocessing"):
        RamHistory(gym.wrappers.AtariPreprocessing(_ale("Pong", frameskip=1)))
    with pytest.raises(TypeError, match="ALE Atari env"):
        RamHistory(ObjectScenesEnv(SceneConfig(n_moving=1)))
    with pytest.raises(TypeError, match="PoolingMarker goes directly on an AtariPreprocessing"):
        PoolingMarker(gym.wrappers.AtariPreprocessing(_ale("Pong", frameskip=1)))


def test_keypoint_metrics_run_on_atari_ground_truth() -> None:
    """``mint_rl.metrics.video_metrics`` takes the masks as they come: keypoints on the true centres
    detect every visible object, keypoints in a corner none."""
    env = make_atari_env("ALE/Pong-v5", repeat_action_probability=0.0, wrappers=[AtariObjects])
    env.action_space.seed(SEED)
    _, info = env.reset(seed=SEED)
    masks, visible, centres = [], [], []
    for _ in range(40):
        masks.append(info["objects"]["masks"])
        visible.append(info["objects"]["visible"])
        centres.append(info["objects"]["centres"])
        _, _, _, _, info = env.step(env.action_space.sample())
    masks, visible, centres = np.stack(masks), np.stack(visible), np.stack(centres)
    status = visible.astype(np.float64)
    area = float(masks.sum() / visible.sum())
    on_centres = video_metrics(centres, status, masks, visible, mean_area=area)
    assert on_centres["DOP"] == 100.0
    corner = np.full_like(centres, -0.99)
    assert video_metrics(corner, status, masks, visible, mean_area=area)["DOP"] == 0.0


# ------------------------------------------------------------------------------ bad inputs


def test_a_game_without_a_reader_lists_the_supported_games() -> None:
    with pytest.raises(ValueError, match="no RAM object reader") as error:
        AtariObjects(_ale("Seaquest"))
    for game in SUPPORTED_GAMES:
        assert game in str(error.value)
    with pytest.raises(ValueError, match="Boxing, Breakout, Freeway, MsPacman, Pong"):
        read_objects("Tetris", np.zeros(128, np.uint8))


def test_bad_inputs_get_named_errors() -> None:
    with pytest.raises(TypeError, match="needs an ALE Atari env"):
        AtariObjects(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="128 bytes of Atari RAM"):
        read_objects("Pong", np.zeros(64, np.uint8))
    with pytest.raises(ValueError, match=r"bytes in \[0, 255\]"):
        read_objects("Pong", np.full(128, 300))
    with pytest.raises(ValueError, match="frame_size must be"):
        AtariObjects(_ale("Pong"), frame_size=(84, "a"))
    with pytest.raises(ValueError, match="holds no image frames; pass frame_size"):
        AtariObjects(_ale("Pong", obs_type="ram"))
    assert AtariObjects(_ale("Pong", obs_type="ram"), frame_size=84).frame_size == (84, 84)


def test_game_names_resolve_from_ids_and_rom_names() -> None:
    for name in ("MsPacman", "ALE/MsPacman-v5", "MsPacmanNoFrameskip-v4", "ms_pacman", "mspacman"):
        assert game_layout(name).game == "MsPacman"


# ------------------------------------------------------------------------------- OCAtari


OCATARI_SLOTS = {  # OCAtari object index (hud=False) -> our slot
    "Pong": {0: 0, 1: 2, 2: 1},
    "Breakout": {0: 0, 1: 1},
    "Boxing": {0: 0, 1: 1},
    "MsPacman": {i: i for i in range(6)},
    "Freeway": {i: i for i in range(12)},
}


class _Anything:
    """Stands in for any pygame attribute (OCAtari imports pygame for its display only)."""

    def __getattr__(self, name: str) -> "_Anything":
        return _Anything()

    def __call__(self, *args: Any, **kwargs: Any) -> "_Anything":
        return _Anything()


class _FakePygame(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


@pytest.fixture(scope="module")
def ocatari_ram() -> Any:
    """OCAtari's RAM extraction module, imported with a stand-in pygame when pygame is absent."""
    with pytest.MonkeyPatch.context() as patch:
        if "pygame" not in sys.modules and importlib.util.find_spec("pygame") is None:
            patch.setitem(sys.modules, "pygame", _FakePygame("pygame"))
        pytest.importorskip("ocatari")
        return pytest.importorskip("ocatari.ram.extract_ram_info")


def _clip(box: tuple[int, int, int, int], playfield: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = playfield
    x, y, w, h = box
    left, top = min(max(x, x0), x1), min(max(y, y0), y1)
    return left, top, max(min(x + w, x1), left) - left, max(min(y + h, y1), top) - top


def compare_with_ocatari(ram_module: Any, game: str, steps: int = STEPS, seed: int = SEED) -> dict[str, float]:
    """Our boxes against OCAtari's on the same RAM, over a seeded random play of ``steps`` agent steps.

    Both boxes are clipped to the game's playfield. Returns the share of (frame, slot) pairs where
    both agree on whether the object is there, mean |Δx|, |Δy| of the top-left corners and of the box
    centres (px, over the objects both see), and each reader's mean |colour centroid − box centre|
    against the drawn frame.
    """
    layout = game_layout(game)
    env = AtariObjects(_ale(game))
    env.action_space.seed(seed)
    frame, info = env.reset(seed=seed)
    theirs = ram_module.init_objects(game, False)
    same, corner, centre, ours_vs_frame, theirs_vs_frame = [], [], [], [], []
    for t in range(steps + 1):
        if t > 0:
            frame, _, terminated, truncated, info = env.step(env.action_space.sample())
            if terminated or truncated:
                frame, info = env.reset()
                theirs = ram_module.init_objects(game, False)
        ram_module.detect_objects_ram(theirs, env.unwrapped.ale.getRAM(), game, False)
        if t == 0:
            continue  # OCAtari's Ms Pac-Man fills new ghost objects one call late
        objects = info["objects"]
        for index, slot in OCATARI_SLOTS[game].items():
            other = theirs[index]
            box = _clip(other.xywh, layout.playfield) if other else (0, 0, 0, 0)
            seen_by_them = bool(other) and box[2] > 0 and box[3] > 0
            same.append(seen_by_them == bool(objects["visible"][slot]))
            if not (seen_by_them and objects["visible"][slot]):
                continue
            ours = objects["boxes"][slot].astype(np.float64)
            corner.append(np.abs(ours[:2] - box[:2]))
            ours_centre = ours[:2] + (ours[2:] - 1) / 2
            their_centre = np.array(box[:2]) + (np.array(box[2:]) - 1) / 2
            centre.append(np.abs(ours_centre - their_centre))
            drawn = _colour_centroid(frame, objects, slot, game)
            if drawn is not None and layout.categories[slot] != "car":  # OCAtari's car boxes are 2 rows taller
                ours_vs_frame.append(np.abs(drawn - ours_centre).mean())
                theirs_vs_frame.append(np.abs(drawn - their_centre).mean())
    env.close()
    corner_mean, centre_mean = np.mean(corner, axis=0), np.mean(centre, axis=0)
    return {"presence_agreement": float(np.mean(same)), "objects": len(corner),
            "corner_dx": float(corner_mean[0]), "corner_dy": float(corner_mean[1]),
            "centre_dx": float(centre_mean[0]), "centre_dy": float(centre_mean[1]),
            "ours_vs_frame": float(np.mean(ours_vs_frame)), "ocatari_vs_frame": float(np.mean(theirs_vs_frame))}


def test_readers_agree_with_ocatari(ocatari_ram: Any) -> None:
    """Same objects as OCAtari's RAM extraction, positions within a pixel, and at least as close to
    the drawn sprites. Run with ``-s`` to print the table of docs/atari_objects.md.

    Where they differ on presence (Freeway only), OCAtari's car x wraps in uint8 arithmetic
    (``ram - 3`` for ``ram < 3`` gives 253..255) and misses the 1-3 columns of a car drawn at the
    right edge, which our reader keeps."""
    rows = []
    for game in SUPPORTED_GAMES:
        r = compare_with_ocatari(ocatari_ram, game)
        rows.append(f"| {game} | {r['objects']} | {r['presence_agreement']:.1%} | {r['corner_dx']:.2f} | "
                    f"{r['corner_dy']:.2f} | {r['centre_dx']:.2f} | {r['centre_dy']:.2f} | "
                    f"{r['ours_vs_frame']:.2f} | {r['ocatari_vs_frame']:.2f} |")
        assert r["presence_agreement"] >= 0.98, (game, r)  # Freeway: 98.6 %, OCAtari's uint8 overflow (see docs)
        assert max(r["corner_dx"], r["corner_dy"], r["centre_dx"], r["centre_dy"]) <= 1.0, (game, r)
        assert r["ours_vs_frame"] <= r["ocatari_vs_frame"] + 0.05, (game, r)
    print("\n| game | objects | same presence | corner Δx | corner Δy | centre Δx | centre Δy "
          "| ours vs frame | OCAtari vs frame |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


# --------------------------------------------------------------------------- the objects agent's observation
def _rows_from_ram(env: gym.Env, slots: int) -> np.ndarray:
    """(slots, 3) rows x, y, status read straight from the emulator's RAM: a present object's box centre
    (pixel-centre aligned), status 1 when its box has pixels in the playfield; zeros for an absent slot."""
    rows = np.zeros((slots, 3), np.float32)
    for obj in read_objects(atari_game_name_of(env), env.unwrapped.ale.getRAM()):
        x, y, w, h = obj.box
        centre = np.array([x + (max(w, 1) - 1) / 2.0, y + (max(h, 1) - 1) / 2.0])
        rows[obj.slot] = [*pixel_to_normalised(centre, ATARI_FRAME_SIZE), float(w > 0 and h > 0)]
    return rows


def atari_game_name_of(env: gym.Env) -> str:
    from envs.atari_objects import atari_game_name

    return atari_game_name(env)


@pytest.mark.parametrize("game", ["Pong", "MsPacman"])
def test_object_keypoints_read_the_ram_objects_in_slot_order(game: str) -> None:
    """ObjectKeypoints over AtariObjects: one row per slot, (x, y) the RAM box centre, status the visibility, no
    feature (flag=False) or the slot's nominal colour; a good/bad flag, which Atari lacks, is refused."""
    from envs.object_keypoints import ObjectKeypoints

    env = make_atari_env(f"ALE/{game}-v5", rgb=True, wrappers=(functools.partial(AtariObjects, return_masks=False),))
    layout = game_layout(game)
    rows = ObjectKeypoints(env, flag=False)
    assert rows.observation_space.shape == (layout.num_slots, 3)
    obs, info = rows.reset(seed=SEED)
    seen = 0
    for _ in range(120):
        obs, _, terminated, truncated, info = rows.step(rows.action_space.sample())
        objects = info["objects"]
        assert obs in rows.observation_space
        np.testing.assert_array_equal(obs, _rows_from_ram(env, layout.num_slots))  # slot i: the RAM's object i
        seen += int(objects["visible"].sum())
        if terminated or truncated:
            break
    assert seen > 0
    coloured = ObjectKeypoints(env, flag="colour")
    obs, info = coloured.reset(seed=SEED)
    present = info["objects"]["ids"] >= 0
    np.testing.assert_allclose(obs[present, 3:], np.array(layout.colours)[present] / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="Atari objects have no good/bad flag"):
        ObjectKeypoints(env)


def test_objects_agent_trains_on_atari_and_bad_games_are_refused(tmp_path: Any, capsys: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """ppo_keypoints.py --agents objects on an ALE id: PPO on the RAM objects (rows of the slots, 2 stacked frames,
    the flat extractor, no flag), evaluated with sampled actions (rl-baselines3-zoo's Atari protocol; object
    tasks keep the most likely action); a game without a reader lists the supported ones; a degraded rung
    without measured properties and a flagged rung are refused."""
    import json

    import agents.ppo_experiment as ppo_experiment
    from agents.callbacks import CsvEvalCallback
    from agents.experiment_settings import PPOExperiment
    from tests.conftest import load_script

    assert PPOExperiment(agents=["mint"]).deterministic_eval
    evaluators: list[CsvEvalCallback] = []

    class Spy(CsvEvalCallback):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            evaluators.append(self)

    monkeypatch.setattr(ppo_experiment, "CsvEvalCallback", Spy)
    pk = load_script("ppo_keypoints")
    report = pk.main(["--env", "ALE/Pong-v5", "--agents", "objects", "--timesteps", "1024", "--eval-freq", "1024",
                      "--eval-episodes", "1", "--jobs", "1", "--no-progress", "--out", str(tmp_path)])
    run = tmp_path / "ALE_Pong-v5" / "objects" / "seed0"
    settings = json.loads((run / "settings.json").read_text())
    assert settings["objects"] == {"flag": False} and settings["extractor"] == "mlp" and settings["n_stack"] == 2
    assert settings["eval_policy"] == "stochastic" and [e.deterministic for e in evaluators] == [False]
    assert "| objects | 1 |" in report["table"]
    summary = json.loads((tmp_path / "ALE_Pong-v5" / "summary.json").read_text())
    assert summary["eval_policy"] == "stochastic"
    for argv, message in ((["--env", "ALE/Seaquest-v5", "--agents", "objects"], "ALE/Breakout-v5, ALE/Freeway-v5"),
                          (["--env", "ALE/Pong-v5", "--agents", "objects-noise"], "keypoint properties measured on"),
                          (["--env", "ALE/Pong-v5", "--agents", "objects-mint-flag"], "carry no good/bad flag")):
        with pytest.raises(SystemExit):
            pk.main([*argv, "--out", str(tmp_path / "bad")])
        assert message in capsys.readouterr().err


def test_object_rows_after_a_lost_life_show_the_ram_of_the_reset():
    """The training env of the objects agent (episodic lives): the reset after a lost life steps the game, and the
    rows it returns are the RAM's objects after that step (Breakout: 5 lives)."""
    from agents.experiment_envs import object_env

    env = object_env("ALE/Breakout-v5", True, 0, flag=False)
    obs, _ = env.reset(seed=SEED)
    np.testing.assert_array_equal(obs, _rows_from_ram(env, 2))
    for _ in range(3000):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        np.testing.assert_array_equal(obs, _rows_from_ram(env, 2))
        if terminated or truncated:
            break
    assert terminated and env.unwrapped.ale.lives() > 0  # a life lost, the game goes on
    obs, info = env.reset()
    np.testing.assert_array_equal(obs, _rows_from_ram(env, 2))
    assert info["objects"]["visible"][0]  # the paddle
