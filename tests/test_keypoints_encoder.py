"""Keypoint geometry, the encoder, and the config."""

import json

import pytest
import torch

from mint_rl.config import ConfigError, MintConfig
from mint_rl.encoder import KeypointEncoder
from mint_rl.keypoints import gaussian_maps, pixel_centres, sample_features, spatial_soft_argmax


def test_pixel_centres_convention():
    xs, ys = pixel_centres(2, 4)
    torch.testing.assert_close(xs, torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(ys, torch.tensor([-0.5, 0.5]))


def test_soft_argmax_finds_peak_x_right_y_down():
    maps = torch.zeros(1, 2, 8, 16)
    maps[0, 0, 1, 13] = 100.0  # row 1 (near the top), column 13 (right)
    maps[0, 1, 6, 2] = 100.0
    c = spatial_soft_argmax(maps)
    torch.testing.assert_close(c[0, 0], torch.tensor([(2 * 13 + 1) / 16 - 1, (2 * 1 + 1) / 8 - 1]))
    torch.testing.assert_close(c[0, 1], torch.tensor([(2 * 2 + 1) / 16 - 1, (2 * 6 + 1) / 8 - 1]))
    # temperature sharpens a weak peak
    weak = torch.zeros(1, 1, 8, 8)
    weak[0, 0, 0, 0] = 1.0
    assert spatial_soft_argmax(weak, 0.05)[0, 0, 0] < spatial_soft_argmax(weak, 1.0)[0, 0, 0] - 0.5


def test_gaussian_peak_at_keypoint_and_grid_sample_agrees():
    coords = torch.tensor([[[(2 * 5 + 1) / 12 - 1, (2 * 3 + 1) / 10 - 1]]])
    g = gaussian_maps(coords, (10, 12), std_px=2.0)
    assert g[0, 0].argmax().item() == 3 * 12 + 5
    assert g[0, 0, 3, 5] == pytest.approx(1.0)
    assert g[0, 0, 3, 7] == pytest.approx(torch.exp(torch.tensor(-1.0)).item())  # d = std → e^-1
    feat = torch.arange(120, dtype=torch.float32).reshape(1, 1, 10, 12)
    assert sample_features(feat, coords)[0, 0, 0] == pytest.approx(3 * 12 + 5)


def small_config(**kw):
    base = dict(num_keypoints=6, image_size=(32, 32), hidden_channels=8, feature_dim=4)
    base.update(kw)
    return MintConfig(**base)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_encoder_shapes_single_and_batch(norm):
    enc = KeypointEncoder(small_config(norm=norm))
    kp = enc(torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8))
    assert kp.coords.shape == (5, 6, 2) and kp.status.shape == (5, 6) and kp.features.shape == (5, 6, 4)
    assert kp.heatmaps.shape == (5, 6, 16, 16) and (kp.heatmaps >= 0).all()
    assert kp.coords.abs().max() <= 1
    enc.eval()
    one = enc(torch.rand(3, 32, 32))  # single float frame in [0, 1]
    assert one.coords.shape == (1, 6, 2)
    assert enc.encode(torch.rand(70, 3, 32, 32), batch_size=32).coords.shape == (70, 6, 2)


def test_keypoints_active_at_initialisation_and_gates_have_gradient():
    torch.manual_seed(0)
    enc = KeypointEncoder(small_config(num_keypoints=16))
    frames = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    kp = enc(frames)
    active = kp.active.float().mean().item()
    assert 0.2 < active < 0.8, active  # calibrated: about half the gates open
    # not saturated: the status sigmoid passes gradient to the network
    kp.status.sum().backward()
    assert sum(float(p.grad.abs().sum()) for p in enc.keypoint_head.parameters() if p.grad is not None) > 0


def test_fixed_threshold_is_respected():
    enc = KeypointEncoder(small_config(status_threshold=1e6))
    assert not enc(torch.rand(2, 3, 32, 32)).active.any()


def test_keypoints_move_when_content_moves():
    torch.manual_seed(0)
    # group norm: eval mode equals train mode (BatchNorm's running stats are untrained at init)
    enc = KeypointEncoder(small_config(num_keypoints=8, norm="group")).eval()
    a = torch.zeros(1, 3, 32, 32)
    a[..., 4:10, 4:10] = 1.0
    b = torch.zeros(1, 3, 32, 32)
    b[..., 20:26, 20:26] = 1.0
    with torch.no_grad():
        d = (enc(a).coords - enc(b).coords).norm(dim=-1)
    assert d.max() > 0.05  # an untrained encoder's keypoints already respond to the content


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(3, 32, 32, 2), "channels"),
    (torch.zeros(3, 32), "rank"),
    (torch.zeros(1, 2, 3, 32, 32), "rank"),
    (torch.zeros(1, 3, 40, 40), "expects"),
    (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
    (torch.full((1, 3, 32, 32), 2.0), r"\[0, 1\]"),
    (torch.zeros(1, 3, 32, 32, dtype=torch.int64), "dtype"),
])
def test_encoder_rejects_bad_frames(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        KeypointEncoder(small_config())(bad)


def test_config_validation_and_json_roundtrip():
    c = MintConfig(num_keypoints=5, image_size=(84, 84))
    assert c.grid_size == (42, 42)
    again = MintConfig.from_json(c.to_json())
    assert again == c and json.loads(c.to_json())["num_keypoints"] == 5
    for field, value in [("num_keypoints", 0), ("clip_length", 1), ("norm", "layer"), ("entropy_window", 4),
                         ("kappa", 1.5), ("gaussian_std", 2.0)]:
        with pytest.raises(ConfigError, match=field):
            MintConfig(**{field: value})
    with pytest.raises(ConfigError, match="unknown"):
        MintConfig.from_dict({"num_keypoint": 3})
    assert c.architecture_mismatch(c.replace(num_keypoints=7)) == ["num_keypoints: 5 != 7"]


def test_eval_mode_folds_the_head_batch_norm_exactly():
    """In eval mode the keypoint head's batch norm is folded into its 1×1 conv: same maps as the modules."""
    torch.manual_seed(0)
    enc = KeypointEncoder(MintConfig(num_keypoints=5, image_size=(32, 32), status_threshold=0.5))
    norm = enc.keypoint_head[1]
    norm.running_mean.normal_()
    norm.running_var.uniform_(0.5, 2.0)
    norm.weight.data.normal_()
    norm.bias.data.normal_()
    enc.eval()
    hidden = torch.randn(3, enc.config.hidden_channels, 16, 16)
    with torch.no_grad():
        assert torch.allclose(enc._keypoint_logits(hidden), enc.keypoint_head(hidden), atol=1e-5)
        enc.train()
        assert torch.equal(enc._keypoint_logits(hidden), enc.keypoint_head(hidden))  # training: the modules


def test_config_replace_rederives_a_derived_grid():
    c = MintConfig(image_size=(84, 84))
    assert c.grid_size == (42, 42)
    assert c.replace(image_size=(64, 64)).grid_size == (32, 32)  # derived: follows the new input
    fixed = MintConfig(image_size=(84, 84), grid_size=(21, 21))
    assert fixed.replace(image_size=(64, 64)).grid_size == (21, 21)  # set explicitly: kept
    assert c.replace(image_size=(64, 64), grid_size=(16, 16)).grid_size == (16, 16)
