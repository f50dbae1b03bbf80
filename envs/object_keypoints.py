"""The true objects of a task as keypoints, optionally degraded: the rungs of the observation ladder.

:class:`ObjectKeypoints` replaces an object task's frame (``MintTasks/*``, or an ALE game under
:class:`envs.atari_objects.AtariObjects`, whose RAM gives the objects) by one keypoint row
per ``info["objects"]`` slot, in the env's own slot order (slot 0 the agent, then the object
slots in order of appearance: fixed slots that carry no task knowledge, unlike the relevance
order of :class:`envs.tasks.GroundTruthObservation`), in exactly the layout
:class:`envs.wrappers.MintKeypointWrapper` gives (``Box((K, 3 + F), float32)``: ``x, y`` in
[-1, 1], y down, pixel-centre aligned; ``status`` 1 for a visible object; then F features).
With ``flag=True`` the one feature is the task flag (Catch: +1 good, -1 red, 0 the paddle;
Reach: 1 the target), so the same SB3 pipeline, stacking and extractors run on it. Atari objects
have no such flag: there the slot order is the game's fixed category order (Pong: player, enemy,
ball; ``envs.atari_objects``), and ``flag`` must be False or ``"colour"``. With
``flag="colour"`` the features are instead the object's RGB colour in [0, 1] (3 values):
appearance as an image shows it, which the policy must learn to read.

Each degradation brings one property of the true centres down to the level measured for a
keypoint encoder (``envs.keypoint_audit.keypoint_properties``); with all at 0 the rows are
exact (rung 0):

``miss_rate``           stationary probability that a visible task object is missed (status 0), per
                        vertical third of the frame if a 3-sequence; misses persist for
                        ``miss_run`` frames on average (a two-state Markov chain per slot)
``agent_miss_rate``     the same for the agent's slot
``slot_miss_rate``      instead of the two above, one stationary miss probability per slot (Atari, whose slots
                        are fixed categories: Pong's ball is missed far more often than its paddles)
``position_noise_px``   mean distance (frame pixels) between a row and the true centre: Gaussian
                        noise with that mean norm, drawn every frame
``switch_rate``         identity switches per 100 visible object-frames: two rows exchange the slots
                        they show (persistent, as a keypoint that jumps to another object)
``keypoints_per_obj``   mean rows per detected object: extra rows (``num_keypoints`` > slots) copy an
                        object, each with its own position noise
``flag``                False drops the flag feature (F = 0): no colour, no identity of good and bad;
                        ``"colour"`` gives the object's colour instead of the flag
``status_flip_rate``    % of (frame, row) whose status is flipped; an empty slot switched on shows a
                        keypoint at a random position (a keypoint on the background)

The random stream is the wrapper's own, seeded by ``seed`` and, at each ``reset(seed=...)``, by
that seed too, so degraded episodes are reproducible.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mint_rl.coords import units_per_pixel

__all__ = ["ObjectKeypoints", "LADDER_PROPERTIES", "LADDER_RUNGS", "ladder_rung_kwargs"]

LADDER_PROPERTIES = ("miss_rate", "agent_miss_rate", "position_noise_px", "switch_rate", "keypoints_per_obj",
                     "flag", "status_flip_rate")
"""The keyword arguments of :class:`ObjectKeypoints` that degrade the true centres."""


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _atari_objects(env: gym.Env) -> Any:
    """The :class:`envs.atari_objects.AtariObjects` in ``env``'s wrapper stack, or None."""
    from envs.atari import find_wrapper
    from envs.atari_objects import AtariObjects

    return find_wrapper(env, AtariObjects)


