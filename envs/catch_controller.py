"""A scripted Catch controller: what a perfect reader of the observation would do, no learning.

An instrument of the observation ladder (docs/keypoint_ladder.md; ``experiments/scripted_catch.py`` plays it):
it uses what we know about ``MintTasks/Catch-v0`` (:mod:`envs.tasks`) to read an observation the way a perfect
policy would, so its return is what the observation allows. The same rule on two observations:

- :func:`keypoint_action`: keypoint rows ``x, y, status, one-hot colour code`` (one frame, the main job's
  representation with colour codes, :mod:`envs.keypoint_observation`); the codes' roles come from
  :func:`code_roles`;
- :func:`object_action`: the true objects of ``info["objects"]`` (slot 0 is the paddle).

The rule: the paddle is at the mean x of the keypoints coded white (the paddle's colour); the target is, among
the active keypoints above the paddle whose code is neither the background (the darkest code), red (bad
objects) nor white, the lowest one (the next to land); the action moves toward the target's x, staying within a
:data:`DEAD_ZONE` (:func:`action_towards`). Coordinates follow :mod:`mint_rl.coords`: ``(x, y)`` in ``[-1, 1]``,
x right, y down.

Example::

    roles = code_roles(codebook)            # codebook (N, 3) in [0, 1]
    action = keypoint_action(obs, roles)    # obs (K, 3 + N) → 0 stay, 1 left, 2 right
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from envs.tasks import AGENT_COLOUR, BAD_COLOUR

__all__ = ["DEAD_ZONE", "code_roles", "action_towards", "keypoint_action", "object_action"]

DEAD_ZONE = 2 * 2 / 64
"""2 px in normalised units on Catch's 64-px-wide frame: closer than this to the target, the paddle stays."""


def code_roles(codebook: np.ndarray) -> dict[str, int]:
    """Which code is the background (darkest), the paddle (nearest white) and red (nearest the bad colour).

    :param codebook: ``(N, 3)`` RGB colours in ``[0, 1]`` (:func:`mint_rl.appearance.fit_colour_codebook`).
    :return: ``{"background": i, "paddle": j, "red": k}``, indices into the codebook.
    """
    def nearest(colour: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(codebook - colour / 255.0, axis=1)))

    return {"background": int(np.argmin(codebook.sum(1))), "paddle": nearest(AGENT_COLOUR), "red": nearest(BAD_COLOUR)}


def action_towards(paddle_x: float, target_x: float | None) -> int:
    """Catch's action toward ``target_x``: 0 stay (no target, or within :data:`DEAD_ZONE`), 1 left, 2 right."""
    if target_x is None or abs(target_x - paddle_x) < DEAD_ZONE:
        return 0
    return 1 if target_x < paddle_x else 2


def keypoint_action(obs: np.ndarray, roles: Mapping[str, int]) -> int:
    """The rule on keypoint rows.

    :param obs: ``(K, 3 + N)``: x, y, status, one-hot colour code of each keypoint (one frame).
    :param roles: :func:`code_roles` of the codebook.
    :return: 0 stay, 1 left, 2 right.
    """
    xy, active, code = obs[:, :2], obs[:, 2] > 0.5, obs[:, 3:].argmax(1)
    paddle = active & (code == roles["paddle"])
    paddle_x = float(xy[paddle, 0].mean()) if paddle.any() else 0.0
    paddle_y = float(xy[paddle, 1].mean()) if paddle.any() else 0.9
    wanted = active & ~np.isin(code, list(roles.values())) & (xy[:, 1] < paddle_y - 0.05)
    target = float(xy[wanted][xy[wanted, 1].argmax(), 0]) if wanted.any() else None
    return action_towards(paddle_x, target)


def object_action(objects: Mapping[str, Any] | None) -> int:
    """The same rule on ``info["objects"]`` of Catch (slot 0 is the paddle; ``good`` marks the good objects).

    :return: 0 stay (also without objects), 1 left, 2 right.
    """
    if objects is None:
        return 0
    centres = np.asarray(objects["centres"])
    paddle_x, paddle_y = centres[0]
    wanted = np.asarray(objects["visible"]) & np.asarray(objects["good"]) & (centres[:, 1] < paddle_y - 0.05)
    wanted[0] = False
    return action_towards(float(paddle_x), float(centres[wanted][centres[wanted, 1].argmax(), 0]) if wanted.any()
                          else None)
