"""Normalisation layers: ``norm_layer`` (the layer a config's ``norm`` names) and
``ChannelsLastBatchNorm2d``, ``nn.BatchNorm2d`` with an accurate training path for channels-last CPU tensors.

The keypoint encoder runs in channels-last memory, where its small convolutions are faster on
CPU. PyTorch's own CPU batch norm for channels-last input accumulates each channel's batch
statistics in float32, one value after the other, which loses about four digits over a
batch of 96 × 42 × 42 pixels (measured: relative error 2e-5 in the output and 5e-5 in the
weight gradient, against 1e-7 for contiguous input). This layer computes the same batch norm
with numba kernels that accumulate the statistics and the gradient sums in float64, in two
passes forward and two backward (serial, so the same result on any number of threads), as
fast as PyTorch's channels-last kernel on one thread and as accurate as its contiguous one.
The encoder's LeakyReLU, which comes just before each batch norm (the authors' order), can be
computed inside the same kernels (``forward(x, leaky_slope=0.01)``): one pass less each way.

Everything else (eval mode, contiguous or non-float32 input, other devices, double
backward) is ``nn.BatchNorm2d`` itself; parameters, buffers and the state dict are the same.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = ["ChannelsLastBatchNorm2d", "norm_layer"]


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The normalisation layer of a conv block, by the name in :attr:`MintConfig.norm <mint_rl.config.MintConfig>`.

    :param kind: ``"batch"`` (:class:`ChannelsLastBatchNorm2d`, an ``nn.BatchNorm2d`` that is accurate
        in channels-last memory on CPU), ``"group"`` (``nn.GroupNorm`` with ``gcd(channels, 8)``
        groups) or anything else for none (``nn.Identity``).
    :param channels: the number of channels it normalises.
    """
    if kind == "batch":
        return ChannelsLastBatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(num_groups=math.gcd(channels, 8) or 1, num_channels=channels)
    return nn.Identity()


@numba.njit(inline="always")
def _act(v, slope):  # pragma: no cover
    """LeakyReLU with ``slope``; ``slope = 1`` is the identity."""
    return v if v > 0 else v * slope


# The kernels are serial on purpose: numba's parallel loops lose the vectorisation of these
# inner loops (measured: 3–4 ms instead of 0.6 ms per pass over 96 × 16 × 32 × 32 values, on
# one thread as on two), and a pass is memory-bound anyway.


@numba.njit(cache=True)
def _moments(x: np.ndarray, slope: float, out: np.ndarray) -> None:  # pragma: no cover
    """Per-channel mean and (biased) variance of ``act(x) (M, C)`` into ``out (2, C)``, in float64."""
    m, c = x.shape
    s = np.zeros(c, np.float64)
    s2 = np.zeros(c, np.float64)
    for i in range(m):
        for j in range(c):
            v = np.float64(_act(x[i, j], slope))
            s[j] += v
            s2[j] += v * v
    for j in range(c):
        mean = s[j] / m
        out[0, j] = mean
        out[1, j] = max(s2[j] / m - mean * mean, 0.0)


@numba.njit(cache=True)
def _normalise(x: np.ndarray, slope: float, mean: np.ndarray, scale: np.ndarray, bias: np.ndarray,
               out: np.ndarray) -> None:  # pragma: no cover
    """``out = (act(x) − mean) · scale + bias`` per channel, ``x, out (M, C)``."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            out[i, j] = (_act(x[i, j], slope) - mean[j]) * scale[j] + bias[j]


@numba.njit(cache=True)
def _grad_sums(g: np.ndarray, x: np.ndarray, slope: float, mean: np.ndarray,
               out: np.ndarray) -> None:  # pragma: no cover
    """``Σ g`` and ``Σ g (act(x) − mean)`` per channel into ``out (2, C)``, in float64."""
    m, c = x.shape
    s = np.zeros(c, np.float64)
    sx = np.zeros(c, np.float64)
    for i in range(m):
        for j in range(c):
            v = np.float64(g[i, j])
            s[j] += v
            sx[j] += v * (_act(x[i, j], slope) - mean[j])
    out[0] = s
    out[1] = sx


@numba.njit(cache=True)
def _grad_input(g: np.ndarray, x: np.ndarray, slope: float, mean: np.ndarray, scale: np.ndarray,
                k_centred: np.ndarray, k_const: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out = act'(x) · (g · scale + (act(x) − mean) · k_centred + k_const)`` per channel."""
    m, c = x.shape
    for i in range(m):
        for j in range(c):
            v = x[i, j]
            d = g[i, j] * scale[j] + (_act(v, slope) - mean[j]) * k_centred[j] + k_const[j]
            out[i, j] = d if v > 0 else d * slope


