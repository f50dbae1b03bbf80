"""Transporter keypoint baseline (Kulkarni et al. 2019, "Unsupervised Learning of Object
Keypoints for Perception and Control").

Two frames of one clip, a source ``x_s`` and a later target ``x_t``, go through two conv
networks: the feature network Φ (feature maps at a quarter of the input size) and the
keypoint network Ψ (K maps → spatial soft-argmax → keypoint coordinates → Gaussian maps).
The target is reconstructed from the source's features with the target's keypoints
*transported* into them::

    Φ̂ = (1 − H_s) · (1 − H_t) · Φ(x_s) + H_t · Φ(x_t),      x̂_t = R(Φ̂)

where ``H_s``/``H_t`` are the source/target Gaussian maps summed over the K keypoints (and
clipped to [0, 1], so overlapping keypoints never give negative weights). Φ's features are
erased where the source keypoints were and pasted where the target keypoints are, so the
only way to explain what moved between the frames is to put keypoints on it. Φ, Ψ and the
refinement network R are trained end to end with the pixel MSE ``‖x̂_t − x_t‖²``.

Layers (``c = hidden_channels``; each conv is followed by the config's norm then ReLU, as in
the paper)::

    Φ:  conv 5×5 /2 (c) → conv 3×3 (c) → conv 3×3 /2 (2c) → conv 3×3 (2c)   maps at H/4
    Ψ:  the same layout → conv 1×1 (K)                     keypoint logits at H/4
          → bilinear resize to ``grid_size`` → spatial softmax → (x, y)
    R:  conv 3×3 (2c) → ×2 up → conv 3×3 (c) → ×2 up → conv 3×3 (c) → conv 3×3 (C)

Differences from the paper, to fit mint-rl's interface and CPU budget: Φ and Ψ halve the
resolution in their first conv (the paper's first conv is stride 1), keypoints live on the
config's heatmap grid (``grid_size``; default half the input size) rather than on Φ's
quarter-size maps, the Gaussian std is the config's ``gaussian_std`` (a fraction of the map
width, ``G = exp(−d² / std²)``, the same maps as MINT), and each keypoint carries a feature
vector bilinearly sampled from a 1×1 projection of Φ's maps (as the MINT encoder does).
``status`` is always 1: the Transporter has no notion of an inactive keypoint.

Coordinates: (x, y), x right, y down, in [-1, 1], pixel-centre aligned.

Example::

    >>> cfg = MintConfig(num_keypoints=4, image_size=(64, 64), hidden_channels=16)
    >>> enc = TransporterEncoder(cfg).eval()
    >>> kp = enc(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    >>> kp.coords.shape, kp.status.shape, kp.features.shape, kp.heatmaps.shape
    (torch.Size([2, 4, 2]), torch.Size([2, 4]), torch.Size([2, 4, 8]), torch.Size([2, 4, 32, 32]))
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from mint_rl.config import MintConfig
from mint_rl.data import FrameBuffer
from mint_rl.encoder import check_encoder_frames, to_network_input
from mint_rl.keypoints import Keypoints, encode_in_chunks, gaussian_maps, sample_features, spatial_soft_argmax
from mint_rl.norm import norm_layer
from mint_rl.trainer import BaseTrainer
from mint_rl.utils import flush_denormals

__all__ = ["TransporterEncoder", "TransporterTrainer", "transport", "transporter_loss"]


# ---------------------------------------------------------------------- functional pieces
def transport(source_features: torch.Tensor, target_features: torch.Tensor,
              source_heatmaps: torch.Tensor, target_heatmaps: torch.Tensor) -> torch.Tensor:
    """Feature transport ``Φ̂ = (1 − H_s)(1 − H_t) · Φ_s + H_t · Φ_t``.

    ``H_s`` and ``H_t`` are the per-keypoint maps summed over keypoints and clipped to
    [0, 1]: where the target maps are 1 the result is the target's features, where both are
    0 it is the source's.

    :param source_features: ``(B, D, H, W)`` Φ of the source frame.
    :param target_features: ``(B, D, H, W)`` Φ of the target frame.
    :param source_heatmaps: ``(B, K, H, W)`` Gaussian maps of the source keypoints, in [0, 1].
    :param target_heatmaps: ``(B, K, H, W)`` Gaussian maps of the target keypoints, in [0, 1].
    :return: ``(B, D, H, W)`` transported features.
    """
    if source_features.shape != target_features.shape:
        raise ValueError(f"source and target features differ in shape: {tuple(source_features.shape)} vs "
                         f"{tuple(target_features.shape)}")
    if source_heatmaps.shape != target_heatmaps.shape:
        raise ValueError(f"source and target heatmaps differ in shape: {tuple(source_heatmaps.shape)} vs "
                         f"{tuple(target_heatmaps.shape)}")
    if source_heatmaps.shape[-2:] != source_features.shape[-2:] or source_heatmaps.shape[0] != source_features.shape[0]:
        raise ValueError(f"heatmaps {tuple(source_heatmaps.shape)} (B, K, H, W) do not match features "
                         f"{tuple(source_features.shape)} (B, D, H, W) in batch and spatial size")
    h_s = source_heatmaps.sum(dim=1, keepdim=True).clamp(max=1.0)
    h_t = target_heatmaps.sum(dim=1, keepdim=True).clamp(max=1.0)
    return (1 - h_s) * (1 - h_t) * source_features + h_t * target_features


def transporter_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel mean squared error between a reconstruction and its target frame, in [0, 1] scale.

    :param recon: ``(B, C, H, W)`` float reconstruction on the [0, 1] image scale (as
        :meth:`TransporterEncoder.reconstruct` returns it; not clipped).
    :param target: ``(B, C, H, W)`` the target frames, uint8 (0–255) or float in [0, 1].
    :return: scalar loss.
    """
    if recon.shape != target.shape:
        raise ValueError(f"reconstruction {tuple(recon.shape)} and target {tuple(target.shape)} differ in shape")
    goal = target.to(recon.device, torch.float32)
    if target.dtype == torch.uint8:
        goal = goal / 255.0
    return F.mse_loss(recon, goal)


