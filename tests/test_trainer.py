"""Trainer, frame buffer and checkpoints: training works, resume continues, bad input is named."""

import numpy as np
import pytest
import torch

from mint_rl.baselines import build_trainer, load_encoder
from mint_rl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mint_rl.config import MintConfig
from mint_rl.data import FrameBuffer
from mint_rl.trainer import BaseTrainer, MintTrainer, make_entropy
from tests.shapes import moving_shapes


def make_setup(size=32, k=4, episodes=8, length=40, seed=0, **kw):
    frames, centres, _ = moving_shapes(episodes, length, size=size, n_shapes=2, radius=max(2, size // 12), seed=seed)
    cfg = MintConfig(num_keypoints=k, image_size=(size, size), hidden_channels=16, feature_dim=0, batch_size=16,
                     clip_length=3, seed=seed, **kw)
    buf = FrameBuffer(episodes * length, (3, size, size), cfg.grid_size, make_entropy(cfg))
    for e in range(episodes):
        buf.add(frames[e], new_episode=True)
    return cfg, buf


def keypoint_quality(trainer, size, seed=99):
    test, centres, _ = moving_shapes(2, 20, size=size, n_shapes=2, radius=max(2, size // 12), seed=seed)
    kp = trainer.encoder.encode(torch.from_numpy(test.reshape(-1, size, size, 3)).permute(0, 3, 1, 2))
    coords, active = kp.coords.numpy(), kp.active.numpy()
    dist = np.linalg.norm(coords[:, :, None] - centres.reshape(-1, 2, 2)[:, None], axis=-1)  # (N, K, shapes)
    nearest = dist.min(-1)
    detected = ((dist < 0.25) & active[:, :, None]).any(1).mean()
    return float(np.median(nearest[active])) if active.any() else np.inf, float(detected)


def test_training_lowers_loss_and_puts_keypoints_on_moving_shapes():
    cfg, buf = make_setup()
    trainer = MintTrainer(cfg)
    hist = trainer.fit(buf, 300, progress=False)
    first = np.mean([h["loss/total"] for h in hist[:5]])
    last = np.mean([h["loss/total"] for h in hist[-20:]])
    assert last < 0.8 * first, (first, last)
    median_dist, detected = keypoint_quality(trainer, 32)
    # random keypoints sit ~0.5 from the nearest of two shapes; trained ones on them
    assert median_dist < 0.25, median_dist
    assert detected > 0.7, detected


@pytest.mark.slow
def test_training_strict_64px():
    cfg, buf = make_setup(size=64, k=6)
    trainer = MintTrainer(cfg)
    trainer.fit(buf, 1000, progress=False)
    median_dist, detected = keypoint_quality(trainer, 64)
    # MINT puts keypoints where the entropy is: on the shapes' edges, ~5 px (0.16) from their
    # centres at 64×64; 0.2 allows the edge plus about one pixel
    assert median_dist < 0.2 and detected > 0.95, (median_dist, detected)


def test_resume_continues_exactly(tmp_path):
    cfg, buf = make_setup(episodes=3, length=20)
    straight = MintTrainer(cfg)
    straight.fit(buf, 12, progress=False)

    ckpt = tmp_path / "run" / "latest.pt"
    first = MintTrainer(cfg, checkpoint_path=ckpt)
    first.fit(buf, 6, progress=False, checkpoint_every=3)
    assert ckpt.is_file() and not list(ckpt.parent.glob(".*tmp"))
    second = MintTrainer(cfg, checkpoint_path=ckpt)
    assert second.maybe_resume() and second.step_count == 6
    second.fit(buf, 12, progress=False)
    for a, b in zip(straight.encoder.state_dict().values(), second.encoder.state_dict().values()):
        torch.testing.assert_close(a, b)


class _MeanTrainer(BaseTrainer):
    """The least a trainer gives: an encoder and a step."""

    def new_encoder(self) -> torch.nn.Module:
        return torch.nn.Linear(3, 2)

    def step(self, frames, entropy=None):
        self.step_count += 1
        return {"loss/total": float(frames.float().mean())}


def test_base_trainer_seeds_itself_before_building_the_encoder():
    """A subclass sets no RNG: the base seeds with config.seed, then builds the encoder, and ``fit`` samples."""
    cfg, buf = make_setup(episodes=3, length=10)
    a, b = _MeanTrainer(cfg), _MeanTrainer(cfg)
    assert isinstance(a.rng, np.random.Generator)
    torch.testing.assert_close(a.encoder.weight, b.encoder.weight)  # the initial weights follow the seed
    assert a.fit(buf, 5, progress=False) == b.fit(buf, 5, progress=False)  # the same clips
    other = _MeanTrainer(MintConfig(**{**cfg.to_dict(), "seed": cfg.seed + 1}))
    assert not torch.equal(other.encoder.weight, a.encoder.weight)
    given = torch.nn.Linear(3, 2)
    assert _MeanTrainer(cfg, encoder=given).encoder is given
    with pytest.raises(NotImplementedError, match="new_encoder"):
        BaseTrainer(cfg)


def test_checkpoint_errors_name_the_problem(tmp_path):
    cfg = MintConfig(num_keypoints=3, image_size=(32, 32), hidden_channels=8)
    trainer = MintTrainer(cfg)
    path = trainer.save(tmp_path / "a.pt")
    enc = load_encoder(path)
    assert not enc.training and enc.config == cfg
    with pytest.raises(CheckpointError, match="num_keypoints: 3 != 5"):
        load_checkpoint(path, expected_config=cfg.replace(num_keypoints=5))
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(truncated)
    old = tmp_path / "old.pt"
    torch.save({"format": "mint-rl-checkpoint", "version": 0, "config": cfg.to_dict()}, old)
    with pytest.raises(CheckpointError, match="version 0"):
        load_checkpoint(old)
    other = tmp_path / "o.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(CheckpointError, match="not a mint-rl checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_atomic_save_keeps_old_checkpoint_when_write_fails(tmp_path, monkeypatch):
    cfg = MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=8)
    path = save_checkpoint(tmp_path / "c.pt", {"config": cfg.to_dict(), "step": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"config": cfg.to_dict(), "step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_frame_buffer_clips_never_span_episodes_and_ring_wraps():
    ent = lambda x: x.float().mean(1)[:, ::2, ::2]  # noqa: E731  (cheap stand-in entropy)
    buf = FrameBuffer(10, (1, 4, 4), (2, 2), ent)
    for ep, n in enumerate([3, 2, 6, 4]):  # 15 frames into 10 slots
        frames = np.full((n, 4, 4, 1), ep * 10, dtype=np.uint8) + np.arange(n, dtype=np.uint8)[:, None, None, None]
        buf.add(frames, new_episode=True)
    assert len(buf) == 10
    clips, entropy = buf.sample(200, 3, np.random.default_rng(0))
    assert clips.shape == (200, 3, 1, 4, 4) and entropy.shape == (200, 3, 2, 2)
    values = clips[:, :, 0, 0, 0].long()
    assert ((values // 10) == (values[:, :1] // 10)).all()  # one episode per clip
    assert ((values[:, 1:] - values[:, :-1]) == 1).all()  # consecutive frames
    assert set((values[:, 0] // 10).tolist()) <= {2, 3}  # episodes 0, 1 dropped or too short
    assert buf.num_clips(3) == (6 - 2) + (4 - 2)  # the 5 oldest frames (episodes 0, 1) were overwritten
    # frames_at counts from the oldest frame held (episode 2's first) across the ring's wrap
    assert buf.frames_at(np.array([0, 4, 5, 6, 9]))[:, 0, 0, 0].tolist() == [20, 24, 25, 30, 33]
    with pytest.raises(ValueError, match="at least 2 frames"):
        buf.sample(4, 1, np.random.default_rng(0))


def test_trainer_rejects_bad_clips():
    cfg = MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=8)
    trainer = MintTrainer(cfg)
    with pytest.raises(ValueError, match=r"\(B, T, C, H, W\)"):
        trainer.step(torch.zeros(4, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="at least 2 frames"):
        trainer.step(torch.zeros(4, 1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="channels"):
        trainer.step(torch.zeros(4, 2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        trainer.step(torch.full((4, 2, 3, 32, 32), float("nan")))
    with pytest.raises(ValueError, match="not available|not a valid"):
        MintTrainer(cfg, device="cuda:7")


def test_tensorboard_scalars_and_images(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg, buf = make_setup(episodes=2, length=10)
    trainer = MintTrainer(cfg, log_dir=str(tmp_path / "tb"))
    trainer.fit(buf, 4, log_every=2, image_every=4, progress=False)
    trainer.close()
    acc = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert {"loss/total", "loss/masked_entropy", "loss/transport", "keypoints/coverage"} <= set(acc.Tags()["scalars"])
    assert "keypoints/overlay" in acc.Tags()["images"]


@pytest.mark.parametrize("encoder_type", ["mint", "transporter"])
def test_frame_buffer_of_a_trainer_holds_streams_with_what_its_loss_needs(encoder_type):
    """``trainer.frame_buffer``: every stream's frames, episodes split at the starts and at stream ends, the
    entropy computed once (MINT's local entropy; zeros for the Transporter) — what the scripts built by hand."""
    cfg = MintConfig(num_keypoints=3, image_size=(16, 16), hidden_channels=8, feature_dim=0, batch_size=4)
    trainer = build_trainer(encoder_type, cfg)
    assert type(trainer).__name__ == {"mint": "MintTrainer", "transporter": "TransporterTrainer"}[encoder_type]
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 6, 16, 16, 3), dtype=np.uint8)  # two streams
    starts = np.zeros((2, 6), bool)
    starts[:, 0] = starts[0, 4] = True
    buffer = trainer.frame_buffer(frames, starts)
    assert len(buffer) == buffer.capacity == 12 and buffer.frame_shape == (3, 16, 16)
    torch.testing.assert_close(buffer.frames_at(np.arange(12)), torch.from_numpy(frames.reshape(12, 16, 16, 3))
                               .permute(0, 3, 1, 2))
    chw = torch.from_numpy(frames.reshape(12, 16, 16, 3)).permute(0, 3, 1, 2)
    expected = make_entropy(cfg)(chw) if encoder_type == "mint" else torch.zeros(12, *cfg.grid_size)
    torch.testing.assert_close(buffer.entropy, expected)
    assert buffer.num_clips(3) == (4 - 2) + (2 - 2) + (6 - 2)  # episodes of 4, 2 and 6 frames
    history = trainer.fit(buffer, 2, progress=False)
    assert len(history) == 2 and trainer.step_count == 2


def test_frame_buffer_takes_streams_only():
    trainer = MintTrainer(MintConfig(num_keypoints=3, image_size=(16, 16), hidden_channels=8, feature_dim=0))
    frames = np.zeros((6, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"give one stream as frames\[None\]"):
        trainer.frame_buffer(frames, np.zeros(6, bool))
    with pytest.raises(ValueError, match="starts"):
        trainer.frame_buffer(frames[None], np.zeros((1, 5), bool))
    with pytest.raises(ValueError, match="do not fit this buffer"):
        trainer.frame_buffer(np.zeros((1, 6, 32, 32, 3), np.uint8), np.zeros((1, 6), bool))
    with pytest.raises(ValueError, match="unknown encoder type 'pixels'"):
        build_trainer("pixels", trainer.config)
