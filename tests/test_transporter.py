"""Transporter baseline: the Keypoints record, feature transport, training, checkpoints."""

import numpy as np
import pytest
import torch

from mint_rl.baselines import build_encoder, load_encoder
from mint_rl.baselines.transporter import TransporterEncoder, TransporterTrainer, transport, transporter_loss
from mint_rl.checkpoint import CheckpointError
from mint_rl.config import MintConfig
from mint_rl.data import FrameBuffer


def small_config(**kw):
    base = dict(num_keypoints=2, image_size=(32, 32), hidden_channels=8, feature_dim=4, batch_size=16,
                clip_length=3, lr=3e-3, seed=0)
    base.update(kw)
    return MintConfig(**base)


def moving_square_clips(batch: int, length: int, size: int = 32, side: int = 6, seed: int = 0) -> torch.Tensor:
    """Clips ``(B, T, 3, size, size)`` uint8 of a coloured square moving on black."""
    rng = np.random.default_rng(seed)
    clips = np.zeros((batch, length, 3, size, size), dtype=np.uint8)
    colour = np.array([255, 160, 40], dtype=np.uint8)[:, None, None]
    for b in range(batch):
        pos = rng.integers(0, size - side, size=2).astype(float)
        vel = rng.uniform(-3, 3, size=2)
        for t in range(length):
            y, x = np.clip(pos + t * vel, 0, size - side).astype(int)
            clips[b, t, :, y:y + side, x:x + side] = colour
    return torch.from_numpy(clips)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_forward_gives_keypoints_record(norm):
    cfg = small_config(norm=norm, num_keypoints=3)
    enc = TransporterEncoder(cfg)
    kp = enc(torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8))
    assert kp.coords.shape == (5, 3, 2) and kp.status.shape == (5, 3) and kp.features.shape == (5, 3, 4)
    assert kp.heatmaps.shape == (5, 3, *cfg.grid_size) == (5, 3, 16, 16)
    assert torch.equal(kp.status, torch.ones(5, 3)) and kp.active.all()
    assert kp.coords.abs().max() <= 1
    torch.testing.assert_close(kp.heatmaps.sum(dim=(-2, -1)), torch.ones(5, 3))
    enc.eval()
    assert enc(torch.rand(3, 32, 32)).coords.shape == (1, 3, 2)  # single float frame
    out = enc.encode(torch.rand(37, 3, 32, 32), batch_size=16)
    assert out.coords.shape == (37, 3, 2) and out.heatmaps is None and enc.training is False


def test_odd_image_size_and_no_features():
    cfg = MintConfig(num_keypoints=2, in_channels=1, image_size=(30, 42), grid_size=(12, 16), hidden_channels=4,
                     feature_dim=0)
    enc = TransporterEncoder(cfg)
    frames = torch.randint(0, 256, (2, 1, 30, 42), dtype=torch.uint8)
    recon, kp_s, kp_t = enc.reconstruct(frames, torch.rand(2, 1, 30, 42))  # uint8 and float may mix
    assert recon.shape == (2, 1, 30, 42)
    assert kp_s.heatmaps.shape == (2, 2, 12, 16) and kp_t.features.shape == (2, 2, 0)


def test_transport_hand_built():
    src = torch.full((1, 2, 3, 3), 1.0)
    tgt = torch.full((1, 2, 3, 3), 5.0)
    h_s = torch.zeros(1, 2, 3, 3)
    h_t = torch.zeros(1, 2, 3, 3)
    h_s[0, 0, 0, 0] = 1.0  # a source keypoint at (0, 0): erased there
    h_t[0, 1, 2, 2] = 1.0  # a target keypoint at (2, 2): pasted from the target
    h_t[0, 0, 1, 1] = 0.5  # half a target keypoint at (1, 1)
    h_s[0, 1, 1, 1] = 0.5
    out = transport(src, tgt, h_s, h_t)
    assert torch.equal(out[0, :, 2, 2], tgt[0, :, 2, 2])  # H_t = 1 → target features
    assert torch.equal(out[0, :, 0, 1], src[0, :, 0, 1])  # H_s = H_t = 0 → source features
    assert torch.equal(out[0, :, 0, 0], torch.zeros(2))  # source keypoint erased, nothing pasted
    torch.testing.assert_close(out[0, :, 1, 1], torch.full((2,), 0.5 * 0.5 * 1.0 + 0.5 * 5.0))
    # summed maps are clipped to 1: two overlapping target keypoints still paste the target once
    both = torch.ones(1, 2, 3, 3)
    torch.testing.assert_close(transport(src, tgt, torch.zeros_like(both), both), tgt)
    with pytest.raises(ValueError, match="heatmaps"):
        transport(src, tgt, h_s[..., :2], h_t[..., :2])


