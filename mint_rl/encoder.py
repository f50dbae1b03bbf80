"""``KeypointEncoder``: frames → K keypoints with active status and features (MINT_METHOD §2).

A small conv–deconv hourglass with no pretrained backbone, after the authors' detector,
with the heatmap grid as configuration (default: half the input size, 42×42 for 84×84
frames) instead of the authors' 96 → 135 upsampling.

Layers (``c = hidden_channels``; each conv is followed by LeakyReLU(0.01) then the norm,
the authors' order)::

    conv 5×5 /2 (c) → conv 3×3 /2 (c) → conv 3×3 (2c) → deconv 4×4 ×2 (c)
      → conv 3×3 (c)  = hidden maps
      ├─ conv 1×1 (K) → norm → Softplus     = keypoint maps F_k ≥ 0 on the grid
      └─ conv 1×1 (F)                       = feature maps, sampled at each keypoint

Outputs per frame: coords by spatial soft-argmax of the maps (with a learned temperature,
our addition: our inputs are in [-1, 1] so map values are small and a plain softmax would
be almost flat, MINT_METHOD §8), status ``s_k = sigmoid(slope · (max_p F_k − τ))``, and
features bilinearly sampled at the coords (our addition; the authors' representation is
(x, y, s) only). Coordinates: (x, y), y down, in [-1, 1], pixel-centre aligned.

Speed (issue 14), the same values and gradients up to float rounding: the network runs in
channels-last memory with :class:`~mint_rl.norm.ChannelsLastBatchNorm2d` (faster small
convolutions on CPU, batch statistics as accurate as in contiguous memory), the maps are
read out by :func:`~mint_rl.keypoints.keypoint_readout` (softplus, soft-argmax and peak in
one autograd node), and features are sampled from the hidden maps before the 1×1 feature
head (the head is linear, so this equals sampling its output).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mint_rl.config import MintConfig
from mint_rl.keypoints import Keypoints, encode_in_chunks, keypoint_readout, sample_features
from mint_rl.norm import ChannelsLastBatchNorm2d, norm_layer
from mint_rl.utils import flush_denormals

__all__ = ["KeypointEncoder", "to_network_input", "check_encoder_frames"]


def check_encoder_frames(frames: torch.Tensor, in_channels: int, image_size: tuple[int, int] | None = None,
                         name: str = "frames") -> None:
    """Validate a batch of frames ``(B, C, H, W)``; raise ``ValueError``/``TypeError`` naming the problem.

    Accepted: uint8 on 0–255, or floating point in [0, 1].
    """
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(frames).__name__}")
    if frames.dim() != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got rank {frames.dim()} shape {tuple(frames.shape)}")
    if frames.shape[1] != in_channels:
        raise ValueError(f"{name} have {frames.shape[1]} channels, the encoder expects {in_channels} "
                         f"(shape {tuple(frames.shape)}; channels first)")
    if image_size is not None and tuple(frames.shape[-2:]) != tuple(image_size):
        raise ValueError(f"{name} are {tuple(frames.shape[-2:])} (H, W), the encoder expects {tuple(image_size)}; "
                         "resize them first (MintKeypointWrapper does)")
    if frames.dtype == torch.uint8:
        return
    if not frames.is_floating_point():
        raise TypeError(f"{name} must be uint8 (0–255) or floating point in [0, 1], got dtype {frames.dtype}")
    if not torch.isfinite(frames).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    if frames.numel() and (frames.min() < 0 or frames.max() > 1):
        raise ValueError(f"float {name} must lie in [0, 1], got range [{frames.min().item():.3g}, "
                         f"{frames.max().item():.3g}]; pass uint8 for 0–255 images")


def to_network_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 0–255 or float [0, 1] ``(B, C, H, W)`` → float32 in [-1, 1]."""
    if frames.dtype == torch.uint8:
        return frames.float().mul_(2.0 / 255.0).sub_(1.0)  # in place on the new float copy: one pass less
    return frames.float() * 2.0 - 1.0


