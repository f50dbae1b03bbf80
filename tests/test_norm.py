"""ChannelsLastBatchNorm2d is nn.BatchNorm2d: values, gradients, running statistics, state dict."""

import copy

import numba
import pytest
import torch
import torch.nn as nn

from mint_rl.norm import ChannelsLastBatchNorm2d

pytestmark = pytest.mark.usefixtures("one_thread")


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def run(module: nn.Module, x: torch.Tensor, grad: torch.Tensor):
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
    out = module(x)
    out.backward(grad.to(out.dtype))
    params = [p.grad for p in module.parameters()] if module.affine else []
    buffers = [b.clone() for b in module.buffers()]
    return [out.detach(), x.grad, *params, *buffers]


def activations(seed: int, shape=(24, 16, 21, 19)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.leaky_relu(torch.randn(*shape, generator=g) * 0.7 + 0.4, 0.01)


@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=None), dict(affine=False),
                                    dict(track_running_stats=False), dict(momentum=0.3, eps=1e-3)])
def test_equals_batchnorm2d_to_float64_accuracy(kwargs):
    x = activations(0)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    reference = nn.BatchNorm2d(16, **kwargs)
    if reference.affine:
        with torch.no_grad():
            reference.weight.uniform_(0.5, 1.5)
            reference.bias.uniform_(-0.5, 0.5)
    ours = ChannelsLastBatchNorm2d(16, **kwargs)
    ours.load_state_dict(reference.state_dict())
    want_module = copy.deepcopy(reference).double()
    for _ in range(2):  # twice: the running statistics and num_batches_tracked move on
        want = run(want_module, x.double(), grad)
        got = run(ours, channels_last(x), grad)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype or a.dtype == torch.float32
            torch.testing.assert_close(a.double(), b.double(), rtol=2e-6, atol=2e-6 * float(b.abs().max()))
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    assert got[1].is_contiguous(memory_format=torch.channels_last)


def test_more_accurate_than_torch_in_channels_last_and_as_accurate_as_contiguous():
    x = activations(2, shape=(96, 16, 42, 42))
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    reference = nn.BatchNorm2d(16)
    want = run(copy.deepcopy(reference).double(), x.double(), grad)

    def error(module, inp):
        got = run(module, inp, grad)
        return max(float((a.double() - b).abs().max() / b.abs().max()) for a, b in zip(got[:4], want[:4]))

    ours = error(ChannelsLastBatchNorm2d(16), channels_last(x))
    contiguous = error(copy.deepcopy(reference), x)
    assert ours < 1e-6 and ours < 3 * contiguous


def test_thread_count_does_not_change_the_result():
    x = channels_last(activations(4))
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            results.append(run(ChannelsLastBatchNorm2d(16), x, grad))
        finally:
            torch.set_num_threads(torch_threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_other_inputs_and_eval_mode_are_batchnorm2d_itself():
    x = activations(6)
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    reference = nn.BatchNorm2d(16)
    ours = ChannelsLastBatchNorm2d(16)
    ours.load_state_dict(reference.state_dict())
    assert list(ours.state_dict()) == list(reference.state_dict())
    for a, b in zip(run(ours, x, grad), run(reference, x, grad)):  # contiguous input: the same kernel
        assert torch.equal(a, b)
    ours.eval(), reference.eval()
    with torch.no_grad():
        assert torch.equal(ours(channels_last(x)), reference(channels_last(x)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        ChannelsLastBatchNorm2d(3).train()(channels_last(torch.randn(1, 3, 1, 1)))


@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_leaky_slope_equals_leaky_relu_then_batchnorm2d(layout):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(24, 16, 21, 19, generator=g)  # pre-activation: about half negative
    grad = torch.randn(x.shape, generator=g)
    reference = nn.BatchNorm2d(16)
    ours = ChannelsLastBatchNorm2d(16)
    want_module = copy.deepcopy(reference).double()
    x_in = channels_last(x) if layout == "channels_last" else x
    for _ in range(2):
        xd = x.double().requires_grad_(True)
        out = want_module(torch.nn.functional.leaky_relu(xd, 0.01))
        out.backward(grad.double())
        want = [out.detach(), xd.grad, want_module.weight.grad, want_module.bias.grad, *want_module.buffers()]
        xf = x_in.clone(memory_format=torch.preserve_format).requires_grad_(True)
        out = ours(xf, leaky_slope=0.01)
        out.backward(grad)
        got = [out.detach(), xf.grad, ours.weight.grad, ours.bias.grad, *ours.buffers()]
        for a, b in zip(got, want):
            torch.testing.assert_close(a.double(), b.double(), rtol=2e-6, atol=2e-6 * float(b.abs().max()))
