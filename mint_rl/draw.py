"""Drawing keypoints, entropy maps, grids and videos (numpy / cv2 / matplotlib / PIL).

Everything here works on **RGB uint8** images ``(H, W, 3)`` and never modifies its inputs.
Keypoints follow the mint-rl convention of :mod:`mint_rl.coords`: ``(x, y)``, x to the
right, y down, in ``[-1, 1]``, pixel-centre aligned, so in an image ``W`` pixels wide the
keypoint ``x`` lies at pixel ``x_px = (x + 1) * W / 2 - 0.5`` (column ``i`` has its centre at
``x = (2 i + 1) / W - 1``; :func:`mint_rl.coords.normalised_to_pixel`). Coordinates, status, maps
and frames may be numpy arrays or torch tensors (any device; they are detached and copied to the CPU).

Example::

    >>> frame = np.zeros((64, 64, 3), np.uint8)
    >>> coords = np.array([[0.0, 0.0], [0.5, -0.5]]); status = np.array([1.0, 0.0])
    >>> draw_keypoints(frame, coords, status, scale=4).shape   # filled + hollow circle
    (256, 256, 3)

No pyplot state is used: :func:`entropy_figure` builds a bare ``matplotlib.figure.Figure``
(rendered with Agg), so it is safe in headless training runs and is garbage-collected like
any object (no ``plt.close`` needed).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from mint_rl.coords import normalised_to_pixel

__all__ = [
    "keypoint_colors",
    "draw_keypoints",
    "draw_keypoints_batch",
    "draw_mask_boxes",
    "HIT_COLOR",
    "MISS_COLOR",
    "colorize",
    "image_grid",
    "entropy_figure",
    "write_video",
    "to_tensorboard_image",
]

ArrayLike = Union[np.ndarray, torch.Tensor]

HIT_COLOR = (0, 230, 0)
"""RGB outline of an object box with a keypoint inside it, in overlays (:func:`draw_mask_boxes`)."""
MISS_COLOR = (255, 40, 40)
"""RGB outline of an object box with no keypoint inside it."""

_GOLDEN = 0.6180339887498949
# Sub-pixel precision for cv2 drawing: coordinates are passed multiplied by 2**_SHIFT.
_SHIFT = 4


def _np(x: ArrayLike) -> np.ndarray:
    """A numpy view/copy of an array or (detached, CPU) tensor."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _as_rgb(frame: ArrayLike, name: str = "frame") -> np.ndarray:
    """``(H, W, 3)`` uint8 copy of an ``(H, W, 3)``, ``(H, W, 1)`` or ``(H, W)`` uint8 image."""
    img = _np(frame)
    if img.dtype != np.uint8:
        raise ValueError(
            f"{name} must be uint8 (0..255), got dtype {img.dtype}; convert float images with "
            "(img * 255).clip(0, 255).astype(np.uint8) first"
        )
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 3:
        return img.copy()
    raise ValueError(f"{name} must have shape (H, W, 3) or (H, W), got {img.shape}")


