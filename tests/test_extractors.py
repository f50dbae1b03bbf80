"""SB3 keypoint features extractors: layouts, masking of inactive keypoints, permutation invariance."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.extractors import (MIN_MAP_GRID, KeypointMapExtractor, KeypointMlpExtractor, KeypointSetExtractor, fourier_coords,
                               split_keypoint_observation)

K, F = 5, 2
D = 3 + F


def box(shape):
    low = np.full(shape, -np.inf, np.float32)
    high = np.full(shape, np.inf, np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


def sample(shape, batch=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *shape, generator=g) * 2 - 1
    x[..., 2] = torch.rand(batch, *shape[:-1], generator=g)  # status column (single-frame layouts)
    return x


@pytest.mark.parametrize("cls", [KeypointMlpExtractor, KeypointSetExtractor, KeypointMapExtractor])
def test_single_and_gymnasium_stacked_layouts(cls):
    for shape in [(K, D), (3, K, D)]:
        ext = cls(box(shape), features_dim=16)
        out = ext(sample(shape))
        assert out.shape == (4, 16) and torch.isfinite(out).all()


def test_vecframestack_layout_matches_gymnasium_layout():
    frames = sample((3, K, D))  # (B, S, K, D)
    vec = frames.permute(0, 2, 1, 3).reshape(4, K, 3 * D)  # SB3 VecFrameStack concatenates on the last axis
    a, sa = split_keypoint_observation(frames, (3, K, D), channels_last_stack=False)
    b, sb = split_keypoint_observation(vec, (3, K, D), channels_last_stack=True)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(sa, frames[:, -1, :, 2])
    torch.testing.assert_close(sb, sa)


def test_dict_layout():
    space = gym.spaces.Dict({"coords": gym.spaces.Box(-1, 1, (K, 2)), "status": gym.spaces.Box(0, 1, (K,)),
                             "features": box((K, F))})
    x = sample((K, D))
    obs = {"coords": x[..., :2], "status": x[..., 2], "features": x[..., 3:]}
    for cls in (KeypointMlpExtractor, KeypointSetExtractor, KeypointMapExtractor):
        torch.manual_seed(0)
        from_dict = cls(space, features_dim=8)(obs)
        torch.manual_seed(0)
        from_box = cls(box((K, D)), features_dim=8)(x)
        torch.testing.assert_close(from_dict, from_box)


@pytest.mark.parametrize("heads, relations, sort", [(0, False, None), (2, False, None), (0, True, None),
                                                    (0, False, "y"), (0, False, "learned")])
def test_set_extractor_is_permutation_invariant_and_ignores_inactive(heads, relations, sort):
    torch.manual_seed(0)
    ext = KeypointSetExtractor(box((K, D)), features_dim=8, embed_dim=16, attention_heads=heads,
                               relations=relations, sort=sort).eval()
    x = sample((K, D))
    perm = torch.randperm(K)
    torch.testing.assert_close(ext(x), ext(x[:, perm]), rtol=1e-5, atol=1e-6)
    # an inactive keypoint's values do not matter
    x[:, 0, 2] = 0.1
    y = x.clone()
    y[:, 0, :2] = -y[:, 0, :2]
    y[:, 0, 3:] = 5.0
    torch.testing.assert_close(ext(x), ext(y), rtol=1e-5, atol=1e-6)
    # but an active one's do
    x[:, 1, 2], y = 0.9, x.clone()
    y[:, 1, :2] = -y[:, 1, :2]
    assert not torch.allclose(ext(x), ext(y))
    # all inactive: finite output
    x[..., 2] = 0.0
    assert torch.isfinite(ext(x)).all()


def test_relation_pairs_see_offsets_of_the_newest_frame():
    """The pair code of (i, j) is g(h_i, h_j, p_j - p_i), computed from the newest frame's coordinates."""
    from agents.extractors import KeypointRelations

    torch.manual_seed(0)
    rel = KeypointRelations(8)
    h, xy = torch.randn(2, K, 8), torch.rand(2, K, 2) * 2 - 1
    out = rel.pairs(h, xy)
    first = rel.first(h[0, 1]) + rel.second(h[0, 3]) + rel.offset(xy[0, 3] - xy[0, 1])
    torch.testing.assert_close(out[0, 1, 3], rel.out(first))
    # a common shift of every keypoint leaves the pair codes unchanged
    torch.testing.assert_close(rel.pairs(h, xy + 0.3), out)
    # with two stacked frames (gymnasium's and SB3's layouts) the pairs get the newest frame's coordinates
    for vec in (False, True):
        shape = (K, 2 * D) if vec else (2, K, D)
        ext = KeypointSetExtractor(box(shape), features_dim=8, embed_dim=16, relations=True, n_stack=2)
        frames = sample((2, K, D))
        frames[:, 1, :, 2] = 0.9
        seen = []
        original = ext.relations.forward
        ext.relations.forward = lambda h_, xy_, present_: seen.append(xy_) or original(h_, xy_, present_)
        ext(frames.permute(0, 2, 1, 3).reshape(4, K, 2 * D) if vec else frames)
        torch.testing.assert_close(seen[0], frames[:, 1, :, :2])


