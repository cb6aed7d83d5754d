"""The identification probe's maths: ridge fit, pooled R², k-fold split, model errors."""

from __future__ import annotations

import pytest
import torch

from mier_pl.data.batch import TransitionBatch
from mier_pl.functional.probe import (
    context_stats,
    cross_validated_r2,
    kfold_indices,
    prediction_errors,
    probe_scores,
    r_squared,
    ridge_fit,
)
from mier_pl.nets.model import ContextModel

X4 = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
Y4 = torch.tensor([[0.0], [1.0], [1.0], [3.0]])


def test_hand_computed_least_squares_line_and_its_r2():
    # x̄ = 1.5, ȳ = 1.25, Sxy = 4.5, Sxx = 5: w = 0.9, b = 1.25 − 1.35 = −0.1; predictions
    # −0.1, 0.8, 1.7, 2.6, SSE = 0.70, SST = 4.75, R² = 1 − 0.70 / 4.75 = 81/95.
    fit = ridge_fit(X4, Y4, ridge=0.0)
    assert fit.weight.item() == pytest.approx(0.9) and fit.bias.item() == pytest.approx(-0.1)
    assert r_squared(fit(X4), Y4) == pytest.approx(81 / 95)


def test_ridge_is_relative_to_unit_feature_variance_and_spares_the_intercept():
    # Standardised, ZᵀZ = n, so (n + λn)·w_std = Sxy/σ: w = Sxy / (Sxx (1 + λ)) = 0.9 / 1.5.
    fit = ridge_fit(X4, Y4, ridge=0.5)
    assert fit.weight.item() == pytest.approx(0.6)
    assert fit.bias.item() == pytest.approx(1.25 - 1.5 * 0.6)  # through (x̄, ȳ)
    # ... whatever the feature's scale (φ_T sits in a ball of radius ~0.2): same predictions.
    small = ridge_fit(X4 * 1e-3, Y4, ridge=0.5)
    torch.testing.assert_close(small(X4 * 1e-3), fit(X4))


def test_a_known_linear_map_is_recovered_with_r2_one_on_noiseless_data():
    gen = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(60, 5, generator=gen)  # φ_T's scale
    true_w, true_b = torch.randn(5, 2, generator=gen), torch.tensor([0.3, -1.0])
    y = x @ true_w + true_b
    fit = ridge_fit(x, y, ridge=0.0)
    torch.testing.assert_close(fit.weight.float(), true_w, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fit.bias.float(), true_b, atol=1e-5, rtol=1e-5)
    assert cross_validated_r2(x, y, folds=5, ridge=0.0) == pytest.approx(1.0, abs=1e-10)
    scores = probe_scores(x[:40], y[:40], x[40:], y[40:])  # the default small ridge
    assert scores.train == pytest.approx(1.0, abs=1e-4)
    assert scores.test == pytest.approx(1.0, abs=1e-4)


def test_independent_noise_scores_about_zero_held_out():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(2000, 5, generator=gen), torch.randn(2000, 3, generator=gen)
    # Held out, a fit on noise scores about −d/n: nothing to read off, so about zero.
    assert cross_validated_r2(x, y, folds=5) == pytest.approx(0.0, abs=0.01)
    scores = probe_scores(x[:1000], y[:1000], x[1000:], y[1000:])
    assert scores.test == pytest.approx(0.0, abs=0.02)


def test_r2_is_pooled_over_dims_and_nan_for_constant_targets():
    target = torch.tensor([[0.0, 10.0], [2.0, 10.1]])  # SST: 2 + 0.005
    prediction = torch.tensor([[0.0, 10.1], [2.0, 10.0]])  # SSE: 0.02, all in dim 1
    assert r_squared(prediction, target) == pytest.approx(1 - 0.02 / 2.005)
    # A per-dim mean would read (1 + (1 − 0.02/0.005)) / 2 = −1: one quiet dim dominating.
    assert r_squared(target, target) == 1.0
    assert torch.isnan(torch.tensor(r_squared(prediction, torch.ones(2, 2))))


