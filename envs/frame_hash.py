"""``FrameHash``: a wrapper that hashes the frames an env returns, to check two consumers saw the same stream.

``experiments/online_vs_pretrained.py`` wraps the online arm's env in it and compares the digest of its first N
frames with the sha1 of the N frames the pretrained arm trained on (both from the same env seed).

Example::

    env = FrameHash(gym.make("MintScenes/Collisions-v0"), prefix=3000)
    ...  # step it
    same = env.digest() == hashlib.sha1(np.ascontiguousarray(frames[:env.count]).tobytes()).hexdigest()
"""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["FrameHash"]


class FrameHash(gym.Wrapper):
    """Hashes the frames an env returns (reset and step), to compare frame streams.

    The observations pass through unchanged. The sha1 covers the bytes of the first ``prefix`` frames (C order),
    reset frames included, in the order they were returned.

    :param env: an env with array observations.
    :param prefix: how many frames to hash; later frames are not hashed.
    """

    def __init__(self, env: gym.Env, prefix: int) -> None:
        super().__init__(env)
        self.prefix = prefix
        self.count = 0  # frames hashed so far (at most prefix)
        self._hash = hashlib.sha1()
        self.prefix_digest: str | None = None

    def _see(self, frame: np.ndarray) -> None:
        if self.count < self.prefix:
            self._hash.update(np.ascontiguousarray(frame).tobytes())
            self.count += 1
            if self.count == self.prefix:
                self.prefix_digest = self._hash.hexdigest()

    def digest(self) -> str:
        """sha1 (hex) of the first ``min(prefix, frames seen)`` frames."""
        return self.prefix_digest or self._hash.hexdigest()

    def reset(self, **kwargs: Any) -> Any:
        obs, info = self.env.reset(**kwargs)
        self._see(obs)
        return obs, info

    def step(self, action: Any) -> Any:
        obs, *rest = self.env.step(action)
        self._see(obs)
        return (obs, *rest)
