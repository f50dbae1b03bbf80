"""Clip sampling from uint8 frame storage, with entropy maps computed once per frame.

``FrameBuffer`` is a bounded ring buffer of frames ``(C, H, W)`` uint8 with the local
entropy of each frame on the heatmap grid, computed once as the frame enters (entropy is
the hot path of MINT training, so it is never recomputed per sample). Each frame carries
an episode id; a clip of T consecutive frames never spans an episode boundary. The same
class serves offline pretraining (fill it once from a frame array) and online co-training
(the Gymnasium wrapper adds frames as the agent plays).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

__all__ = ["FrameBuffer", "frames_to_chw"]


def frames_to_chw(frames: np.ndarray | torch.Tensor, channels: int) -> torch.Tensor:
    """``(N, H, W, C)`` or ``(N, C, H, W)`` uint8 frames → ``(N, C, H, W)`` uint8 tensor.

    Channels-last is recognised by its last dimension equal to ``channels`` (and the second
    not); a grey ``(N, H, W)`` array gets a channel dimension.
    """
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if x.dtype != torch.uint8:
        raise TypeError(f"frames must be uint8 (0–255), got {x.dtype}")
    if x.dim() == 3 and channels == 1:
        x = x.unsqueeze(1)
    if x.dim() != 4:
        raise ValueError(f"frames must have shape (N, H, W, C) or (N, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] == channels:
        return x.contiguous()
    if x.shape[-1] == channels:
        return x.permute(0, 3, 1, 2).contiguous()
    raise ValueError(f"frames of shape {tuple(x.shape)} have no axis of {channels} channels")


class FrameBuffer:
    """Bounded ring buffer of uint8 frames and their entropy maps.

    :param capacity: maximum number of frames kept (oldest dropped first).
    :param frame_shape: ``(C, H, W)``.
    :param grid_size: ``(H', W')`` of the entropy maps.
    :param entropy_fn: frames ``(N, C, H, W)`` uint8 → entropy ``(N, H', W')`` float.
    :param entropy_dtype: storage dtype of the entropy maps (float16 halves memory).
    """

    def __init__(self, capacity: int, frame_shape: tuple[int, int, int], grid_size: tuple[int, int],
                 entropy_fn: Callable[[torch.Tensor], torch.Tensor], entropy_dtype: torch.dtype = torch.float32) -> None:
        if capacity < 2:
            raise ValueError(f"FrameBuffer capacity must be >= 2, got {capacity}")
        self.capacity = int(capacity)
        self.frame_shape = tuple(frame_shape)
        self.grid_size = tuple(grid_size)
        self.entropy_fn = entropy_fn
        self.frames = torch.zeros((capacity, *frame_shape), dtype=torch.uint8)
        self.entropy = torch.zeros((capacity, *grid_size), dtype=entropy_dtype)
        self.episode = torch.full((capacity,), -1, dtype=torch.int64)
        self.size = 0
        self._next = 0  # physical slot of the next write
        self._episode_id = 0
        self._open = False  # whether the last frame's episode continues

    def __len__(self) -> int:
        return self.size

    def add(self, frames: torch.Tensor | np.ndarray, new_episode: bool = False) -> None:
        """Append consecutive frames of one episode.

        :param frames: ``(N, C, H, W)`` or ``(N, H, W, C)`` uint8, consecutive in time.
        :param new_episode: the first frame starts a new episode (e.g. after a reset).
        """
        x = frames_to_chw(frames, self.frame_shape[0])
        if tuple(x.shape[1:]) != self.frame_shape:
            raise ValueError(f"frames of shape {tuple(x.shape[1:])} do not fit this buffer's {self.frame_shape}")
        if new_episode or not self._open:
            self._episode_id += 1
            self._open = True
        with torch.no_grad():
            ent = self.entropy_fn(x).to(self.entropy.dtype).cpu()
        for start in range(0, x.shape[0], self.capacity):
            chunk, echunk = x[start:start + self.capacity], ent[start:start + self.capacity]
            n = chunk.shape[0]
            idx = (self._next + torch.arange(n)) % self.capacity
            self.frames[idx] = chunk
            self.entropy[idx] = echunk
            self.episode[idx] = self._episode_id
            self._next = int((self._next + n) % self.capacity)
            self.size = min(self.size + n, self.capacity)

    def add_stream(self, frames: torch.Tensor | np.ndarray, episode_start: np.ndarray) -> None:
        """Append a stream of frames from one environment, split into episodes.

        :param frames: ``(N, ...)`` uint8 frames in time order.
        :param episode_start: ``(N,)`` bool, True where a frame begins a new episode.
        """
        starts = np.flatnonzero(np.asarray(episode_start, dtype=bool)).tolist()
        bounds = sorted(set([0, *starts, len(frames)]))
        for a, b in zip(bounds[:-1], bounds[1:]):
            self.add(frames[a:b], new_episode=a in starts or a == 0)

    def end_episode(self) -> None:
        """Mark that the next added frame starts a new episode."""
        self._open = False

    def _physical(self, logical: np.ndarray) -> np.ndarray:
        oldest = (self._next - self.size) % self.capacity
        return (oldest + logical) % self.capacity

    def frames_at(self, positions: np.ndarray) -> torch.Tensor:
        """A copy of the frames at the given positions, 0 being the oldest frame held.

        :param positions: ``(N,)`` ints in ``[0, len(self))``.
        :return: ``(N, C, H, W)`` uint8.
        """
        return self.frames[torch.from_numpy(self._physical(np.asarray(positions, dtype=np.int64)))]

    def num_clips(self, length: int) -> int:
        """Number of valid clip start positions for clips of ``length`` frames."""
        if self.size < length:
            return 0
        starts = np.arange(self.size - length + 1)
        ep = self.episode.numpy()
        return int((ep[self._physical(starts)] == ep[self._physical(starts + length - 1)]).sum())

    def sample(self, batch_size: int, length: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample clips of consecutive frames from single episodes.

        :return: frames ``(B, T, C, H, W)`` uint8 and entropy ``(B, T, H', W')`` float32.
        """
        if length < 2:
            raise ValueError(f"clips need at least 2 frames, got clip_length={length}")
        if self.size < length:
            raise ValueError(f"the buffer holds {self.size} frames, fewer than one clip of {length}")
        ep = self.episode.numpy()
        starts = np.arange(self.size - length + 1)
        valid = starts[ep[self._physical(starts)] == ep[self._physical(starts + length - 1)]]
        if valid.size == 0:
            raise ValueError(f"no episode in the buffer is {length} frames long")
        chosen = rng.choice(valid, size=batch_size, replace=valid.size < batch_size)
        idx = torch.from_numpy(self._physical(chosen[:, None] + np.arange(length)[None, :]))
        return self.frames[idx], self.entropy[idx].float()

    def state_dict(self) -> dict:
        return {"frames": self.frames[: self.capacity], "entropy": self.entropy, "episode": self.episode,
                "size": self.size, "next": self._next, "episode_id": self._episode_id, "open": self._open}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["frames"].shape) != tuple(self.frames.shape):
            raise ValueError(f"buffer state of shape {tuple(state['frames'].shape)} does not fit {tuple(self.frames.shape)}")
        self.frames.copy_(state["frames"])
        self.entropy.copy_(state["entropy"])
        self.episode.copy_(state["episode"])
        self.size, self._next = int(state["size"]), int(state["next"])
        self._episode_id, self._open = int(state["episode_id"]), bool(state["open"])