def keypoint_colors(k: int) -> np.ndarray:
    """K distinct RGB colours, one per keypoint identity.

    Colour ``i`` depends only on ``i`` (not on ``k``): hues step by the golden ratio, so
    neighbouring identities get far-apart hues and adding keypoints never recolours old ones.

    :param k: number of keypoints.
    :return: ``(K, 3)`` uint8 RGB.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    i = np.arange(k)
    hue = (i * _GOLDEN) % 1.0
    # Vary saturation/value in slow cycles so that hues that come close again stay apart.
    sat = 0.95 - 0.3 * ((i // 7) % 2)
    val = 1.0 - 0.2 * ((i // 14) % 2)
    hsv = np.stack([hue, sat, val], axis=-1).astype(np.float32)
    rgb = cv2.cvtColor((hsv * [360.0, 1.0, 1.0]).astype(np.float32)[None], cv2.COLOR_HSV2RGB)[0]
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def draw_keypoints(
    frame: ArrayLike,
    coords: ArrayLike,
    status: Optional[ArrayLike] = None,
    radius: Optional[float] = None,
    scale: Optional[int] = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """Draw keypoints as circles coloured by identity on a (possibly upscaled) copy of a frame.

    Active keypoints (``status > threshold``) are filled discs, inactive ones hollow rings
    (the pixel under the keypoint keeps its value), so both positions stay visible.

    :param frame: ``(H, W, 3)`` RGB or ``(H, W)`` grey uint8 (grey is converted to RGB).
    :param coords: ``(K, 2)`` (x, y) in [-1, 1], y down, pixel-centre aligned.
    :param status: ``(K,)`` in [0, 1]; None draws every keypoint as active.
    :param radius: circle radius in output pixels; default ``max(2, min(H', W') / 40)``.
    :param scale: integer nearest-neighbour upscaling of the frame before drawing (e.g. 4
        for a readable 64×64 frame); None or 1 keeps the size.
    :param threshold: status above which a keypoint counts as active (0.5 in mint-rl).
    :return: new ``(H * scale, W * scale, 3)`` uint8 RGB image.
    """
    img = _as_rgb(frame)
    xy = _np(coords).astype(np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"coords must have shape (K, 2) with (x, y) in [-1, 1], got {xy.shape}")
    k = xy.shape[0]
    if status is None:
        active = np.ones(k, dtype=bool)
    else:
        st = _np(status).astype(np.float64)
        if st.shape != (k,):
            raise ValueError(f"status must have shape (K,) = ({k},) to match coords, got {st.shape}")
        active = st > threshold
    s = 1 if scale is None else int(scale)
    if s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if s > 1:
        img = np.repeat(np.repeat(img, s, axis=0), s, axis=1)
    h, w = img.shape[:2]
    r = max(2.0, min(h, w) / 40.0) if radius is None else float(radius)
    thickness = max(1, int(round(r / 3)))
    # Pixel-centre convention in the output image; cv2 wants fixed-point integers.
    px, py = normalised_to_pixel(xy, (h, w)).T
    colors = keypoint_colors(k)
    f = 1 << _SHIFT
    for i in range(k):
        if not (np.isfinite(px[i]) and np.isfinite(py[i])):
            continue
        centre = (int(round(px[i] * f)), int(round(py[i] * f)))
        color = tuple(int(c) for c in colors[i])
        cv2.circle(
            img, centre, int(round(r * f)), color,
            thickness=-1 if active[i] else thickness, lineType=cv2.LINE_AA, shift=_SHIFT,
        )
    return img


def draw_keypoints_batch(
    frames: ArrayLike,
    coords: ArrayLike,
    status: Optional[ArrayLike] = None,
    radius: Optional[float] = None,
    scale: Optional[int] = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """:func:`draw_keypoints` over a batch.

    :param frames: ``(N, H, W, 3)`` or ``(N, H, W)`` uint8.
    :param coords: ``(N, K, 2)``.
    :param status: ``(N, K)`` or None.
    :return: ``(N, H * scale, W * scale, 3)`` uint8 RGB.
    """
    fr, xy = _np(frames), _np(coords)
    if fr.ndim not in (3, 4):
        raise ValueError(f"frames must have shape (N, H, W, 3) or (N, H, W), got {fr.shape}")
    if xy.ndim != 3 or xy.shape[0] != fr.shape[0]:
        raise ValueError(f"coords must have shape (N, K, 2) with N = {fr.shape[0]}, got {xy.shape}")
    st = None if status is None else _np(status)
    if st is not None and st.shape != xy.shape[:2]:
        raise ValueError(f"status must have shape (N, K) = {xy.shape[:2]}, got {st.shape}")
    out = [
        draw_keypoints(fr[n], xy[n], None if st is None else st[n], radius, scale, threshold)
        for n in range(fr.shape[0])
    ]
    return np.stack(out) if out else np.zeros((0, 0, 0, 3), np.uint8)


def draw_mask_boxes(
    image: ArrayLike,
    masks: ArrayLike,
    colors: ArrayLike,
    scale: int = 1,
    labels: Optional[Sequence[str]] = None,
) -> np.ndarray:
    """Outline the bounding box of each mask on a copy of an image (e.g. the ground-truth object boxes
    over a :func:`draw_keypoints` overlay).

    :param image: ``(H * scale, W * scale, 3)`` RGB uint8, the frame already upscaled by ``scale``.
    :param masks: ``(N, H, W)`` bool at the frame's size; an empty mask draws nothing.
    :param colors: ``(N, 3)`` RGB uint8, one per mask.
    :param scale: the upscaling of ``image`` relative to the masks (a positive integer).
    :param labels: ``N`` strings written above their boxes (None: no text).
    :return: new ``(H * scale, W * scale, 3)`` uint8 RGB image; the outline of mask ``n`` runs along the
        outermost output pixels of its box's pixels (box columns ``x0 .. x1`` → ``x0 * scale .. (x1 + 1) * scale - 1``).
    """
    img = _as_rgb(image).copy()
    m = _np(masks).astype(bool)
    s = int(scale)
    if isinstance(scale, bool) or s != scale or s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if m.ndim != 3 or (m.shape[1] * s, m.shape[2] * s) != img.shape[:2]:
        raise ValueError(f"masks must be (N, H, W) with (H * scale, W * scale) = the image's {img.shape[:2]}, "
                         f"got {m.shape} at scale {s}")
    col = _np(colors).astype(np.int64)
    if col.shape != (m.shape[0], 3):
        raise ValueError(f"colors must be (N, 3) = ({m.shape[0]}, 3) RGB, one per mask, got {col.shape}")
    if labels is not None and len(labels) != m.shape[0]:
        raise ValueError(f"labels must give one string per mask ({m.shape[0]}), got {len(labels)}")
    for n in range(m.shape[0]):
        rows, cols = np.flatnonzero(m[n].any(1)), np.flatnonzero(m[n].any(0))
        if not rows.size:
            continue
        color = tuple(int(c) for c in col[n])
        top_left = (int(cols[0]) * s, int(rows[0]) * s)
        cv2.rectangle(img, top_left, ((int(cols[-1]) + 1) * s - 1, (int(rows[-1]) + 1) * s - 1), color, 1)
        if labels is not None and labels[n]:
            cv2.putText(img, str(labels[n]), (top_left[0], max(top_left[1] - 3, 8)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.3, color, 1, cv2.LINE_AA)
    return img


def colorize(
    map2d: ArrayLike,
    vmin: Optional[float] = None,
    vmax: Optional[float] = None,
    cmap: str = "viridis",
) -> np.ndarray:
    """A scalar map (e.g. an entropy map) as a colour image.

    Values are clipped to ``[vmin, vmax]`` (default: the map's finite min and max) and mapped
    through a matplotlib colormap; NaN/inf pixels are black.

    :param map2d: ``(H, W)`` float (a leading singleton dimension is squeezed).
    :return: ``(H, W, 3)`` uint8 RGB.
    """
    m = _np(map2d).astype(np.float64)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"colorize expects a 2-D map (H, W), got shape {m.shape}")
    finite = np.isfinite(m)
    lo = vmin if vmin is not None else (float(m[finite].min()) if finite.any() else 0.0)
    hi = vmax if vmax is not None else (float(m[finite].max()) if finite.any() else 1.0)
    norm = np.clip((m - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(m)
    rgb = colormaps[cmap](np.where(finite, norm, 0.0))[..., :3]
    out = np.round(rgb * 255.0).astype(np.uint8)
    out[~finite] = 0
    return out


def image_grid(
    images: Sequence[ArrayLike],
    ncols: Optional[int] = None,
    pad: int = 2,
    pad_value: int = 255,
) -> np.ndarray:
    """Tile images into a grid, row-major.

    Every image is resized (nearest neighbour, aspect ratio kept) to the first image's height;
    cells are as wide as the widest image, images are left-aligned and ``pad`` pixels of
    ``pad_value`` separate and surround the cells.

    :param images: list of ``(H, W, 3)`` (or grey ``(H, W)``) uint8.
    :param ncols: images per row; default all in one row.
    :return: ``(H', W', 3)`` uint8 with ``H' = rows * (H0 + pad) + pad``.
    """
    if len(images) == 0:
        raise ValueError("image_grid needs at least one image")
    imgs = [_as_rgb(im, f"images[{i}]") for i, im in enumerate(images)]
    h0 = imgs[0].shape[0]
    for i, im in enumerate(imgs):
        if im.shape[0] != h0:
            new_w = max(1, int(round(im.shape[1] * h0 / im.shape[0])))
            imgs[i] = cv2.resize(im, (new_w, h0), interpolation=cv2.INTER_NEAREST)
    n = len(imgs)
    cols = n if ncols is None else max(1, min(int(ncols), n))
    rows = -(-n // cols)
    cw = max(im.shape[1] for im in imgs)
    grid = np.full((rows * (h0 + pad) + pad, cols * (cw + pad) + pad, 3), pad_value, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        y, x = pad + r * (h0 + pad), pad + c * (cw + pad)
        grid[y:y + h0, x:x + im.shape[1]] = im
    return grid


def entropy_figure(
    frames: ArrayLike,
    entropy: ArrayLike,
    masks: ArrayLike,
    coords: ArrayLike,
    status: ArrayLike,
    path: Optional[Union[str, os.PathLike]] = None,
    threshold: float = 0.5,
) -> Figure:
    """A diagnostic figure: one row per frame, four columns.

    Columns: frame with keypoints / entropy map / coverage mask (union of active patches) /
    uncovered entropy ``entropy × (1 − mask)``. Entropy and uncovered entropy share one colour
    range per row, so the last column shows how much information the keypoints miss.

    :param frames: ``(N, H, W, 3)`` or ``(N, H, W)`` uint8.
    :param entropy: ``(N, h, w)`` float entropy maps.
    :param masks: ``(N, h, w)`` coverage masks in [0, 1], or ``(N, K, h, w)`` per-keypoint
        patches, reduced to the max over active keypoints.
    :param coords: ``(N, K, 2)`` in [-1, 1].
    :param status: ``(N, K)`` in [0, 1].
    :param path: if given, the figure is saved there as PNG (parent dirs are created).
    :param threshold: status above which a keypoint is active.
    :return: the ``matplotlib.figure.Figure`` (Agg-rendered, not registered with pyplot).
    """
    fr, ent = _np(frames), _np(entropy).astype(np.float64)
    mk, st = _np(masks).astype(np.float64), _np(status).astype(np.float64)
    n = fr.shape[0]
    if ent.ndim != 3 or ent.shape[0] != n:
        raise ValueError(f"entropy must have shape (N, h, w) with N = {n}, got {ent.shape}")
    if mk.ndim == 4:
        if mk.shape[:2] != st.shape:
            raise ValueError(f"per-keypoint masks (N, K, h, w) must match status (N, K) = {st.shape}, got {mk.shape}")
        mk = (mk * (st > threshold)[:, :, None, None]).max(axis=1) if mk.shape[1] else np.zeros_like(ent)
    if mk.shape != ent.shape:
        raise ValueError(f"masks must have the entropy's shape {ent.shape} (or (N, K, h, w)), got {mk.shape}")
    h, w = fr.shape[1:3]
    scale = max(1, 256 // max(h, w))
    drawn = draw_keypoints_batch(fr, coords, st, scale=scale, threshold=threshold)

    fig = Figure(figsize=(4 * 2.6, n * 2.6), dpi=100, layout="constrained")
    axes = fig.subplots(n, 4, squeeze=False)
    titles = ["keypoints", "entropy", "coverage mask", "entropy × (1 − mask)"]
    for i in range(n):
        finite = ent[i][np.isfinite(ent[i])]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        uncovered = ent[i] * (1.0 - mk[i])
        axes[i, 0].imshow(drawn[i], interpolation="nearest")
        im = axes[i, 1].imshow(ent[i], vmin=lo, vmax=hi, cmap="viridis", interpolation="nearest")
        axes[i, 2].imshow(mk[i], vmin=0.0, vmax=1.0, cmap="gray", interpolation="nearest")
        axes[i, 3].imshow(uncovered, vmin=lo, vmax=hi, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=axes[i, 3], fraction=0.046)
        for j, ax in enumerate(axes[i]):
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
        axes[i, 3].set_xlabel(f"uncovered {uncovered.sum() / max(ent[i].sum(), 1e-12):.0%}", fontsize=8)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return fig


def _check_video_frames(frames: Sequence[ArrayLike]) -> list[np.ndarray]:
    """Validate video frames: non-empty, uint8, all of one shape; grey becomes RGB."""
    if frames is None or len(frames) == 0:
        raise ValueError("write_video got no frames: pass a non-empty sequence of (H, W, 3) uint8 images")
    out = [_as_rgb(f, f"frames[{i}]") for i, f in enumerate(frames)]
    shape = out[0].shape
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"write_video got empty frames of shape {shape}")
    for i, f in enumerate(out):
        if f.shape != shape:
            raise ValueError(f"all frames must have one shape; frames[0] is {shape} but frames[{i}] is {f.shape}")
    return out


def write_video(frames: Sequence[ArrayLike], path: Union[str, os.PathLike], fps: float = 15) -> Path:
    """Write RGB frames as ``.mp4`` (cv2, ``mp4v``) or ``.gif`` (PIL, looping).

    The file is written to a temporary name in the target directory and moved into place with
    ``os.replace``, so an interrupted run never leaves a half-written video under ``path``.
    MPEG-4 needs even sizes: odd heights/widths are padded by one replicated row/column.

    :param frames: sequence of ``(H, W, 3)`` RGB (or ``(H, W)`` grey) uint8, all one shape.
    :param path: output file; the extension picks the format. Parent dirs are created.
    :param fps: frames per second (GIF stores delays in 10 ms steps).
    :return: the path written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".mp4", ".gif"):
        raise ValueError(f"write_video supports .mp4 and .gif, got {str(path)!r} (extension {ext!r})")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    imgs = _check_video_frames(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{ext}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if ext == ".mp4":
            h, w = imgs[0].shape[:2]
            ph, pw = h % 2, w % 2
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w + pw, h + ph))
            if not writer.isOpened():
                raise RuntimeError(f"cv2.VideoWriter could not open an mp4v writer for {str(path)!r}")
            try:
                for img in imgs:
                    if ph or pw:
                        img = np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="edge")
                    writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            finally:
                writer.release()
            if tmp.stat().st_size == 0:
                raise RuntimeError(f"cv2.VideoWriter wrote nothing for {str(path)!r}")
        else:
            pil = [Image.fromarray(img) for img in imgs]
            pil[0].save(
                tmp, format="GIF", save_all=True, append_images=pil[1:],
                duration=max(10, int(round(1000.0 / fps))), loop=0,
            )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def to_tensorboard_image(image: ArrayLike) -> np.ndarray:
    """``(H, W, 3)`` uint8 → ``(3, H, W)`` uint8 for ``SummaryWriter.add_image`` (default CHW).

    Equivalently pass the HWC image with ``add_image(tag, image, step, dataformats="HWC")``.
    """
    img = _as_rgb(image, "image")
    return np.ascontiguousarray(img.transpose(2, 0, 1))
