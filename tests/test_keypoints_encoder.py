"""Keypoint geometry, the encoder, and the config."""

import json

import pytest
import torch

from mint_rl.config import ConfigError, MintConfig
from mint_rl.encoder import KeypointEncoder
import torch.nn.functional as F

from mint_rl.coords import pixel_centres
from mint_rl.keypoints import gaussian_maps, keypoint_readout, sample_features, spatial_soft_argmax


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


# ---------------------------------------------------------------- the fused readout and the encoder's fast paths
def plain_readout(logits, temperature):
    maps = F.softplus(logits)
    return maps, spatial_soft_argmax(maps, temperature), maps.flatten(2).amax(dim=-1)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("ties", [False, True])
def test_keypoint_readout_equals_the_plain_ops(channels_last, ties):
    g = torch.Generator().manual_seed(int(channels_last) + 2 * int(ties))
    logits = torch.randn(4, 5, 9, 11, generator=g, dtype=torch.float64) * 3
    if ties:  # flat maps and a peak shared by two pixels: amax shares its gradient between ties
        logits[0, :2] = 1.0
        logits[1, 3, 2:4, 5] = logits[1, 3].max() + 1
    if channels_last:
        logits = logits.contiguous(memory_format=torch.channels_last)
    weights = [torch.randn(s, generator=g, dtype=torch.float64) for s in [(4, 5, 9, 11), (4, 5, 2), (4, 5)]]
    results = []
    for fn in (keypoint_readout, plain_readout):
        x = logits.clone(memory_format=torch.preserve_format).requires_grad_(True)
        log_t = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
        outs = fn(x, log_t.exp())
        sum(o.mul(w).sum() for o, w in zip(outs, weights)).backward()
        results.append([*outs, x.grad, log_t.grad])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # and only some outputs used (the others get no gradient)
    x = logits.clone().requires_grad_(True)
    keypoint_readout(x, 0.5)[1].sum().backward()
    y = logits.clone().requires_grad_(True)
    plain_readout(y, 0.5)[1].sum().backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-12, atol=1e-12)
    small = torch.randn(2, 2, 4, 5, generator=g, dtype=torch.float64)
    if channels_last:
        small = small.contiguous(memory_format=torch.channels_last)
    assert torch.autograd.gradcheck(keypoint_readout, (small.requires_grad_(True),
                                                       torch.tensor(0.7, dtype=torch.float64, requires_grad=True)))