def _pixels(t: torch.Tensor) -> np.ndarray:
    """The ``(N·H·W, C)`` numpy view of a channels-last ``(N, C, H, W)`` CPU tensor (no copy)."""
    n, c, h, w = t.shape
    return t.detach().permute(0, 2, 3, 1).reshape(n * h * w, c).numpy()


class _ChannelsLastBatchNorm(torch.autograd.Function):
    """Training-mode batch norm of a channels-last float32 CPU tensor; updates the running statistics."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, factor: float, eps: float, slope: float):
        c = x.shape[1]
        slope = np.float32(slope)  # the activation in float32, as F.leaky_relu computes it
        moments = np.empty((2, c), np.float64)
        _moments(_pixels(x), slope, moments)
        mean, var = moments
        invstd = 1.0 / np.sqrt(var + eps)
        w = np.ones(c) if weight is None else weight.detach().double().numpy()
        b = np.zeros(c, np.float32) if bias is None else bias.detach().numpy()
        out = torch.empty_like(x, memory_format=torch.channels_last)
        _normalise(_pixels(x), slope, mean.astype(np.float32), (invstd * w).astype(np.float32), b, _pixels(out))
        if running_mean is not None:
            n = x.numel() // c
            running_mean.mul_(1 - factor).add_(torch.from_numpy(mean).to(running_mean.dtype), alpha=factor)
            unbiased = torch.from_numpy(var * (n / max(n - 1, 1))).to(running_var.dtype)
            running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        ctx.save_for_backward(x, weight)
        ctx.moments = (mean, invstd)
        ctx.slope = slope
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        mean, invstd = ctx.moments
        slope = ctx.slope
        c = x.shape[1]
        n = x.numel() // c
        g = g.contiguous(memory_format=torch.channels_last)
        sums = np.empty((2, c), np.float64)
        mean32 = mean.astype(np.float32)
        _grad_sums(_pixels(g), _pixels(x), slope, mean32, sums)
        sum_g, sum_gx = sums  # Σ g and Σ g (y − mean), y = act(x)
        w = np.ones(c) if weight is None else weight.detach().double().numpy()
        scale = invstd * w
        g_x = None
        if ctx.needs_input_grad[0]:
            # g_y = scale (g − mean(g) − ŷ mean(g ŷ)),  ŷ = (y − mean) · invstd;  g_x = act'(x) g_y
            g_x = torch.empty_like(x, memory_format=torch.channels_last)
            _grad_input(_pixels(g), _pixels(x), slope, mean32, scale.astype(np.float32),
                        (-scale * invstd * invstd * sum_gx / n).astype(np.float32),
                        (-scale * sum_g / n).astype(np.float32), _pixels(g_x))
        g_weight = torch.from_numpy(sum_gx * invstd).to(x.dtype) if ctx.needs_input_grad[1] else None
        g_bias = torch.from_numpy(sum_g).to(x.dtype) if ctx.needs_input_grad[2] else None
        return g_x, g_weight, g_bias, None, None, None, None, None


class ChannelsLastBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training forward/backward on channels-last float32 CPU input runs the
    accurate numba kernels of this module (see its docstring); any other input goes to ``nn.BatchNorm2d``.

    ``forward(x, leaky_slope=a)`` is ``forward(F.leaky_relu(x, a))`` (values and gradients), with the
    activation computed inside the kernels: one pass less each way, and ``leaky_relu(x)`` is never stored.

    Example::

        >>> bn = ChannelsLastBatchNorm2d(4)
        >>> x = torch.randn(8, 4, 5, 5).contiguous(memory_format=torch.channels_last)
        >>> torch.allclose(bn(x), nn.BatchNorm2d(4)(x.contiguous()), atol=1e-5)
        True
    """

    def forward(self, input: torch.Tensor, leaky_slope: float | None = None) -> torch.Tensor:
        fast = (self.training and input.device.type == "cpu" and input.dtype == torch.float32 and input.dim() == 4
                and input.is_contiguous(memory_format=torch.channels_last) and input.numel() > input.shape[1])
        if not fast:
            return super().forward(input if leaky_slope is None else F.leaky_relu(input, leaky_slope))
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        track = self.track_running_stats
        return _ChannelsLastBatchNorm.apply(input, self.weight, self.bias, self.running_mean if track else None,
                                            self.running_var if track else None, factor, self.eps,
                                            1.0 if leaky_slope is None else float(leaky_slope))
