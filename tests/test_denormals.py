"""Flushing denormal floats (mint_rl.utils.flush_denormals): the flag is set inside and restored after, and a training
step and an encoder forward that meet denormals give the same values flushed as not (up to float rounding)."""

import numpy as np
import pytest
import torch

from mint_rl.config import MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.keypoints import keypoint_readout
from mint_rl.trainer import MintTrainer
from mint_rl.utils import denormals_flushed, flush_denormals

pytestmark = pytest.mark.usefixtures("one_thread")

SMALLEST_NORMAL = torch.finfo(torch.float32).tiny  # 1.18e-38

needs_flag = pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU has no flush-to-zero flag")


@pytest.fixture
def flag_off():
    """Flushing off before and after the test (torch's default), whatever the test did."""
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(False)


@needs_flag
def test_flag_on_inside_and_restored_after(flag_off):
    assert not denormals_flushed()
    with flush_denormals():
        assert denormals_flushed()
        tiny = torch.tensor([1], dtype=torch.int32).view(torch.float32)  # 1.4e-45
        assert float(tiny * 4.0) == 0.0
        with flush_denormals():
            assert denormals_flushed()
        assert denormals_flushed()  # the inner exit leaves the outer's flag alone
    assert not denormals_flushed()
    assert float(torch.tensor([1], dtype=torch.int32).view(torch.float32) * 4.0) > 0.0


@needs_flag
def test_restored_after_an_error_and_as_a_decorator(flag_off):
    with pytest.raises(RuntimeError, match="boom"):
        with flush_denormals():
            raise RuntimeError("boom")
    assert not denormals_flushed()

    @flush_denormals()
    def inside() -> bool:
        return denormals_flushed()

    assert inside() and inside()
    assert not denormals_flushed()


@needs_flag
def test_a_callers_own_flag_stays_on(flag_off):
    torch.set_flush_denormal(True)
    with flush_denormals():
        assert denormals_flushed()
    assert denormals_flushed()


def trained_like(config: MintConfig) -> KeypointEncoder:
    """A fresh encoder with a trained encoder's small soft-argmax temperature and sharp logits, so its soft-argmax
    underflows to denormals."""
    torch.manual_seed(0)
    enc = KeypointEncoder(config)
    with torch.no_grad():
        enc.log_temperature.fill_(float(np.log(0.07)))
        head_norm = enc.keypoint_head[1]  # logits spread like a trained encoder's (about ±10), in train and eval mode
        head_norm.weight.fill_(5.0)
        head_norm.running_var.fill_(1e-4)
    return enc


@needs_flag
def test_the_case_below_meets_denormals(flag_off):
    """Without this the comparisons below could not fail: the soft-argmax of this encoder has denormal weights."""
    cfg = MintConfig(num_keypoints=4, image_size=(32, 32), batch_size=4)
    enc = trained_like(cfg).eval()
    frames = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = enc._keypoint_logits(enc._hidden(frames))
        maps = torch.nn.functional.softplus(logits).flatten(2)
        probs = torch.softmax(maps / enc.temperature, dim=-1)
    assert ((probs > 0) & (probs < SMALLEST_NORMAL)).any()
    with flush_denormals():
        flushed = torch.softmax(maps / enc.temperature, dim=-1)
    assert not ((flushed > 0) & (flushed < SMALLEST_NORMAL)).any()


def step_results(config: MintConfig, steps: int = 1) -> tuple[list[dict[str, float]], list[torch.Tensor]]:
    """The loss terms of ``steps`` training steps of :func:`trained_like` on random clips, and the last gradients."""
    trainer = MintTrainer(config, encoder=trained_like(config))
    g = torch.Generator().manual_seed(2)
    history = []
    for _ in range(steps):
        clips = torch.randint(0, 256, (config.batch_size, 3, 3, *config.image_size), dtype=torch.uint8, generator=g)
        trainer.optimizer.zero_grad()
        history.append(trainer.step(clips))
    return history, [p.grad.clone() for p in trainer.encoder.parameters() if p.grad is not None]