@pytest.mark.parametrize("pair_dim", [None, 5])
def test_relation_pooling_over_present_pairs_matches_masked_pooling_of_all_pairs(pair_dim):
    """The pooled pair codes, computed on the present pairs only, equal the status-masked mean and max over
    every pair code (self-pairs excluded), in value and gradient, at the embedding's width and at a narrower
    one; a row with fewer than two present keypoints pools to zeros."""
    from agents.extractors import KeypointRelations

    torch.manual_seed(0)
    rel = KeypointRelations(16, pair_dim)
    width = pair_dim or 16
    h, xy = torch.randn(6, 7, 16, requires_grad=True), torch.rand(6, 7, 2) * 2 - 1
    present = torch.rand(6, 7) < 0.6
    present[0], present[1] = False, torch.arange(7) == 2  # no keypoint; one keypoint: no pair
    present[2] = True
    pooled = rel(h, xy, present)
    mask = (present.unsqueeze(2) & present.unsqueeze(1) & ~torch.eye(7, dtype=torch.bool)).flatten(1)
    codes = rel.pairs(h, xy).flatten(1, 2)  # (B, K·K, P_E)
    assert codes.shape[-1] == width
    mean = (codes * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
    maxed = codes.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
    expected = torch.cat([mean, torch.where(mask.any(1, keepdim=True), maxed, torch.zeros_like(maxed))], -1)
    torch.testing.assert_close(pooled, expected)
    assert pooled[:2].abs().max() == 0 and pooled[2:].abs().max() > 0
    weights = torch.randn_like(pooled)
    grads = torch.autograd.grad((pooled * weights).sum(), [h, *rel.parameters()])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [h, *rel.parameters()])
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
    # a batch without any pair pools to zeros, with zero gradients
    none = rel(h, xy, torch.arange(7) == torch.tensor([[0], [3]] * 3))
    assert none.shape == (6, 2 * width) and none.abs().max() == 0
    assert all(g is None or g.abs().max() == 0 for g in torch.autograd.grad(none.sum(), [h], allow_unused=True))


def test_sorted_set_puts_the_lowest_present_keypoint_first():
    ext = KeypointSetExtractor(box((K, D)), features_dim=8, embed_dim=4, sort="y")
    h = torch.arange(K, dtype=torch.float32)[None, :, None].expand(1, K, 4).contiguous()  # row i reads i
    xy = torch.zeros(1, K, 2)
    xy[0, :, 1] = torch.tensor([0.1, 0.9, -0.5, 0.3, 0.7])
    present = torch.tensor([[True, True, True, False, True]])
    rows = ext._sorted(h, xy, present).reshape(K, 4)[:, 0]
    assert rows.tolist() == [1.0, 4.0, 0.0, 2.0, 0.0]  # y 0.9, 0.7, 0.1, -0.5, then the absent row zeroed
    with pytest.raises(ValueError, match="sort must be"):
        KeypointSetExtractor(box((K, D)), sort="x")
    with pytest.raises(ValueError, match="without relations"):
        KeypointSetExtractor(box((K, D)), sort="y", relations=True)


def test_mlp_gating_zeroes_inactive_keypoints():
    torch.manual_seed(0)
    ext = KeypointMlpExtractor(box((K, D)), features_dim=8)
    x = sample((K, D))
    x[:, 0, 2] = 0.0
    y = x.clone()
    y[:, 0, :2] = 0.3
    torch.testing.assert_close(ext(x), ext(y))