def test_a_constant_context_dim_neither_breaks_nor_helps_the_fit():
    x = torch.cat([X4, torch.full((4, 1), 0.7)], dim=1)  # a collapsed dimension
    fit = ridge_fit(x, Y4, ridge=0.0)
    torch.testing.assert_close(fit(x), ridge_fit(X4, Y4, ridge=0.0)(X4))


@pytest.mark.parametrize(("n", "k"), [(10, 5), (11, 5), (7, 7), (100, 5), (2, 2)])
def test_kfold_folds_are_disjoint_covering_and_balanced(n, k):
    folds = kfold_indices(n, k)
    assert len(folds) == k
    everything = torch.cat(folds)
    assert sorted(everything.tolist()) == list(range(n))  # covering, each index once
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    assert kfold_indices(10, 5)[0].tolist() == [0, 5]  # interleaved, no generator


def test_kfold_refuses_impossible_splits():
    with pytest.raises(ValueError, match="2 ≤ folds ≤ n"):
        kfold_indices(3, 5)


def test_cross_validation_scores_each_fold_with_a_fit_on_the_others():
    # y = x exactly except one outlier: held out, it is predicted by the line through the
    # other points (y = x), so the out-of-fold error is exactly its residual.
    x = torch.arange(6.0).unsqueeze(1)
    y = x.clone()
    y[5] = 7.0  # 2 above the line
    # Fold {2, 5} (k = 3: {0, 3}, {1, 4}, {2, 5}): fitted on 0, 1, 3, 4 (y = x): errors 0, 2.
    # The other folds see the outlier in their fit; the out-of-fold sum is checked by hand:
    sse = 0.0
    for held in kfold_indices(6, 3):
        keep = [i for i in range(6) if i not in held.tolist()]
        fit = ridge_fit(x[keep], y[keep], ridge=0.0)
        sse += float((fit(x[held]) - y[held].double()).square().sum())
    sst = float((y - y.mean()).square().sum())
    assert cross_validated_r2(x, y, folds=3, ridge=0.0) == pytest.approx(1 - sse / sst)
    fold = kfold_indices(6, 3)[2]
    fit = ridge_fit(x[[0, 1, 3, 4]], y[[0, 1, 3, 4]], ridge=0.0)
    torch.testing.assert_close(fit(x[fold]).float(), torch.tensor([[2.0], [5.0]]))


def test_too_few_tasks_give_nan_scores_not_errors():
    scores = probe_scores(X4[:2], Y4[:2], None, None)
    assert torch.isnan(torch.tensor(scores.train)) and torch.isnan(torch.tensor(scores.test))


def test_context_stats_on_a_hand_built_context():
    stats = context_stats(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert stats.norm_mean == pytest.approx(2.5) and stats.norm_max == pytest.approx(5.0)
    # per-dim std over the two tasks (unbiased): 3/√2 and 4/√2, mean 3.5/√2
    assert stats.spread == pytest.approx(3.5 / 2**0.5)


@pytest.mark.parametrize("separate", [False, True])
def test_prediction_errors_of_the_model_means(separate):
    torch.manual_seed(0)
    model = ContextModel(2, 1, 3, hidden=8, layers=1, separate=separate).double()
    obs = torch.randn(2, 4, 2, dtype=torch.float64)
    act = torch.rand(2, 4, 1, dtype=torch.float64)
    context = torch.randn(2, 3, dtype=torch.float64)
    reward, next_obs = model.predict_mean(obs, act, context)
    # A batch whose targets are the means plus known offsets: reward +1 in task 0 only, each
    # next-state coordinate +0.5 in task 1 only.
    rew = reward + torch.tensor([[1.0], [0.0]])
    nxt = next_obs + torch.tensor([0.0, 0.5]).view(2, 1, 1)
    zeros = torch.zeros(2, 4, dtype=torch.float64)
    batch = TransitionBatch(obs, act, rew, nxt, zeros, zeros)
    errors = prediction_errors(model, batch, context)
    torch.testing.assert_close(errors.reward, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(errors.state, torch.tensor([0.0, 0.25], dtype=torch.float64))