@needs_flag
def test_training_step_flushed_equals_unflushed(flag_off, monkeypatch):
    cfg = MintConfig(num_keypoints=4, image_size=(32, 32), batch_size=4)
    flushed_terms, flushed_grads = step_results(cfg)
    assert not denormals_flushed()  # the step put the flag back
    with monkeypatch.context() as m:
        m.setattr(torch, "set_flush_denormal", lambda on: False)
        plain_terms, plain_grads = step_results(cfg)
    for key, value in plain_terms[0].items():
        assert flushed_terms[0][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for a, b in zip(plain_grads, flushed_grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


@needs_flag
def test_encoder_forward_flushed_equals_unflushed(flag_off, monkeypatch):
    cfg = MintConfig(num_keypoints=4, image_size=(32, 32))
    enc = trained_like(cfg).eval()
    frames = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        flushed = enc(frames)
        assert not denormals_flushed()
        with monkeypatch.context() as m:
            m.setattr(torch, "set_flush_denormal", lambda on: False)
            plain = enc(frames)
    torch.testing.assert_close(flushed.coords, plain.coords, rtol=0, atol=1e-6)
    torch.testing.assert_close(flushed.status, plain.status, rtol=0, atol=1e-6)


@needs_flag
def test_readout_of_a_sharp_map_is_unchanged_by_flushing(flag_off):
    """A one-hot-like map whose other pixels' weights are denormal (exp(−95) at T = 0.07) unflushed and zero flushed:
    the coordinate is the peak's either way."""
    logits = torch.full((1, 1, 8, 8), -20.0)
    logits[0, 0, 3, 5] = 6.65  # softplus 6.651: (peak − other) / T ≈ 95, between the denormal bounds 87 and 103
    weights = torch.softmax(torch.nn.functional.softplus(logits).flatten(2) / 0.07, dim=-1)
    assert ((weights > 0) & (weights < SMALLEST_NORMAL)).sum() == 63
    with flush_denormals():
        _, coords, _ = keypoint_readout(logits, 0.07)
    _, plain, _ = keypoint_readout(logits, 0.07)
    torch.testing.assert_close(coords, plain, rtol=0, atol=1e-7)
    assert coords[0, 0].tolist() == pytest.approx([(5 + 0.5) / 4 - 1, (3 + 0.5) / 4 - 1])


def record_flag(seen: list[bool]):
    """A forward (or backward) hook that records whether denormals are flushed when it runs."""
    return lambda *args: seen.append(denormals_flushed())


@needs_flag
def test_mint_forward_and_step_run_flushed(flag_off):
    """What the decorators do: the encoder's layers, the loss and the backward pass all run with the flag on."""
    cfg = MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=4, batch_size=2)
    trainer = MintTrainer(cfg)
    layers, backward, loss = [], [], []
    trainer.encoder.backbone.register_forward_hook(record_flag(layers))
    trainer.encoder.keypoint_head.register_full_backward_hook(record_flag(backward))
    loss_fn = trainer.loss_fn
    trainer.loss_fn = lambda *args: (loss.append(denormals_flushed()), loss_fn(*args))[1]
    with torch.no_grad():
        trainer.encoder.eval()(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    assert layers == [True] and not denormals_flushed()
    trainer.step(torch.randint(0, 256, (2, 3, 3, 32, 32), dtype=torch.uint8))
    assert layers == [True, True] and loss == [True] and backward == [True]
    assert not denormals_flushed()


@needs_flag
def test_transporter_forward_and_step_run_flushed(flag_off):
    from mint_rl.baselines.transporter import TransporterTrainer

    cfg = MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=4, batch_size=2)
    trainer = TransporterTrainer(cfg)
    keypoints, reconstruction = [], []
    trainer.encoder.keypoint_net.register_forward_hook(record_flag(keypoints))
    trainer.encoder.refine_out.register_forward_hook(record_flag(reconstruction))
    with torch.no_grad():
        trainer.encoder.eval()(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    assert keypoints == [True] and not denormals_flushed()
    trainer.step(torch.randint(0, 256, (2, 2, 3, 32, 32), dtype=torch.uint8))
    assert all(keypoints) and len(keypoints) > 1 and reconstruction and all(reconstruction)
    assert not denormals_flushed()


THREAD_CHECK = """
import threading
from mint_rl.utils import denormals_flushed, flush_denormals_process_wide
if {call}:
    flush_denormals_process_wide()
seen = []
t = threading.Thread(target=lambda: seen.append(denormals_flushed()))
t.start(); t.join()
print(denormals_flushed(), seen[0])
"""


@needs_flag
@pytest.mark.parametrize("call", [True, False])
def test_process_wide_flag_reaches_threads_started_later(call):
    """What lets torch's intra-op worker threads flush too: a thread started after the call inherits the flag."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", THREAD_CHECK.format(call=call)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(call), str(call)]