def test_rejects_image_spaces():
    with pytest.raises(ValueError, match="MintKeypointWrapper"):
        KeypointSetExtractor(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8))
    with pytest.raises(ValueError, match="n_stack"):
        KeypointMlpExtractor(box((K, 7)), n_stack=2)
    with pytest.raises(ValueError, match="MintKeypointWrapper"):
        KeypointMapExtractor(gym.spaces.Box(0, 255, (84, 84, 3), np.uint8))


def test_ppo_learns_with_extractor_on_keypoint_box():
    """SB3 wiring: PPO builds and trains with the extractor through policy_kwargs."""
    from stable_baselines3 import PPO

    class Toy(gym.Env):
        observation_space = box((K, D))
        action_space = gym.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.low.clip(-1, 1) * 0, {}

        def step(self, a):
            return np.zeros((K, D), np.float32), float(a), True, False, {}

    model = PPO("MlpPolicy", Toy(), n_steps=64, batch_size=32, n_epochs=1, device="cpu",
                policy_kwargs=dict(features_extractor_class=KeypointSetExtractor,
                                   features_extractor_kwargs=dict(features_dim=16, embed_dim=16)))
    model.learn(128)
    assert isinstance(model.policy.features_extractor, KeypointSetExtractor)


def _one_hot_rows(shape, codes, n, seed=0):
    """A batch of 4 keypoint observations ``shape`` (…, K, 3 + n): random x, y, status, then the one-hot of
    ``codes`` (4, …, K)."""
    x = sample((*shape[:-1], 3 + n), seed=seed)
    x[..., 3:] = torch.nn.functional.one_hot(codes, n).float()
    return x


@pytest.mark.parametrize("n_stack", [1, 2])
def test_equal_codes_start_equal_and_learn_apart(n_stack):
    """equal_codes: keypoints that differ only in their code embed alike at the start, survive SB3's
    orthogonal initialisation, and the code weights get a gradient."""
    from stable_baselines3.common.policies import ActorCriticPolicy

    n = 4
    space = box((K, n_stack * (3 + n)))  # VecFrameStack layout
    policy = ActorCriticPolicy(space, gym.spaces.Discrete(2), lambda _: 3e-4, features_extractor_class=KeypointSetExtractor,
                               features_extractor_kwargs=dict(features_dim=16, n_stack=n_stack, relations=True,
                                                              equal_codes=n))
    ext = policy.features_extractor
    assert ext.code_weight is not None and torch.count_nonzero(ext.code_weight) == 0
    assert torch.count_nonzero(ext.point[0].weight) > 0  # the rest of the first layer is initialised as usual
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, n, (4, n_stack, K), generator=g)
    rows = _one_hot_rows((n_stack, K, 3 + n), codes, n)  # (4, S, K, 3 + n)
    vec = rows.permute(0, 2, 1, 3).reshape(4, K, n_stack * (3 + n))
    other = rows.clone()
    other[..., 3:] = torch.nn.functional.one_hot((codes + 1) % n, n).float()
    other_vec = other.permute(0, 2, 1, 3).reshape(4, K, n_stack * (3 + n))
    torch.testing.assert_close(ext(vec), ext(other_vec))  # another code, the same features
    ext(vec).sum().backward()
    assert ext.code_weight.grad is not None and torch.count_nonzero(ext.code_weight.grad) > 0


def test_equal_codes_compute_a_plain_first_layer_split_in_two():
    """With the same weights (random code weights here), the split first layer equals the plain one."""
    n = 3
    torch.manual_seed(0)
    plain = KeypointSetExtractor(box((K, 3 + n)), features_dim=8, relations=True)
    torch.manual_seed(0)
    equal = KeypointSetExtractor(box((K, 3 + n)), features_dim=8, relations=True, equal_codes=n)
    with torch.no_grad():
        equal.point[0].weight.copy_(plain.point[0].weight[:, :3])
        equal.point[0].bias.copy_(plain.point[0].bias)
        mine = dict(equal.named_parameters())
        for name, a in plain.named_parameters():
            if not name.startswith("point.0"):
                mine[name].copy_(a)
        equal.code_weight.normal_()
        plain.point[0].weight[:, 3:] = equal.code_weight
    x = _one_hot_rows((K, 3 + n), torch.randint(0, n, (4, K), generator=torch.Generator().manual_seed(1)), n)
    torch.testing.assert_close(equal(x), plain(x))