def test_gradient_reaches_keypoint_network():
    enc = TransporterEncoder(small_config())
    clips = moving_square_clips(4, 2)
    recon, _, _ = enc.reconstruct(clips[:, 0], clips[:, 1])
    transporter_loss(recon, clips[:, 1]).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.keypoint_net.parameters())
    assert transporter_loss(clips[:, 1].float() / 255, clips[:, 1]).item() == 0.0


def test_training_lowers_reconstruction_loss():
    cfg = small_config()
    trainer = TransporterTrainer(cfg)
    clips = moving_square_clips(64, 3)
    losses = []
    for i in range(40):
        idx = torch.arange(16) + 16 * (i % 4)
        losses.append(trainer.step(clips[idx])["loss/reconstruction"])
    assert trainer.step_count == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_checkpoint_round_trip_and_resume(tmp_path):
    cfg = small_config(batch_size=4)
    buffer = FrameBuffer(64, (3, 32, 32), cfg.grid_size, lambda f: torch.zeros(f.shape[0], *cfg.grid_size))
    buffer.add(moving_square_clips(1, 64)[0], new_episode=True)
    path = tmp_path / "ckpt" / "transporter.pt"
    trainer = TransporterTrainer(cfg, log_dir=str(tmp_path / "tb"), checkpoint_path=path)
    history = trainer.fit(buffer, steps=3, image_every=3, checkpoint_every=2, progress=False,
                          extra_state={"source": "squares"})
    trainer.close()
    assert len(history) == 3 and path.is_file() and any((tmp_path / "tb").iterdir())

    data = torch.load(path, weights_only=False)
    assert data["encoder_type"] == "transporter" and data["step"] == 3 and data["extra"] == {"source": "squares"}
    loaded = load_encoder(path)
    assert isinstance(loaded, TransporterEncoder) and not loaded.training
    frames = moving_square_clips(5, 1, seed=3)[:, 0]
    a, b = trainer.encoder.encode(frames), loaded.encode(frames)
    assert torch.equal(a.coords, b.coords) and torch.equal(a.features, b.features)

    resumed = TransporterTrainer(cfg, checkpoint_path=path)
    assert resumed.maybe_resume() and resumed.step_count == 3
    assert resumed.rng.bit_generator.state == trainer.rng.bit_generator.state
    with pytest.raises(CheckpointError, match="incompatible"):
        TransporterTrainer(small_config(num_keypoints=3)).load(path)


def test_build_encoder_registry():
    enc = build_encoder("transporter", small_config())
    assert isinstance(enc, TransporterEncoder)


def test_bad_frames_raise_clear_errors():
    enc = TransporterEncoder(small_config())
    with pytest.raises(ValueError, match="channels"):
        enc(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expects"):
        enc(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        enc(torch.full((2, 3, 32, 32), 255.0))
    with pytest.raises(TypeError, match="uint8"):
        enc(torch.zeros(2, 3, 32, 32, dtype=torch.int64))
    with pytest.raises(ValueError, match="differ in size"):
        enc.reconstruct(torch.zeros(2, 3, 32, 32), torch.zeros(3, 3, 32, 32))
    with pytest.raises(ValueError, match="target frames"):
        enc.reconstruct(torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 16, 16))
    trainer = TransporterTrainer(small_config())
    with pytest.raises(ValueError, match="at least 2 frames"):
        trainer.step(torch.zeros(2, 1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        trainer.step(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
