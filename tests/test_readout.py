"""mint_rl.readout: a linear map reads object centres from keypoints, cross-fitted over folds."""

import numpy as np
import pytest

from mint_rl.readout import keypoint_features, linear_readout, readout_errors


def _moving_object(t: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-0.8, 0.8, (t, 1, 2))
    return centres, np.ones((t, 1), bool)


def test_a_keypoint_at_a_fixed_offset_carries_the_position() -> None:
    """A keypoint 5 px beside the object (never on it) reads its centre back exactly; a keypoint that ignores the
    object reads no better than the constant guess."""
    centres, visible = _moving_object()
    fold = np.arange(60) % 3
    beside = centres + np.array([5 * 2 / 84, 0.0])
    pred = linear_readout(beside, np.ones((60, 1)), centres, visible, fold, ridge=0.0)
    assert np.nanmax(readout_errors(pred, centres, 84)) < 1e-6
    unrelated = np.random.default_rng(1).uniform(-1, 1, (60, 1, 2))
    guess = readout_errors(linear_readout(unrelated, np.ones((60, 1)), centres, visible, fold), centres, 84).mean()
    constant = readout_errors(linear_readout(unrelated, np.ones((60, 1)), centres, visible, fold, features=False),
                              centres, 84).mean()
    assert guess > 0.9 * constant > 10.0


def test_every_frame_is_scored_by_a_map_fitted_on_the_other_folds() -> None:
    """61 features and 20 frames per fold: fitted on its own frames a map would reproduce pure noise exactly;
    cross-fitted, noise keypoints predict no better than the mean of the other folds."""
    centres, visible = _moving_object(40)
    noise = np.random.default_rng(2).uniform(-1, 1, (40, 20, 2))
    fold = (np.arange(40) >= 20).astype(int)
    pred = linear_readout(noise, np.ones((40, 20)), centres, visible, fold, ridge=0.0)
    constant = linear_readout(noise, np.ones((40, 20)), centres, visible, fold, features=False)
    assert readout_errors(pred, centres, 84).mean() > 0.8 * readout_errors(constant, centres, 84).mean()
    x = keypoint_features(noise, np.ones((40, 20)))
    own = x[:20] @ np.linalg.lstsq(x[:20], centres[:20, 0], rcond=None)[0]  # what an in-sample fit would score
    assert np.abs(own - centres[:20, 0]).max() < 1e-6


def test_the_constant_guess_is_the_other_folds_mean_and_the_constant_is_not_penalised() -> None:
    """``features=False`` predicts exactly the mean centre of the other folds; so does a read-out with a huge ridge
    (every weight but the constant's shrinks to zero)."""
    centres, visible = _moving_object(30)
    coords = centres + 0.05
    fold = np.arange(30) // 10
    constant = linear_readout(coords, np.ones((30, 1)), centres, visible, fold, features=False)
    shrunk = linear_readout(coords, np.ones((30, 1)), centres, visible, fold, ridge=1e9)
    for f in range(3):
        mean = centres[fold != f, 0].mean(0)
        assert np.allclose(constant[fold == f, 0], mean, atol=1e-12)
        assert np.allclose(shrunk[fold == f, 0], mean, atol=1e-6)
    assert readout_errors(linear_readout(coords, np.ones((30, 1)), centres, visible, fold), centres, 84).max() < 0.5


def test_an_inactive_keypoint_reads_as_zeros_and_unseen_slots_are_nan() -> None:
    coords = np.array([[[0.5, -0.5], [0.1, 0.2]]] * 2)
    x = keypoint_features(coords, np.array([[0.9, 0.2], [0.2, 0.9]]))
    assert x.shape == (2, 7)
    assert x[0].tolist() == [0.5, -0.5, 1.0, 0.0, 0.0, 0.0, 1.0] and x[1].tolist() == [0.0, 0.0, 0.0, 0.1, 0.2, 1.0, 1.0]
    assert keypoint_features(np.full((1, 1, 2), np.nan), np.zeros((1, 1))).tolist() == [[0.0, 0.0, 0.0, 1.0]]
    centres, visible = _moving_object(30)
    visible = np.concatenate([visible, visible], axis=1)
    centres = np.concatenate([centres, centres], axis=1)
    visible[:, 1] = np.arange(30) < 10  # slot 1 only in fold 0: nothing to fit it on for fold 0, nothing to score in 1, 2
    visible[5, 0] = False
    pred = linear_readout(centres[:, :1], np.ones((30, 1)), centres, visible, np.arange(30) // 10)
    assert np.isnan(pred[5, 0]).all() and np.isfinite(np.delete(pred[:, 0], 5, axis=0)).all()
    assert np.isnan(pred[:, 1]).all()


def test_errors_are_in_pixels_of_each_axis() -> None:
    """(H, W) = (20, 40): a unit in x is 20 px, in y 10 px."""
    err = readout_errors(np.array([[[0.1, 0.0], [0.0, 0.1]]]), np.zeros((1, 2, 2)), (20, 40))
    assert err == pytest.approx(np.array([[2.0, 1.0]]))
    assert np.isnan(readout_errors(np.full((1, 1, 2), np.nan), np.zeros((1, 1, 2)), 84)).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(fold=np.zeros(10)), "at least two folds"),
    (dict(fold=np.zeros(9)), "fold"),
    (dict(ridge=-1.0), "ridge must be >= 0"),
    (dict(centres=np.zeros((10, 2))), "centres must be"),
    (dict(centres=np.full((10, 1, 2), np.nan)), "centres must be finite where visible"),
])
def test_bad_inputs_are_named(kwargs: dict, message: str) -> None:
    args = dict(coords=np.zeros((10, 2, 2)), status=np.ones((10, 2)), centres=np.zeros((10, 1, 2)),
                visible=np.ones((10, 1), bool), fold=np.arange(10) % 2)
    with pytest.raises(ValueError, match=message):
        linear_readout(**{**args, **kwargs})
    with pytest.raises(ValueError, match="coords must be"):
        keypoint_features(np.zeros((10, 2)), np.ones((10, 2)))
