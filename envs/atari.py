"""ALE Atari environments with the standard preprocessing, single or vectorised.

One factory, :func:`make_atari_env`, builds the usual evaluation protocol (Machado et al.
2018, as gymnasium's :class:`~gymnasium.wrappers.AtariPreprocessing` implements it) on top
of an ``ale-py`` id:

========================  ==================================================================
stage                     default
========================  ==================================================================
sticky actions            ``repeat_action_probability=0.25`` (the ``-v5`` protocol)
no-op starts              up to ``noop_max=30`` random no-ops after each reset
frame skip                ``frame_skip=4``, max-pooled over the last two frames (the RAM after
                          both is kept by :class:`RamHistory`)
resize                    ``screen_size=84`` → 84×84, RGB ``(84, 84, 3)`` or grey ``(84, 84)``
life loss                 not terminal (``terminal_on_life_loss=False``)
FIRE                      not pressed for the agent (``fire_on_reset=True`` / ``"auto"``:
                          :class:`FireOnReset` launches the game after each reset and lost life)
reward                    unclipped (``clip_reward=True`` gives ``sign(r)``, as SB3/DQN do)
frame stack               none (``frame_stack=S`` → ``(S, 84, 84[, 3])``)
time limit                the ALE's own 108 000 emulator frames; ``max_episode_steps`` adds
                          a limit in *agent* steps (applied after frame skipping)
========================  ==================================================================

Observations are uint8 frames ``(H, W, 3)`` (RGB) or ``(H, W)`` (grey, no channel axis)
in the layout :class:`envs.wrappers.MintKeypointWrapper` takes directly::

    env = make_atari_env("ALE/Breakout-v5")                       # (84, 84, 3) uint8
    venv = make_atari_env("ALE/Breakout-v5", num_envs=8)          # SyncVectorEnv, (8, 84, 84, 3)
    pix = atari_pixel_env("ALE/Breakout-v5")                      # (4, 84, 84) grey stack

``atari_pixel_env`` is the standard pixel-agent input (grey 84×84, 4 frames stacked,
channels first), which Stable-Baselines3's ``CnnPolicy`` reads as a channels-first image
without a ``VecTransposeImage``.
A grey stack of 1, 3 or 4 frames (``rgb=False, frame_stack=S``) has the same space as
channels-first frames, so the keypoint wrappers need ``layout="grey_stack"`` for it.

The ROMs ship in the ``ale-py`` wheel; the ids are ``ALE/<Game>-v5`` (list them with
``[i for i in gymnasium.registry if i.startswith("ALE/")]`` after ``import ale_py;
gymnasium.register_envs(ale_py)``). The older ``<Game>-v4`` / ``<Game>NoFrameskip-v4`` ids
work too (all are the same ``ale_py`` emulator; this factory always sets ``frameskip=1``
in the emulator and skips frames in ``AtariPreprocessing``).

Importing this module does not import ``ale_py``; the first factory call does.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit, TransformReward

__all__ = ["make_atari_env", "atari_pixel_env", "atari_ids", "FireOnReset", "RamHistory", "PoolingMarker",
           "find_wrapper", "VECTORIZATION_MODES"]

VECTORIZATION_MODES = ("sync", "async")
"""``vectorization_mode`` values of :func:`make_atari_env`: ``SyncVectorEnv`` (one process)
or ``AsyncVectorEnv`` (one process per sub-env)."""

_ALE_ENTRY_POINT = "ale_py.env:AtariEnv"


def _register_ale() -> None:
    """Register the ALE ids with gymnasium (idempotent; imports ``ale_py``)."""
    import ale_py

    gym.register_envs(ale_py)


def atari_ids(version: str | None = "v5") -> list[str]:
    """The registered ALE ids, e.g. ``["ALE/Adventure-v5", ...]``.

    :param version: keep only ids ending in ``-<version>``; None lists every ALE id
        (``ALE/*-v5``, ``*-v4``, ``*NoFrameskip-v4``, ...).
    """
    _register_ale()
    ids = [i for i, spec in gym.registry.items() if spec.entry_point == _ALE_ENTRY_POINT]
    if version is not None:
        ids = [i for i in ids if i.endswith(f"-{version}")]
    return sorted(ids)


def _check_env_id(env_id: str) -> None:
    """Raise a ``ValueError`` that helps find the right id when ``env_id`` is not an ALE id."""
    _register_ale()
    spec = gym.registry.get(env_id)
    if spec is not None and spec.entry_point == _ALE_ENTRY_POINT:
        return
    ale = atari_ids(version=None)
    if spec is not None:
        raise ValueError(f"{env_id!r} is a registered Gymnasium id but not an ALE Atari game "
                         f"(entry point {spec.entry_point!r}); make_atari_env only builds ALE ids "
                         "such as 'ALE/Pong-v5'")
    close = difflib.get_close_matches(env_id, ale, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown Atari id {env_id!r}.{hint} ALE ids look like 'ALE/Pong-v5'; list them with "
                     "envs.atari.atari_ids() (or `[i for i in gymnasium.registry if i.startswith('ALE/')]` "
                     "after `import ale_py; gymnasium.register_envs(ale_py)`).")


def find_wrapper(env: gym.Env, wrapper_type: type | tuple[type, ...]) -> gym.Wrapper | None:
    """The outermost wrapper of ``wrapper_type`` in ``env``'s wrapper chain (``env`` itself included), or None."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, wrapper_type):
            return env
        env = env.env
    return None


class RamHistory(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Keep the emulator's RAM after each of the last two emulator frames.

    With frame skipping, ``AtariPreprocessing``'s observation is the per-channel maximum of the
    last two emulator frames of the agent step, so a fast object is drawn twice in it; reading the
    RAM after the step gives the later of the two only. Placed on the emulator itself (``frameskip=1``,
    under ``AtariPreprocessing``; :func:`make_atari_env` does so whenever ``frame_skip > 1``, with a
    :class:`PoolingMarker` right above ``AtariPreprocessing``), this wrapper records both, and
    :class:`envs.atari_objects.AtariObjects` turns them into ``info["objects"]["pooled_masks"]``.
    Observations, rewards and spaces are unchanged.

    :attr rams: the RAM (uint8 ``(128,)`` copies) after each of the last two emulator frames, oldest
        first; one entry right after the emulator's ``reset``.
    :attr observation_pooled: whether the last observation max-pools the last two frames: True after
        an ``AtariPreprocessing`` step, False after its reset (one frame, even after no-ops); set by
        the :class:`PoolingMarker` above it (False without one).
    :raises TypeError: on an env that is not an ALE emulator stepping one frame at a time (``frameskip=1``),
        or above an ``AtariPreprocessing`` (whose frames it would not see).
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "ale"):
            raise TypeError(f"RamHistory needs an ALE Atari env (with .ale), got {base!r}")
        if find_wrapper(env, AtariPreprocessing) is not None:
            raise TypeError("RamHistory must sit under AtariPreprocessing (on the emulator), not above it; "
                            "envs.atari.make_atari_env places it")
        if getattr(base, "_frameskip", 1) != 1:
            raise TypeError(f"RamHistory needs the emulator at frameskip=1 (it skips {base._frameskip} frames "
                            "itself, so the frames in between are not seen); gym.make(id, frameskip=1)")
        self.rams: list[np.ndarray] = []
        self.observation_pooled = False

    def _record(self) -> None:
        self.rams = [*self.rams[-1:], self.env.unwrapped.ale.getRAM().copy()]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.rams = []
        self._record()
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        out = self.env.step(action)
        self._record()
        return out


class PoolingMarker(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Tell the :class:`RamHistory` below whether the last observation max-pools two frames.

    Placed directly above ``AtariPreprocessing``: its ``step`` pools the last two emulator frames,
    its ``reset`` returns one frame (after the no-ops). So a step through this wrapper (an agent's,
    or :class:`FireOnReset`'s FIRE inside a reset) sets ``RamHistory.observation_pooled`` to True,
    a reset to False. Observations, rewards and spaces are unchanged.

    :param env: an ``AtariPreprocessing`` env over a :class:`RamHistory`; otherwise ``TypeError``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        if not isinstance(env, AtariPreprocessing) or not isinstance(env.env, RamHistory):
            raise TypeError("PoolingMarker goes directly on an AtariPreprocessing over a RamHistory "
                            "(envs.atari.make_atari_env builds the stack)")
        self.history: RamHistory = env.env

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        out = self.env.reset(seed=seed, options=options)
        self.history.observation_pooled = False
        return out

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        out = self.env.step(action)
        self.history.observation_pooled = True
        return out


class FireOnReset(gym.Wrapper):
    """Press FIRE after every reset and, with ``on_life_loss``, after every lost life.

    Games such as Breakout wait for FIRE before the ball is served. An agent trained with episodic
    lives and a fire-on-reset wrapper (SB3's ``AtariWrapper``) never needs to learn FIRE, so in a
    true-game-over evaluation its deterministic policy can idle after the first lost life until the
    ALE's 108 000-frame cap. This wrapper presses FIRE for it: after ``reset`` (one extra step, its
    reward discarded, as in SB3's ``FireResetEnv``) and, when a step loses a life without ending the
    episode, one more step with FIRE inside the same ``step`` (its reward added, so no score is lost).

    Place it on the preprocessed env (so the FIRE step is one agent step of ``frame_skip`` frames);
    :func:`make_atari_env` does so with ``fire_on_reset``. The observation and action spaces are
    unchanged.

    :param env: an ALE env (``env.unwrapped`` has ``get_action_meanings()`` and ``ale``) whose action
        set contains FIRE; otherwise ``ValueError``.
    :param on_life_loss: also press FIRE after a lost life (default True).
    :param fire_steps: agent steps with FIRE each time (default 1, the protocol of our Atari study).
        Under sticky actions one FIRE step can be lost to the repeated previous action: in 40
        random-policy Breakout episodes (``-v5``, sticky 0.25) one life was never served again;
        with ``fire_steps=2`` none was (``tests/test_atari.py``, slow).
    """

    def __init__(self, env: gym.Env, on_life_loss: bool = True, fire_steps: int = 1) -> None:
        super().__init__(env)
        meanings = _action_meanings(env)
        if meanings is None:
            raise ValueError(f"FireOnReset needs an ALE env (with get_action_meanings()), got {env.unwrapped!r}")
        if "FIRE" not in meanings:
            raise ValueError(f"FireOnReset: {env.spec.id if env.spec else env.unwrapped!r} has no FIRE action "
                             f"(actions {meanings}); leave fire_on_reset off or use 'auto'")
        if int(fire_steps) < 1:
            raise ValueError(f"FireOnReset: fire_steps must be >= 1, got {fire_steps}")
        self.fire_action = meanings.index("FIRE")
        self.on_life_loss = bool(on_life_loss)
        self.fire_steps = int(fire_steps)
        self._lives = 0

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        for _ in range(self.fire_steps):
            obs, _, terminated, truncated, info = self.env.step(self.fire_action)
            if terminated or truncated:  # never on a fresh game, but do not hand out a finished one
                obs, info = self.env.reset(options=options)
                break
        self._lives = self._ale_lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._ale_lives()
        if self.on_life_loss and lives < self._lives and not (terminated or truncated):
            reward = float(reward)
            for _ in range(self.fire_steps):
                obs, extra, terminated, truncated, info = self.env.step(self.fire_action)
                reward += float(extra)
                if terminated or truncated:
                    break
            lives = self._ale_lives()
        self._lives = lives
        return obs, reward, terminated, truncated, info


def _action_meanings(env: gym.Env) -> list[str] | None:
    getter = getattr(env.unwrapped, "get_action_meanings", None)
    return list(getter()) if callable(getter) else None


def _sign(reward: Any) -> float:
    """Reward clipping to {-1, 0, 1} (module-level so async vector envs can pickle it)."""
    return float(np.sign(reward))


def _screen_size(screen_size: int | tuple[int, int]) -> int | tuple[int, int]:
    """Our ``(H, W)`` → ``AtariPreprocessing``'s ``(W, H)`` (an int stays square)."""
    if isinstance(screen_size, (int, np.integer)) and not isinstance(screen_size, bool):
        if screen_size <= 0:
            raise ValueError(f"screen_size must be positive, got {screen_size}")
        return int(screen_size)
    try:
        h, w = (int(v) for v in screen_size)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"screen_size must be an int or an (H, W) pair, got {screen_size!r}") from exc
    if h <= 0 or w <= 0:
        raise ValueError(f"screen_size must be positive, got {screen_size!r}")
    return (w, h)


def _make_one(
    env_id: str,
    rgb: bool,
    screen_size: int | tuple[int, int],
    frame_skip: int,
    frame_stack: int,
    noop_max: int,
    repeat_action_probability: float,
    terminal_on_life_loss: bool,
    clip_reward: bool,
    fire_on_reset: bool | str,
    fire_steps: int,
    max_episode_steps: int | None,
    render_mode: str | None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]],
    env_kwargs: dict[str, Any],
) -> gym.Env:
    """Build one preprocessed env. Module-level, so ``functools.partial`` of it is a picklable
    thunk for ``AsyncVectorEnv`` (it registers the ALE ids itself in a fresh process)."""
    _register_ale()
    env = gym.make(env_id, frameskip=1, repeat_action_probability=repeat_action_probability,
                   render_mode=render_mode, **env_kwargs)
    if frame_skip > 1:  # the RAM of both frames the observation max-pools (AtariObjects' pooled_masks)
        env = RamHistory(env)
    env = AtariPreprocessing(env, noop_max=noop_max, frame_skip=frame_skip, screen_size=screen_size,
                             terminal_on_life_loss=terminal_on_life_loss, grayscale_obs=not rgb,
                             grayscale_newaxis=False, scale_obs=False)
    if frame_skip > 1:
        env = PoolingMarker(env)
    if fire_on_reset is True or (fire_on_reset == "auto" and "FIRE" in (_action_meanings(env) or ())):
        env = FireOnReset(env, fire_steps=fire_steps)
    if max_episode_steps is not None:
        env = TimeLimit(env, max_episode_steps=max_episode_steps)
    if clip_reward:
        env = TransformReward(env, _sign)
    if frame_stack > 1:
        env = FrameStackObservation(env, frame_stack)
    for wrapper in wrappers:
        env = wrapper(env)
    return env


def make_atari_env(
    env_id: str = "ALE/Pong-v5",
    *,
    rgb: bool = True,
    screen_size: int | tuple[int, int] = 84,
    frame_skip: int = 4,
    frame_stack: int = 1,
    noop_max: int = 30,
    repeat_action_probability: float = 0.25,
    terminal_on_life_loss: bool = False,
    clip_reward: bool = False,
    fire_on_reset: bool | str = False,
    fire_steps: int = 1,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    num_envs: int | None = None,
    vectorization_mode: str = "sync",
    vector_kwargs: dict[str, Any] | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Env]] = (),
    **env_kwargs: Any,
) -> gym.Env | gym.vector.VectorEnv:
    """An ALE Atari env (or a vector of them) with the standard preprocessing.

    :param env_id: an ALE id, e.g. ``"ALE/Pong-v5"`` (see :func:`atari_ids`); anything else
        raises ``ValueError`` with the closest ids.
    :param rgb: RGB frames ``(H, W, 3)``; False gives grey ``(H, W)`` (no channel axis).
    :param screen_size: output size, an int (square) or ``(H, W)``.
    :param frame_skip: agent steps last this many emulator frames (max-pooled over the last
        two); the emulator itself runs with ``frameskip=1``.
    :param frame_stack: stack the last S observations along a new first axis
        (``FrameStackObservation``, reset-padded) when > 1.
    :param noop_max: at most this many random no-ops after each reset (0 = none).
    :param repeat_action_probability: sticky actions: the emulator repeats the previous action
        with this probability (0.25 in the ``-v5`` protocol; 0 for deterministic actions).
    :param terminal_on_life_loss: end the episode when a life is lost (not recommended by
        Machado et al.; off by default).
    :param clip_reward: replace rewards by their sign (as SB3's Atari wrapper / DQN do).
    :param fire_on_reset: press FIRE after each reset and lost life (:class:`FireOnReset`):
        False (default, the Machado et al. protocol), True (``ValueError`` when the game has no
        FIRE action) or ``"auto"`` (only for games whose action set contains FIRE, as SB3's
        ``AtariWrapper`` does).
    :param fire_steps: agent steps with FIRE each time (:class:`FireOnReset`; 2 avoids a serve lost to
        sticky actions).
    :param max_episode_steps: truncate episodes after this many *agent* steps (None: only the
        ALE's own limit of 108 000 emulator frames).
    :param render_mode: ``None``, ``"rgb_array"`` (full 210×160 RGB frames) or ``"human"``.
    :param num_envs: None builds one ``gym.Env``; an int builds a ``gym.vector.VectorEnv`` of
        that many identically wrapped envs (``reset(seed=s)`` seeds sub-env i with ``s + i``).
    :param vectorization_mode: ``"sync"`` (``SyncVectorEnv``) or ``"async"``
        (``AsyncVectorEnv``, one process per sub-env).
    :param vector_kwargs: extra keyword arguments of the vector env class (e.g.
        ``autoreset_mode``, ``shared_memory``).
    :param wrappers: extra wrappers applied, in order, on top of each (sub-)env after the
        preprocessing (callables ``env -> env``; picklable for ``"async"``).
    :param env_kwargs: forwarded to ``gym.make`` (e.g. ``mode``, ``difficulty``,
        ``full_action_space``, ``max_num_frames_per_episode``).
    :return: the env; observations uint8 ``([S,] H, W[, 3])``.

    Example::

        >>> env = make_atari_env("ALE/Pong-v5", rgb=False, frame_stack=4)
        >>> env.observation_space.shape
        (4, 84, 84)
    """
    _check_env_id(env_id)
    if frame_skip < 1:
        raise ValueError(f"frame_skip must be >= 1, got {frame_skip}")
    if frame_stack < 1:
        raise ValueError(f"frame_stack must be >= 1 (1 = no stacking), got {frame_stack}")
    if noop_max < 0:
        raise ValueError(f"noop_max must be >= 0, got {noop_max}")
    if not 0.0 <= repeat_action_probability <= 1.0:
        raise ValueError(f"repeat_action_probability must be in [0, 1], got {repeat_action_probability}")
    if max_episode_steps is not None and max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
    if int(fire_steps) < 1:
        raise ValueError(f"fire_steps must be >= 1, got {fire_steps}")
    if fire_on_reset not in (True, False, "auto"):
        raise ValueError(f"fire_on_reset must be True, False or 'auto', got {fire_on_reset!r}")
    for key in ("frameskip", "repeat_action_probability"):
        if key in env_kwargs:
            raise ValueError(f"pass frame_skip / repeat_action_probability, not the emulator kwarg {key!r}")
    make = functools.partial(
        _make_one, env_id, bool(rgb), _screen_size(screen_size), int(frame_skip), int(frame_stack), int(noop_max),
        float(repeat_action_probability), bool(terminal_on_life_loss), bool(clip_reward), fire_on_reset,
        int(fire_steps), max_episode_steps,
        render_mode, tuple(wrappers), dict(env_kwargs),
    )
    if num_envs is None:
        return make()
    if int(num_envs) < 1:
        raise ValueError(f"num_envs must be a positive int or None (single env), got {num_envs}")
    fns = [make] * int(num_envs)
    if vectorization_mode == "sync":
        return gym.vector.SyncVectorEnv(fns, **(vector_kwargs or {}))
    if vectorization_mode == "async":
        return gym.vector.AsyncVectorEnv(fns, **(vector_kwargs or {}))
    raise ValueError(f"vectorization_mode must be one of {VECTORIZATION_MODES}, got {vectorization_mode!r}")


def atari_pixel_env(env_id: str = "ALE/Pong-v5", **kwargs: Any) -> gym.Env | gym.vector.VectorEnv:
    """The standard pixel-agent input: grey 84×84 frames, 4 stacked, observations ``(4, 84, 84)``
    uint8 (channels first, read directly by SB3's ``CnnPolicy``).

    Same as ``make_atari_env(env_id, rgb=False, frame_stack=4, **kwargs)``; every other
    setting (sticky actions, no-ops, unclipped reward, ...) is that of :func:`make_atari_env`,
    so a pixel agent and a keypoint agent built from the same arguments see the same game.
    """
    kwargs.setdefault("rgb", False)
    kwargs.setdefault("frame_stack", 4)
    return make_atari_env(env_id, **kwargs)