def test_equal_codes_rejects_a_layout_without_that_many_columns():
    with pytest.raises(ValueError, match=r"equal_codes=3\) needs 0 <= n <= 2"):
        KeypointSetExtractor(box((K, D)), equal_codes=3)
    with pytest.raises(ValueError, match=r"equal_codes=True\) needs"):
        KeypointSetExtractor(box((K, D)), equal_codes=True)
    with pytest.raises(ValueError, match="no glimpse CNN"):
        KeypointSetExtractor(box((K, 3 + 3 * 5 * 5)), glimpse=(3, 5), equal_codes=2)


def test_relation_width_sets_the_pair_mlp_and_the_pooled_size():
    """``relation_dim`` narrows the relation network (its pair codes, pooled mean and max, feed the head) without
    touching the keypoint embedding; the default is the embedding size; bad widths are refused, naming the flag."""
    from agents.extractors import KeypointRelations

    torch.manual_seed(0)
    wide = KeypointSetExtractor(box((K, D)), features_dim=8, embed_dim=16, relations=True)
    narrow = KeypointSetExtractor(box((K, D)), features_dim=8, embed_dim=16, relations=True, relation_dim=4)
    assert wide.relations.pair_dim == 16 and wide.head[0].in_features == 4 * 16
    assert narrow.relations.pair_dim == 4 and narrow.relations.out[1].weight.shape == (4, 4)
    assert narrow.head[0].in_features == 2 * 16 + 2 * 4 and narrow.point[0].out_features == 16
    out = narrow(sample((K, D)))
    assert out.shape == (4, 8) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="relation_dim=4.*relations=True"):
        KeypointSetExtractor(box((K, D)), relation_dim=4)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="pair_dim"):
            KeypointRelations(16, bad)


def test_code_gain_starts_the_code_weights_close_but_not_equal():
    """``code_gain`` g: the code weights start at g × an orthogonal matrix (columns of norm g) instead of zero, and
    the rest of the extractor starts as it does without it (same seed); a gain without equal codes, or negative, is
    refused."""
    n = 3
    torch.manual_seed(0)
    zero = KeypointSetExtractor(box((K, 3 + n)), features_dim=8, relations=True, equal_codes=n)
    torch.manual_seed(0)
    small = KeypointSetExtractor(box((K, 3 + n)), features_dim=8, relations=True, equal_codes=n, code_gain=0.5)
    assert zero.code_weight.abs().max() == 0
    torch.testing.assert_close(small.code_weight.norm(dim=0), torch.full((n,), 0.5))
    for (name, a), (_, b) in zip(zero.named_parameters(), small.named_parameters()):
        if name != "code_weight":
            assert torch.equal(a, b), name
    x = _one_hot_rows((K, 3 + n), torch.randint(0, n, (4, K), generator=torch.Generator().manual_seed(1)), n)
    same_but_code = x.clone()
    same_but_code[..., 3:] = torch.roll(x[..., 3:], 1, dims=-1)  # every keypoint another colour
    assert torch.equal(zero(x), zero(same_but_code)) and not torch.allclose(small(x), small(same_but_code))
    for bad in (-0.1, float("nan"), True):
        with pytest.raises(ValueError, match="code_gain"):
            KeypointSetExtractor(box((K, 3 + n)), equal_codes=n, code_gain=bad)
    with pytest.raises(ValueError, match="together with equal_codes"):
        KeypointSetExtractor(box((K, 3 + n)), code_gain=0.5)


def test_fourier_coords_values_and_order():
    """``fourier_coords``: sin then cos of x and y at frequencies π, 2π, ... (checked against hand values)."""
    xy = torch.tensor([[0.5, -0.25]])
    got = fourier_coords(xy, 2)[0]
    s, c = np.sin, np.cos
    want = [s(np.pi / 2), s(-np.pi / 4), s(np.pi), s(-np.pi / 2), c(np.pi / 2), c(-np.pi / 4), c(np.pi), c(-np.pi / 2)]
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float32), atol=1e-6, rtol=0)
    # the top octave tells apart positions one 84-px pixel apart that the raw coordinate barely separates
    a, b = fourier_coords(torch.tensor([0.1, 0.0]), 6), fourier_coords(torch.tensor([0.1 + 2 / 84, 0.0]), 6)
    assert (a - b).abs().max() > 10 * (2 / 84)