class ObjectKeypoints(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """True object centres as keypoint rows, with optional measured degradations (module docstring).

    :param env: an object task with ``info["objects"]`` (``MintTasks/*``), or an env with
        :class:`envs.atari_objects.AtariObjects` in its wrapper stack (its ``frame_size`` is the frame).
    :param num_keypoints: K rows; at least the env's slots (default: exactly the slots). Rows beyond
        the slots are copies of objects (``keypoints_per_obj``) or, with no copies asked, inactive.
    :param flag: True: the task flag as the one feature; ``"colour"``: the object's RGB colour in
        [0, 1] as three features; False: no feature.
    :param miss_rate: probability that a visible task object is missed; a float, or three floats for
        objects in the top, middle and bottom third of the frame.
    :param miss_run: mean length in frames of a miss (>= 1).
    :param agent_miss_rate: probability that the agent is missed.
    :param position_noise_px: mean position error in frame pixels.
    :param switch_rate: identity switches per 100 visible object-frames.
    :param keypoints_per_obj: mean rows on a detected object (>= 1).
    :param status_flip_rate: percent of (frame, row) pairs whose status is flipped.
    :param seed: seed of the degradation noise.
    """

    def __init__(self, env: gym.Env, num_keypoints: int | None = None, *, flag: bool | str = True,
                 miss_rate: float | Sequence[float] = 0.0, miss_run: float = 1.0, agent_miss_rate: float = 0.0,
                 position_noise_px: float = 0.0, switch_rate: float = 0.0, keypoints_per_obj: float = 1.0,
                 status_flip_rate: float = 0.0, slot_miss_rate: Sequence[float] | None = None, seed: int = 0) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, num_keypoints=num_keypoints, flag=flag, miss_rate=miss_rate,
                                                 miss_run=miss_run, agent_miss_rate=agent_miss_rate,
                                                 position_noise_px=position_noise_px, switch_rate=switch_rate,
                                                 keypoints_per_obj=keypoints_per_obj,
                                                 status_flip_rate=status_flip_rate, slot_miss_rate=slot_miss_rate,
                                                 seed=seed)
        gym.ObservationWrapper.__init__(self, env)
        if not (isinstance(flag, bool) or flag == "colour"):
            raise ValueError(f"flag must be True, False or 'colour', got {flag!r}")
        base = env.unwrapped
        config = getattr(base, "config", None)
        atari = _atari_objects(env)
        if atari is not None:
            if flag is True:
                raise ValueError(f"ObjectKeypoints on {atari.layout.game}: Atari objects have no good/bad flag (their "
                                 "slots are fixed per category); use flag=False or flag='colour'")
            self.slots = atari.layout.num_slots
            self.height, self.width = atari.frame_size
        elif config is None or not hasattr(config, "max_objects"):
            raise TypeError(f"ObjectKeypoints needs an object task with info['objects'] (MintTasks/*) or an ALE env "
                            f"wrapped in envs.atari_objects.AtariObjects, got {type(base).__name__}")
        else:
            self.slots = int(config.max_objects)
            self.height, self.width = int(config.height), int(config.width)
        self.num_keypoints = self.slots if num_keypoints is None else int(num_keypoints)
        if self.num_keypoints < self.slots:
            raise ValueError(f"num_keypoints {num_keypoints} is fewer than the env's {self.slots} object slots")
        rates = [miss_rate] * 3 if isinstance(miss_rate, (int, float)) else list(miss_rate)
        if len(rates) != 3:
            raise ValueError(f"miss_rate must be a float or three floats (top, middle, bottom third), got {miss_rate!r}")
        self.miss_rate = np.array([_probability("miss_rate", r) for r in rates])
        self.agent_miss_rate = _probability("agent_miss_rate", agent_miss_rate)
        self.slot_miss_rate = None
        if slot_miss_rate is not None:
            if len(slot_miss_rate) != self.slots:
                raise ValueError(f"slot_miss_rate needs one probability per object slot ({self.slots}), got "
                                 f"{len(slot_miss_rate)}")
            self.slot_miss_rate = np.array([_probability("slot_miss_rate", r) for r in slot_miss_rate])
        if not miss_run >= 1.0:
            raise ValueError(f"miss_run must be >= 1 frame, got {miss_run!r}")
        if not (position_noise_px >= 0 and switch_rate >= 0 and keypoints_per_obj >= 1
                and 0 <= status_flip_rate <= 100):
            raise ValueError("position_noise_px and switch_rate must be >= 0, keypoints_per_obj >= 1 and "
                             f"status_flip_rate in [0, 100]; got {position_noise_px}, {switch_rate}, "
                             f"{keypoints_per_obj}, {status_flip_rate}")
        self.miss_run, self.position_noise_px = float(miss_run), float(position_noise_px)
        self.switch_rate, self.keypoints_per_obj = float(switch_rate), float(keypoints_per_obj)
        self.status_flip_rate, self.flag, self.seed = float(status_flip_rate), flag, int(seed)
        self.flag_key = getattr(base, "flag_name", "good")
        self.num_features = 3 if flag == "colour" else int(flag)
        low = np.tile(np.array([-1.0, -1.0, 0.0] + [0.0 if flag == "colour" else -1.0] * self.num_features,
                               np.float32), (self.num_keypoints, 1))
        self.observation_space = spaces.Box(low, np.ones_like(low), dtype=np.float32)
        self._rng = np.random.default_rng(seed)
        self._reset_state()
        self._objects: dict[str, Any] | None = None

    # ------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        k = self.num_keypoints
        self._missed = np.zeros(self.slots, bool)
        self._copy_on = np.zeros(k - self.slots, bool)
        self._perm = np.arange(k)  # row i shows internal row _perm[i]
        self._ids = np.full(self.slots, -2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self._rng = np.random.default_rng([self.seed, seed])
        self._reset_state()
        obs, info = self.env.reset(seed=seed, options=options)
        self._objects = info["objects"]
        return self.observation(obs), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._objects = info["objects"]
        return self.observation(obs), reward, terminated, truncated, info

    # ------------------------------------------------------------------ rows
    def _miss_step(self, visible: np.ndarray, agent: np.ndarray, centres: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Advance each slot's miss chain; a new object (new id) draws from the stationary rate."""
        band = np.clip(((centres[:, 1] + 1.0) / 2.0 * 3).astype(int), 0, 2)
        p = (self.slot_miss_rate if self.slot_miss_rate is not None
             else np.where(agent, self.agent_miss_rate, self.miss_rate[band]))
        fresh = ids != self._ids
        self._ids = ids.copy()
        leave = 1.0 / self.miss_run  # P(missed → detected)
        enter = np.where(p < 1.0, p * leave / np.maximum(1.0 - p, 1e-12), 1.0)  # stationary probability p
        u = self._rng.random(self.slots)
        stay_missed = self._missed & (u >= leave)
        become_missed = ~self._missed & (u < enter)
        self._missed = np.where(fresh, self._rng.random(self.slots) < p, stay_missed | become_missed)
        return visible & ~self._missed

    def observation(self, observation: Any) -> np.ndarray:
        if self._objects is None:
            raise RuntimeError("ObjectKeypoints.observation called before reset()")
        o = self._objects
        visible = np.asarray(o["visible"], bool)
        agent = np.asarray(o["agent"], bool)
        centres = np.asarray(o["centres"], np.float64)
        if self.flag == "colour":
            flags = np.asarray(o["colours"], np.float64) / 255.0  # (N, 3), zeros for empty slots
        elif self.flag:
            flags = np.asarray(o[self.flag_key], bool).astype(np.float64)
            if self.flag_key == "good":
                flags = flags * 2.0 - 1.0
            flags[agent | (np.asarray(o["ids"]) < 0)] = 0.0  # the agent and empty slots carry no flag
            flags = flags[:, None]
        else:
            flags = np.zeros((len(visible), 0))
        detected = self._miss_step(visible, agent, centres, np.asarray(o["ids"]))
        k, n = self.num_keypoints, self.slots
        xy = np.zeros((k, 2))
        status = np.zeros(k)
        feat = np.zeros((k, flags.shape[1]))
        xy[:n], status[:n], feat[:n] = centres, detected, flags
        if k > n:  # copies: extra row j copies slot (j mod n); each is on with probability q while its host is seen
            hosts = np.arange(k - n) % n
            per_host = np.bincount(hosts, minlength=n)[hosts]
            q = np.clip((self.keypoints_per_obj - 1.0) / per_host, 0.0, 1.0)
            flip = self._rng.random(k - n) < 0.1  # on/off state persists about 10 frames
            self._copy_on = np.where(flip, self._rng.random(k - n) < q, self._copy_on)
            xy[n:], feat[n:] = centres[hosts], flags[hosts]
            status[n:] = detected[hosts] & self._copy_on
        if self.position_noise_px > 0:
            sigma = self.position_noise_px / math.sqrt(math.pi / 2.0)  # mean norm of a 2-D Gaussian = σ √(π/2)
            xy += self._rng.normal(0.0, sigma, (k, 2)) * units_per_pixel((self.height, self.width))
        if self.switch_rate > 0 and visible.any():
            swaps = self._rng.poisson(self.switch_rate / 100.0 * (visible & ~agent).sum())
            for _ in range(swaps):
                i, j = self._rng.choice(k, 2, replace=False)
                self._perm[[i, j]] = self._perm[[j, i]]
        if self.status_flip_rate > 0:
            flip = self._rng.random(k) < self.status_flip_rate / 100.0
            spurious = flip & (status < 0.5)
            xy[spurious] = self._rng.uniform(-1.0, 1.0, (int(spurious.sum()), 2))
            status = np.where(flip, 1.0 - status, status)
        rows = np.concatenate([np.clip(xy, -1.0, 1.0), status[:, None], feat[:, :self.num_features]], 1)
        return rows[self._perm].astype(np.float32)


LADDER_RUNGS = ("objects", "objects-colour", "objects-noflag", "objects-miss", "objects-noise", "objects-switch", "objects-copies",
                "objects-status", "objects-mint", "objects-mint-flag")
"""The rungs: the true objects (rung 0), then one property at a time brought to the measured level, then all
of them together (``objects-mint``: the true objects degraded as far as the measured keypoints are, without the
flag, as MINT's keypoints carry no appearance; ``objects-mint-flag``: the same with the flag kept, the ceiling
of MINT's keypoints once an appearance feature tells the kinds apart perfectly)."""


def ladder_rung_kwargs(rung: str, properties: dict[str, Any] | None) -> dict[str, Any]:
    """The :class:`ObjectKeypoints` keyword arguments of a ladder rung.

    :param rung: one of :data:`LADDER_RUNGS`.
    :param properties: measured keypoint properties (one encoder's entry of
        ``experiments/keypoint_properties.py``'s ``properties.json``); needed by every rung but
        ``objects`` and ``objects-noflag``.
    :return: keyword arguments (no ``seed``).
    """
    if rung not in LADDER_RUNGS:
        raise ValueError(f"unknown ladder rung {rung!r}; one of {LADDER_RUNGS}")
    if rung == "objects":
        return {}
    if rung == "objects-noflag":
        return {"flag": False}
    if rung == "objects-colour":
        return {"flag": "colour"}
    if properties is None:
        raise ValueError(f"ladder rung {rung!r} needs measured keypoint properties (ppo_keypoints.py "
                         "--object-properties results/ladder/properties/properties.json, written by "
                         "experiments/keypoint_properties.py)")
    missing = [k for k in ("detect_by_band", "detect_agent", "miss_run", "error_px", "jumps_per_100",
                           "keypoints_per_obj", "status_flips", "num_keypoints") if k not in properties]
    if missing:
        raise ValueError(f"the keypoint properties lack {missing}: write them with experiments/keypoint_properties.py")
    p = properties

    def miss(detected: float) -> float:  # a slot never visible (nan) is never missed
        return min(max(1.0 - detected / 100.0, 0.0), 1.0) if math.isfinite(detected) else 0.0

    parts = {
        "miss": ({"slot_miss_rate": [miss(d) for d in p["detect_by_slot"]]} if "detect_by_slot" in p
                 else {"miss_rate": [miss(d) for d in p["detect_by_band"]], "agent_miss_rate": miss(p["detect_agent"])})
                | {"miss_run": max(float(p["miss_run"]), 1.0)},
        "noise": {"position_noise_px": float(p["error_px"])},
        "switch": {"switch_rate": float(p["jumps_per_100"])},
        "copies": {"num_keypoints": int(p["num_keypoints"]), "keypoints_per_obj": max(float(p["keypoints_per_obj"]),
                                                                                       1.0)},
        "status": {"num_keypoints": int(p["num_keypoints"]), "status_flip_rate": float(p["status_flips"])},
    }
    if rung in ("objects-mint", "objects-mint-flag"):
        out: dict[str, Any] = {"flag": rung == "objects-mint-flag"}
        for part in parts.values():
            out.update(part)
        return out
    return parts[rung.split("-", 1)[1]]