class _ConvBlock(nn.Sequential):
    """``conv → LeakyReLU → norm``; a :class:`ChannelsLastBatchNorm2d` applies the LeakyReLU itself
    (the same values and gradients, one pass over the maps less each way)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, act, norm = self
        if isinstance(norm, ChannelsLastBatchNorm2d):
            return norm(conv(x), leaky_slope=act.negative_slope)
        return norm(act(conv(x)))


def _block(conv: nn.Module, channels: int, norm: str) -> nn.Sequential:
    return _ConvBlock(conv, nn.LeakyReLU(0.01), norm_layer(norm, channels))


class KeypointEncoder(nn.Module):
    """MINT keypoint detector.

    :param config: the :class:`MintConfig`; its geometry fields fix the architecture.

    Example::

        >>> enc = KeypointEncoder(MintConfig(num_keypoints=8, image_size=(64, 64))).eval()
        >>> kp = enc(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
        >>> kp.coords.shape, kp.status.shape, kp.features.shape, kp.heatmaps.shape
        (torch.Size([2, 8, 2]), torch.Size([2, 8]), torch.Size([2, 8, 8]), torch.Size([2, 8, 32, 32]))
    """

    def __init__(self, config: MintConfig) -> None:
        super().__init__()
        self.config = config
        c, k, norm = config.hidden_channels, config.num_keypoints, config.norm
        self.backbone = nn.Sequential(
            _block(nn.Conv2d(config.in_channels, c, 5, stride=2, padding=2), c, norm),
            _block(nn.Conv2d(c, c, 3, stride=2, padding=1), c, norm),
            _block(nn.Conv2d(c, 2 * c, 3, stride=1, padding=1), 2 * c, norm),
            _block(nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), c, norm),
            _block(nn.Conv2d(c, c, 3, stride=1, padding=1), c, norm),
        )
        self.keypoint_head = nn.Sequential(nn.Conv2d(c, k, 1), norm_layer(norm, k))
        self.feature_head = nn.Conv2d(c, config.feature_dim, 1) if config.feature_dim > 0 else None
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.softmax_temperature)),
                                            requires_grad=config.learn_temperature)
        threshold = config.status_threshold
        self.register_buffer("status_threshold", torch.tensor(0.0 if threshold is None else float(threshold)))
        self.register_buffer("threshold_calibrated", torch.tensor(threshold is not None))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    # ------------------------------------------------------------------ forward
    def heatmaps(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoint maps and hidden maps on the heatmap grid.

        :param frames: ``(B, C, H, W)`` uint8 or float in [0, 1].
        :return: maps ``(B, K, H', W')`` ≥ 0 and hidden maps ``(B, c, H', W')``.
        """
        hidden = self._hidden(frames)
        return F.softplus(self._keypoint_logits(hidden)), hidden

    def _hidden(self, frames: torch.Tensor) -> torch.Tensor:
        """The backbone's maps on the heatmap grid.

        With batch norm (or none) the network runs in channels-last memory: the same values, and
        its small convolutions are faster that way on CPU (PyTorch's group norm loses digits in
        channels-last memory, so group-norm encoders stay contiguous).
        """
        check_encoder_frames(frames, self.config.in_channels, self.config.image_size)
        if self.config.norm != "group":
            frames = frames.contiguous(memory_format=torch.channels_last)
        x = to_network_input(frames)
        if self.config.authors_input_scale:  # (x − 0.5) / 0.5 on 0–255 values = (ours + 1) · 255 − 1
            x = x.add_(1.0).mul_(255.0).sub_(1.0)
        hidden = self.backbone(x)
        if tuple(hidden.shape[-2:]) != self.config.grid_size:
            hidden = F.interpolate(hidden, size=self.config.grid_size, mode="bilinear", align_corners=False)
        return hidden

    def _keypoint_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``keypoint_head(hidden)``; in eval mode a batch norm is folded into the 1×1 conv (exact up to
        float rounding, one pass over the maps instead of two)."""
        conv, norm = self.keypoint_head
        if self.training or not isinstance(norm, nn.BatchNorm2d) or norm.running_var is None:
            return self.keypoint_head(hidden)
        scale = norm.running_var.add(norm.eps).rsqrt()
        if norm.weight is not None:
            scale = scale * norm.weight
        bias = (conv.bias - norm.running_mean) * scale
        if norm.bias is not None:
            bias = bias + norm.bias
        return F.conv2d(hidden, conv.weight * scale[:, None, None, None], bias)

    @flush_denormals()
    def forward(self, frames: torch.Tensor) -> Keypoints:
        """Encode frames (denormal floats flushed to zero: :func:`mint_rl.utils.flush_denormals`).

        :param frames: ``(B, C, H, W)`` uint8 (0–255) or float in [0, 1], ``(H, W) = image_size``.
            A single frame ``(C, H, W)`` is accepted and gets a batch dimension of 1.
        :return: :class:`Keypoints` with coords ``(B, K, 2)``, status ``(B, K)``, features
            ``(B, K, F)`` and heatmaps ``(B, K, H', W')``.
        """
        if isinstance(frames, torch.Tensor) and frames.dim() == 3:
            frames = frames.unsqueeze(0)
        hidden = self._hidden(frames)
        # maps = softplus(logits); coords = spatial soft-argmax of maps / T; peaks = max of each map
        maps, coords, peaks = keypoint_readout(self._keypoint_logits(hidden), self.temperature)
        if not bool(self.threshold_calibrated):
            self.calibrate_status_threshold(peaks)
        status = torch.sigmoid(self.config.status_slope * (peaks - self.status_threshold))
        if self.feature_head is not None:
            # the 1×1 feature head is linear and bilinear weights sum to 1, so sampling the hidden maps
            # first gives sample_features(feature_head(hidden), coords) without the full feature maps
            head = self.feature_head
            features = F.linear(sample_features(hidden, coords), head.weight.flatten(1), head.bias)
        else:
            features = coords.new_zeros(coords.shape[0], coords.shape[1], 0)
        return Keypoints(coords=coords, status=status, features=features, heatmaps=maps)

    @torch.no_grad()
    def calibrate_status_threshold(self, peaks: torch.Tensor) -> None:
        """Set τ to the median map peak, so about half the gates are open (MINT_METHOD §8).

        Called automatically on the first forward pass when ``config.status_threshold`` is
        None; the calibrated τ is a buffer and is saved with the weights.

        :param peaks: ``(B, K)`` map maxima.
        """
        self.status_threshold.fill_(float(peaks.detach().median()))
        self.threshold_calibrated.fill_(True)

    def encode(self, frames: torch.Tensor, batch_size: int = 256) -> Keypoints:
        """Inference helper: eval-mode forward in chunks, no gradient, heatmaps dropped."""
        return encode_in_chunks(self, frames, batch_size)