def _first_layer_input(ext, obs):
    seen = []
    handle = ext.mlp[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    ext(obs)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("gate", [True, False])
def test_mlp_extractor_fourier_features_are_appended_per_keypoint_and_frame(gate):
    """``fourier=L`` on SB3's VecFrameStack layout ``(K, S·D)`` (what the keypoint and objects agents train on): the
    MLP's input is, per keypoint and frame (oldest first), ``[x, y, status, features, fourier_coords(x, y)]``, each part
    times that frame's own status when gated (a keypoint inactive in one frame only reads as zeros in that frame) and
    as it is when not."""
    s, L = 2, 3
    frames = sample((s, K, D))  # (B, S, K, D)
    frames[:, 0, 1, 2] = 0.0  # keypoint 1 inactive in the older frame only
    frames[:, 1, 3, 2] = 0.0  # keypoint 3 inactive in the newest frame only
    vec = frames.permute(0, 2, 1, 3).reshape(4, K, s * D)
    ext = KeypointMlpExtractor(box((K, s * D)), features_dim=16, n_stack=s, gate_by_status=gate, fourier=L)
    assert ext.mlp[0].in_features == s * K * (D + 4 * L)
    status = frames[..., 2:3] if gate else torch.ones_like(frames[..., 2:3])
    rows = torch.cat([frames[..., :2] * status, frames[..., 2:3], frames[..., 3:] * status,
                      fourier_coords(frames[..., :2], L) * status], dim=-1)  # (B, S, K, D + 4L)
    want = rows.transpose(1, 2).reshape(4, -1)  # per keypoint, frames oldest → newest
    torch.testing.assert_close(_first_layer_input(ext, vec), want)
    moved = vec.clone()
    moved[:, 1, :2] += 0.3  # keypoint 1's coordinates in its inactive (older) frame
    assert torch.equal(ext(vec), ext(moved)) == gate


def test_mlp_extractor_fourier_features_widen_the_input_and_follow_the_status_gate():
    """``fourier=L`` appends 4·L values per keypoint and frame; an inactive keypoint's coordinates, sinusoids included,
    do not reach the MLP (status gating), an active one's do, sinusoids included (with the raw coordinates' weights at
    zero the output still moves); L outside [0, 10] is refused."""
    shape = (2, K, D)
    ext = KeypointMlpExtractor(box(shape), features_dim=16, fourier=3)
    assert ext.mlp[0].in_features == 2 * K * (D + 12)
    x = sample(shape)
    x[:, :, 1, 2] = 0.0  # keypoint 1 inactive in both frames
    moved = x.clone()
    moved[:, :, 1, :2] += 0.3
    torch.testing.assert_close(ext(x), ext(moved))
    with torch.no_grad():  # the first layer reads the rows keypoint by keypoint: [frame 0 row, frame 1 row]
        weight = ext.mlp[0].weight.view(-1, K, 2, D + 12)
        weight[..., :2] = 0.0  # no weight on any raw coordinate: only the sinusoids can carry a move
    active = x.clone()
    active[:, :, 0, :2] += 0.3
    assert not torch.allclose(ext(x), ext(active))
    for bad in (-1, 11, 2.0, True):
        with pytest.raises(ValueError, match="Fourier octaves must be an integer in \\[0, 10\\]"):
            KeypointMlpExtractor(box(shape), fourier=bad)


def test_map_extractor_draws_each_frames_present_keypoints_where_they_are():
    """The map of a frame is the sum of its present keypoints' blobs ``status · exp(-d² / std²)``, d in cells: a
    keypoint at a cell centre peaks at its status in that cell (row = y, down) with exp(-1/std²) of it in the four
    neighbours, a blob's mass is status · π·std² cells, an inactive keypoint draws nothing, features weight a blob in
    their own channels, and frames keep their order (oldest first), in the Box and Dict layouts."""
    g, std = 16, 1.5
    xs = (2 * torch.arange(g) + 1) / g - 1  # cell centres
    frames = torch.zeros(2, K, D)  # (S, K, D), all inactive
    frames[0, 0, :3] = torch.tensor([xs[3], xs[10], 1.0])  # oldest frame: one keypoint at column 3, row 10
    frames[1, 1, :3] = torch.tensor([xs[12], xs[5], 0.5])  # newest: keypoint 1 at column 12, row 5, status 0.5,
    # features 0.5, -2
    frames[1, 1, 3:] = torch.tensor([0.5, -2.0])
    frames[1, 2, :] = torch.tensor([0.0, 0.0, 0.0, 9.0, 9.0])  # inactive: nothing, features or not
    gym_ext = KeypointMapExtractor(box((2, K, D)), features_dim=8, grid=g, std_px=std)
    vec_ext = KeypointMapExtractor(box((K, 2 * D)), features_dim=8, n_stack=2, grid=g, std_px=std)
    maps = gym_ext.render(frames[None])
    torch.testing.assert_close(vec_ext.render(frames.transpose(0, 1).reshape(1, K, 2 * D)), maps)
    dict_space = gym.spaces.Dict({"coords": box((2, K, 2)), "status": box((2, K)), "features": box((2, K, F))})
    dict_ext = KeypointMapExtractor(dict_space, features_dim=8, grid=g, std_px=std)
    torch.testing.assert_close(dict_ext.render({"coords": frames[None, ..., :2], "status": frames[None, ..., 2],
                                                "features": frames[None, ..., 3:]}), maps)
    assert maps.shape == (1, 2 * (1 + F), g, g)
    edge = math.exp(-1 / std ** 2)
    for channel, (row, col), status in ((0, (10, 3), 1.0), (3, (5, 12), 0.5)):
        m = maps[0, channel]
        assert divmod(int(m.argmax()), g) == (row, col)
        torch.testing.assert_close(m[row, col], torch.tensor(status))
        for neighbour in (m[row - 1, col], m[row + 1, col], m[row, col - 1], m[row, col + 1]):
            torch.testing.assert_close(neighbour, torch.tensor(status * edge))
    torch.testing.assert_close(maps[0, 3].sum(), torch.tensor(0.5 * math.pi * std ** 2), atol=0, rtol=1e-3)  # cut at the edge
    torch.testing.assert_close(maps[0, 4], 0.5 * maps[0, 3])
    torch.testing.assert_close(maps[0, 5], -2.0 * maps[0, 3])
    assert maps[0, 1:3].abs().max() == 0  # the oldest frame's keypoint has no features
    plain = KeypointMapExtractor(box((2, K, D)), features_dim=8, grid=g, std_px=std, features=False)
    torch.testing.assert_close(plain.render(frames[None]), maps[:, [0, 3]])


def test_map_extractor_is_blind_to_row_order_and_to_inactive_rows():
    """Exchanging keypoint rows (in every stacked frame at once, or in one frame only: rows that swap objects) leaves
    the output unchanged; so does moving an inactive keypoint; moving an active one changes it."""
    ext = KeypointMapExtractor(box((K, 2 * D)), features_dim=16, n_stack=2, grid=MIN_MAP_GRID)
    x = sample((K, 2 * D))
    x[..., D + 2] = torch.rand(4, K) + 0.1  # newest frame's status, positive
    x[:, 4, D + 2] = 0.0  # keypoint 4 inactive in the newest frame
    torch.testing.assert_close(ext(x[:, torch.randperm(K)]), ext(x))
    newest_swapped = x.clone()
    newest_swapped[:, [0, 1], D:] = x[:, [1, 0], D:]  # rows 0 and 1 exchange objects in the newest frame only
    torch.testing.assert_close(ext(newest_swapped), ext(x))
    moved = x.clone()
    moved[:, 4, D:D + 2] += 0.4
    torch.testing.assert_close(ext(moved), ext(x))
    moved[:, 0, D:D + 2] += 0.4
    assert not torch.allclose(ext(moved), ext(x))


def test_map_extractor_refuses_a_small_grid_or_a_bad_std():
    for bad in (MIN_MAP_GRID - 1, 20.0, True):
        with pytest.raises(ValueError, match=f"grid={bad!r}.*>= {MIN_MAP_GRID}"):
            KeypointMapExtractor(box((K, D)), grid=bad)
    for bad in (0.0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="std in cells must be a finite number > 0"):
            KeypointMapExtractor(box((K, D)), std_px=bad)