# ---------------------------------------------------------------------- networks
def _split(keypoints: Keypoints, index: int) -> tuple[Keypoints, Keypoints]:
    """Split a keypoint batch at ``index`` along the batch dimension."""
    parts = [(t[:index], t[index:]) for t in (keypoints.coords, keypoints.status, keypoints.features,
                                              keypoints.heatmaps)]
    return Keypoints(*(p[0] for p in parts)), Keypoints(*(p[1] for p in parts))


def _block(in_channels: int, out_channels: int, kernel: int, stride: int, norm: str) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2),
                         norm_layer(norm, out_channels), nn.ReLU())


def _conv_stack(in_channels: int, c: int, norm: str) -> nn.Sequential:
    """The shared layout of Φ and Ψ: input → ``2c`` maps at a quarter of the input size."""
    return nn.Sequential(
        _block(in_channels, c, 5, 2, norm),
        _block(c, c, 3, 1, norm),
        _block(c, 2 * c, 3, 2, norm),
        _block(2 * c, 2 * c, 3, 1, norm),
    )


class TransporterEncoder(nn.Module):
    """Transporter keypoint encoder: frames → K keypoints (status always 1) with features.

    :param config: the :class:`MintConfig`; its geometry fields (``num_keypoints``,
        ``in_channels``, ``image_size``, ``grid_size``, ``feature_dim``,
        ``hidden_channels``, ``norm``) fix the architecture and ``gaussian_std`` the width of
        the keypoint maps used in transport.
    """

    def __init__(self, config: MintConfig) -> None:
        super().__init__()
        self.config = config
        c, k, norm = config.hidden_channels, config.num_keypoints, config.norm
        h, w = config.image_size
        self.half_size = ((h + 1) // 2, (w + 1) // 2)  # after the first stride-2 conv
        self.feature_size = ((h + 3) // 4, (w + 3) // 4)  # Φ's and Ψ's output maps
        self.feature_net = _conv_stack(config.in_channels, c, norm)  # Φ
        self.keypoint_net = nn.Sequential(_conv_stack(config.in_channels, c, norm), nn.Conv2d(2 * c, k, 1))  # Ψ
        self.feature_head = nn.Conv2d(2 * c, config.feature_dim, 1) if config.feature_dim > 0 else None
        self.refine_low = nn.Sequential(_block(2 * c, 2 * c, 3, 1, norm))  # R, at H/4
        self.refine_mid = nn.Sequential(_block(2 * c, c, 3, 1, norm))  # at H/2
        self.refine_out = nn.Sequential(_block(c, c, 3, 1, norm), nn.Conv2d(c, config.in_channels, 3, padding=1))

    # ------------------------------------------------------------------ pieces
    def _keypoints(self, x: torch.Tensor) -> tuple[Keypoints, torch.Tensor]:
        """Keypoints and Φ's maps of network input ``(B, C, H, W)`` in [-1, 1]."""
        phi = self.feature_net(x)
        logits = self.keypoint_net(x)
        if tuple(logits.shape[-2:]) != self.config.grid_size:
            logits = F.interpolate(logits, size=self.config.grid_size, mode="bilinear", align_corners=False)
        b, k, gh, gw = logits.shape
        probs = torch.softmax(logits.flatten(2), dim=-1).reshape(b, k, gh, gw)
        coords = spatial_soft_argmax(logits)
        if self.feature_head is not None:
            features = sample_features(self.feature_head(phi), coords)
        else:
            features = coords.new_zeros(b, k, 0)
        status = coords.new_ones(b, k)
        return Keypoints(coords=coords, status=status, features=features, heatmaps=probs), phi

    def transport_maps(self, coords: torch.Tensor) -> torch.Tensor:
        """Gaussian maps ``(B, K, h, w)`` of keypoints on Φ's grid, std ``config.gaussian_std`` × width."""
        size = self.feature_size
        return gaussian_maps(coords, size, self.config.gaussian_std * size[1])

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Refinement network R: transported features ``(B, 2c, H/4, W/4)`` → image ``(B, C, H, W)``
        on the [0, 1] scale (not clipped)."""
        y = self.refine_low(features)
        y = self.refine_mid(F.interpolate(y, size=self.half_size, mode="bilinear", align_corners=False))
        y = self.refine_out(F.interpolate(y, size=self.config.image_size, mode="bilinear", align_corners=False))
        return (y + 1.0) / 2.0  # the network works on [-1, 1], like its input

    # ------------------------------------------------------------------ forward
    def _batch(self, frames: torch.Tensor, name: str = "frames") -> torch.Tensor:
        if isinstance(frames, torch.Tensor) and frames.dim() == 3:
            frames = frames.unsqueeze(0)
        check_encoder_frames(frames, self.config.in_channels, self.config.image_size, name=name)
        return frames

    @flush_denormals()
    def forward(self, frames: torch.Tensor) -> Keypoints:
        """Encode frames (denormal floats flushed to zero, as MINT's encoder: :func:`mint_rl.utils.flush_denormals`).

        :param frames: ``(B, C, H, W)`` uint8 (0–255) or float in [0, 1], ``(H, W) = image_size``.
            A single frame ``(C, H, W)`` is accepted and gets a batch dimension of 1.
        :return: :class:`Keypoints` with coords ``(B, K, 2)``, status ``(B, K)`` (all ones),
            features ``(B, K, F)`` and heatmaps ``(B, K, H', W')``: the spatial-softmax
            probabilities on the grid the coords are the expectation of.
        """
        keypoints, _ = self._keypoints(to_network_input(self._batch(frames)))
        return keypoints

    def reconstruct(self, source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, Keypoints, Keypoints]:
        """Reconstruct ``target`` from ``source`` by feature transport (the training forward pass).

        :param source: ``(B, C, H, W)`` source frames, uint8 or float in [0, 1].
        :param target: ``(B, C, H, W)`` target frames (later frames of the same clips).
        :return: reconstruction ``(B, C, H, W)`` on the [0, 1] scale (not clipped), and the
            keypoints of source and target.
        """
        source = self._batch(source, "source frames")
        target = self._batch(target, "target frames")
        if source.shape[0] != target.shape[0]:
            raise ValueError(f"source and target batches differ in size: {source.shape[0]} vs {target.shape[0]}")
        b = source.shape[0]
        x = torch.cat([to_network_input(source), to_network_input(target)])  # one pass through Φ and Ψ
        keypoints, phi = self._keypoints(x)
        kp_s, kp_t = _split(keypoints, b)
        mixed = transport(phi[:b], phi[b:], self.transport_maps(kp_s.coords), self.transport_maps(kp_t.coords))
        return self.decode(mixed), kp_s, kp_t

    def encode(self, frames: torch.Tensor, batch_size: int = 256) -> Keypoints:
        """Inference helper: eval-mode forward in chunks, no gradient, heatmaps dropped."""
        return encode_in_chunks(self, frames, batch_size)


# ---------------------------------------------------------------------- trainer
class TransporterTrainer(BaseTrainer):
    """Optimiser and bookkeeping around a :class:`TransporterEncoder`, shaped like
    :class:`~mint_rl.trainer.MintTrainer` (single process only).

    Each step takes clips ``(B, T, C, H, W)``; frame 0 of each clip is the source and a
    frame drawn uniformly from ``1 … T−1`` (with the trainer's seeded RNG) is the target.

    :param config: hyperparameters (architecture, ``gaussian_std``, ``lr``,
        ``weight_decay``, ``grad_clip``, ``batch_size``, ``clip_length``, ``seed``).
    :param device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
    :param log_dir: TensorBoard directory (None: no logging).
    :param checkpoint_path: where :meth:`fit` writes checkpoints (None: none).
    :param encoder: an existing encoder to train; a new one is built from ``config`` otherwise.
    """

    encoder_type = "transporter"
    display_name = "Transporter"
    progress_keys = ("loss/reconstruction",)

    def new_encoder(self) -> TransporterEncoder:
        """A fresh :class:`TransporterEncoder` for :attr:`config`."""
        return TransporterEncoder(self.config)

    # ------------------------------------------------------------------ training
    def check_clips(self, frames: torch.Tensor) -> None:
        """Validate a clip batch ``(B, T, C, H, W)``, naming the problem."""
        if not isinstance(frames, torch.Tensor) or frames.dim() != 5:
            shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
            raise ValueError(f"clips must have shape (B, T, C, H, W), got {shape}")
        if frames.shape[1] < 2:
            raise ValueError(f"the Transporter needs clips of at least 2 frames (a source and a target), "
                             f"got T = {frames.shape[1]}")
        check_encoder_frames(frames.flatten(0, 1), self.config.in_channels, self.config.image_size, name="clip frames")

    def pairs(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Source (frame 0) and target (a random later frame) of each clip ``(B, T, C, H, W)``."""
        b, t = frames.shape[:2]
        later = torch.from_numpy(self.rng.integers(1, t, size=b))
        return frames[:, 0], frames[torch.arange(b), later]

    @flush_denormals()
    def step(self, frames: torch.Tensor, entropy: torch.Tensor | None = None) -> dict[str, float]:
        """One optimiser step on a batch of clips, denormal floats flushed to zero as in MINT's trainer.

        :param frames: ``(B, T, C, H, W)`` uint8 (or float in [0, 1]) consecutive frames, T ≥ 2.
        :param entropy: ignored (the Transporter needs no entropy); accepted so ``fit`` is shared.
        :return: ``"loss/reconstruction"`` (also as ``"loss/total"``), ``"train/grad_norm"``
            and ``"keypoints/displacement"`` (mean keypoint move source → target, in [-1, 1] units).
        """
        self.check_clips(frames)
        source, target = self.pairs(frames)
        source, target = source.to(self.device), target.to(self.device)
        self.encoder.train()
        recon, kp_s, kp_t = self.encoder.reconstruct(source, target)
        loss = transporter_loss(recon, target)
        grad_norm = self.clip_grad_and_step(loss)
        moved = (kp_t.coords - kp_s.coords).detach().norm(dim=-1).mean()
        return {"loss/reconstruction": float(loss.detach()), "loss/total": float(loss.detach()),
                "train/grad_norm": float(grad_norm), "keypoints/displacement": float(moved)}

    # ------------------------------------------------------------------ images
    def log_images(self, buffer: FrameBuffer, count: int = 8) -> None:
        """Target frames with their keypoints above their reconstructions, to TensorBoard.

        The preview pairs are drawn once with a private RNG, so logging never changes the
        training sample sequence.
        """
        from mint_rl.draw import draw_keypoints_batch, image_grid

        if self._preview is None:
            clips, _ = buffer.sample(count, 2, np.random.default_rng(0))
            self._preview = (clips[:, 0].clone(), clips[:, 1].clone())
        source, target = self._preview
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.no_grad():
                recon, _, kp_t = self.encoder.reconstruct(source.to(self.device), target.to(self.device))
        finally:
            self.encoder.train(was_training)
        frames = target.permute(0, 2, 3, 1).numpy()
        recon_u8 = (recon.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        if frames.shape[-1] == 1:
            frames, recon_u8 = np.repeat(frames, 3, axis=-1), np.repeat(recon_u8, 3, axis=-1)
        overlays = draw_keypoints_batch(frames, kp_t.coords.cpu().numpy(), None, scale=4)
        recon_big = recon_u8.repeat(4, axis=1).repeat(4, axis=2)
        grid = image_grid(list(overlays) + list(recon_big), ncols=len(overlays))
        self.writer.add_image("transporter/keypoints_and_reconstruction", grid, self.step_count, dataformats="HWC")
