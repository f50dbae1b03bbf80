"""Colour codes: a discrete appearance category for every keypoint, learned without labels.

What a keypoint agent needs to know about an object besides where it is often comes down to
*which kind* of object it is (on Catch: red costs, other colours pay). Raw colour values are
slow for a policy to learn from (PPO on the true object centres with their RGB colour instead
of a good/bad flag is far slower than with the flag: ``docs/keypoint_ladder.md``), so this
module turns the appearance under each keypoint into a category, one-hot:

1. the keypoint's *colour*: the per-channel maximum of its glimpse (the ``p × p`` pixels
   around it, :func:`mint_rl.glimpses.extract_glimpses`) in [0, 1], which on a dark background
   is the colour of the brightest object part near the keypoint, wherever on the object's
   edge the keypoint sits;
2. a codebook of ``n`` colours fitted by k-means (``scipy.cluster.vq.kmeans2``) to the colours
   of the keypoints of unlabelled frames (the encoder's pretraining frames);
3. the category of a keypoint: its nearest code (Euclidean), as a one-hot vector.

Example::

    >>> colours = torch.tensor([[[0.9, 0.0, 0.0], [0.0, 0.8, 0.1]]])
    >>> colour_categories(colours, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    tensor([[[1., 0.],
             [0., 1.]]])
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from mint_rl.glimpses import extract_glimpses
from mint_rl.keypoints import encode_in_chunks

__all__ = ["glimpse_colours", "colour_categories", "fit_colour_codebook", "background_code"]


def glimpse_colours(frames: torch.Tensor, coords: torch.Tensor, size: int) -> torch.Tensor:
    """Per-channel maximum of each keypoint's glimpse.

    :param frames: ``(B, C, H, W)`` uint8 frames.
    :param coords: ``(B, K, 2)`` keypoints, (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param size: glimpse side in pixels.
    :return: ``(B, K, C)`` float32 in [0, 1].
    """
    glimpses = extract_glimpses(frames, coords, size)  # (B, K, C, p, p)
    return glimpses.flatten(3).amax(-1).float() / 255.0


def colour_categories(colours: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """One-hot nearest code of every colour.

    :param colours: ``(..., C)`` in [0, 1].
    :param codebook: ``(n, C)``.
    :return: ``(..., n)`` float32 one-hot.
    """
    if colours.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"colours have {colours.shape[-1]} channels but the codebook {codebook.shape[-1]}")
    dist = torch.cdist(colours.reshape(-1, colours.shape[-1]).float(), codebook.float())  # (M, n)
    onehot = torch.nn.functional.one_hot(dist.argmin(-1), codebook.shape[0]).float()
    return onehot.reshape(*colours.shape[:-1], codebook.shape[0])


@torch.no_grad()
def fit_colour_codebook(encoder: torch.nn.Module, frames: np.ndarray, size: int, n_codes: int, seed: int = 0,
                        max_frames: int = 2000, active_only: bool = True) -> np.ndarray:
    """Fit the colour codebook to the keypoint colours of unlabelled frames (k-means).

    :param encoder: a keypoint encoder (``encoder.encode(frames)`` gives :class:`~mint_rl.keypoints.Keypoints`).
    :param frames: ``(N, H, W, C)`` uint8 frames at the encoder's input size.
    :param size: glimpse side in pixels.
    :param n_codes: n, the number of categories.
    :param seed: seed of the frame subsample and of k-means.
    :param max_frames: at most this many frames are used.
    :param active_only: fit on active keypoints only (on all when fewer than ``n_codes`` are active).
    :return: ``(n, C)`` float32 codebook in [0, 1], sorted by brightness (so it does not depend on
        k-means' order).
    """
    from scipy.cluster.vq import kmeans2

    if n_codes < 1:
        raise ValueError(f"n_codes must be >= 1, got {n_codes}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(frames), size=min(max_frames, len(frames)), replace=False)
    x = torch.from_numpy(np.ascontiguousarray(frames[np.sort(pick)])).permute(0, 3, 1, 2)
    kp = encode_in_chunks(encoder, x)
    colours = glimpse_colours(x, kp.coords.cpu(), size)  # (N, K, C)
    active = kp.status.cpu() > 0.5
    if active_only and int(active.sum()) >= n_codes:  # (an untrained encoder may have no active keypoint)
        colours = colours[active]
    data = colours.reshape(-1, colours.shape[-1]).numpy().astype(np.float64)
    if len(data) < n_codes:
        raise ValueError(f"only {len(data)} keypoint colours to fit {n_codes} codes; give more frames")
    unique = np.unique(data.round(6), axis=0)
    if len(unique) <= n_codes:  # no more colours than codes (e.g. an untrained encoder): each colour is a code,
        # the spare codes repeat the brightest one (argmin picks the first of equals, so they are never used)
        codebook = np.concatenate([unique, np.repeat(unique[-1:], n_codes - len(unique), axis=0)])
    else:
        with warnings.catch_warnings():  # a cluster left empty keeps its initial centre, which is a data colour
            warnings.filterwarnings("ignore", message="One of the clusters is empty")
            codebook, _ = kmeans2(data, n_codes, seed=seed, minit="++")
    order = np.argsort(codebook.sum(1), kind="stable")
    return codebook[order].astype(np.float32)


def background_code(codebook: np.ndarray, frames: np.ndarray, max_frames: int = 500) -> int:
    """The code of the scene's background: the one nearest the median colour of the frames' pixels.

    On scenes with a plain background (most pixels one colour) the per-channel median over all
    pixels is that colour; no labels are used.

    :param codebook: ``(n, C)`` colours in [0, 1] (:func:`fit_colour_codebook`).
    :param frames: ``(N, H, W, C)`` uint8 frames of the scene.
    :param max_frames: at most this many frames (evenly spaced) are read.
    :return: the index of the background code in ``codebook``.
    """
    codebook = np.asarray(codebook, np.float64)
    if frames.ndim != 4 or frames.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"frames must be (N, H, W, {codebook.shape[-1]}) for a codebook of {codebook.shape[-1]} "
                         f"channels, got {frames.shape}")
    pick = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
    median = np.median(frames[pick].reshape(-1, frames.shape[-1]), axis=0) / 255.0
    return int(np.argmin(np.linalg.norm(codebook - median, axis=1)))