def plain_encoder_forward(enc: KeypointEncoder, frames: torch.Tensor):
    """What KeypointEncoder.forward computed before the speed-up (issue 14), in the encoder's dtype:
    contiguous memory, torch's batch norm, soft-argmax and amax as separate ops, features from the full
    feature maps."""
    from mint_rl.encoder import to_network_input

    def run(module, x):
        if isinstance(module, torch.nn.BatchNorm2d):  # nn.BatchNorm2d's own forward, on contiguous input
            return torch.nn.BatchNorm2d.forward(module, x)
        if isinstance(module, torch.nn.Sequential):
            for m in module:
                x = run(m, x)
            return x
        return module(x)

    dtype = enc.log_temperature.dtype
    hidden = run(enc.backbone, to_network_input(frames).to(dtype))
    maps = F.softplus(run(enc.keypoint_head, hidden))
    coords = spatial_soft_argmax(maps, enc.temperature)
    status = torch.sigmoid(enc.config.status_slope * (maps.flatten(2).amax(-1) - enc.status_threshold))
    features = sample_features(enc.feature_head(hidden), coords)
    return coords, status, features, maps


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_encoder_fast_paths_are_as_accurate_as_the_plain_forward(norm):
    """Channels-last memory, the numba batch norm, the fused readout and sampling before the 1×1 feature
    head: against a float64 run of the plain ops, the outputs and gradients are as accurate as the
    plain float32 forward's (which they replace)."""
    import copy

    torch.manual_seed(0)
    config = MintConfig(num_keypoints=8, image_size=(64, 64), feature_dim=4, norm=norm, status_threshold=1.0)
    fast = KeypointEncoder(config)
    frames = torch.randint(0, 256, (24, 3, 64, 64), dtype=torch.uint8)
    weights = [torch.randn(24, 8, 2), torch.randn(24, 8), torch.randn(24, 8, 4), torch.randn(24, 8, 32, 32)]

    def run(enc, forward):
        outs = forward(enc, frames)
        sum(o.mul(w.to(o.dtype)).sum() for o, w in zip(outs, weights)).backward()
        grads = {n: p.grad.double() for n, p in enc.named_parameters()
                 if p.grad is not None and not n.startswith("keypoint_head.0.bias")  # 0 up to rounding: a norm
                 and not (norm == "batch" and n.endswith("0.bias"))}                 # follows these biases
        return [o.detach().double() for o in outs], grads

    exact = run(copy.deepcopy(fast).double(), plain_encoder_forward)
    plain = run(copy.deepcopy(fast), plain_encoder_forward)
    ours = run(fast, lambda enc, f: tuple(vars(enc(f)).values()))

    def error(got, want):  # relative, in the L2 norm
        return float((got - want).norm() / want.norm())

    for o_ours, o_plain, o_exact in zip(ours[0], plain[0], exact[0]):
        assert error(o_ours, o_exact) <= 3 * error(o_plain, o_exact) + 1e-6
    assert ours[1].keys() == exact[1].keys()
    for name in exact[1]:  # parameter by parameter: within float32 rounding of the exact gradient
        assert error(ours[1][name], exact[1][name]) < 1e-3, name
    flat = lambda grads: torch.cat([g.flatten() for g in grads.values()])  # noqa: E731
    assert error(flat(ours[1]), flat(exact[1])) <= 3 * error(flat(plain[1]), flat(exact[1])) + 1e-6


def test_authors_input_scale_feeds_the_network_their_range():
    """``authors_input_scale``: the backbone sees (x − 0.5) / 0.5 of the 0–255 values, as the authors' code;
    by default x / 127.5 − 1."""
    from mint_rl.config import MintConfig
    from mint_rl.encoder import KeypointEncoder

    frames = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    seen = {}
    for authors in (False, True):
        torch.manual_seed(0)
        enc = KeypointEncoder(MintConfig(num_keypoints=2, image_size=(32, 32), hidden_channels=4, feature_dim=0,
                                         authors_input_scale=authors)).eval()
        enc.backbone.register_forward_hook(lambda m, args, out, a=authors: seen.__setitem__(a, args[0].clone()))
        enc(frames)
    x = frames.float()
    torch.testing.assert_close(seen[True], (x - 0.5) / 0.5)
    torch.testing.assert_close(seen[False], x / 127.5 - 1.0)


def test_readout_grid_is_kept_per_grid_and_still_differentiable_after_inference_mode():
    """The pixel-centre grid is built once per (H, W, device, dtype) and reused; one first built under
    inference mode must not poison a later differentiable call."""
    from mint_rl.keypoints import _centre_grid

    _centre_grid.cache_clear()
    logits = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    with torch.inference_mode():
        first = keypoint_readout(logits, 0.5)[1]
    x = logits.clone().requires_grad_(True)
    maps, coords, peaks = keypoint_readout(x, 0.5)
    coords.sum().backward()  # an inference tensor saved for backward would raise here
    assert x.grad is not None and torch.isfinite(x.grad).all()
    torch.testing.assert_close(coords.detach(), first)
    torch.testing.assert_close(coords.detach(), plain_readout(logits, 0.5)[1])
    assert _centre_grid.cache_info().hits >= 1 and _centre_grid.cache_info().currsize == 1
    small = torch.randn(1, 1, 4, 4)  # another grid and dtype: its own entry
    torch.testing.assert_close(keypoint_readout(small, 1.0)[1], plain_readout(small, 1.0)[1])
    assert _centre_grid.cache_info().currsize == 2
