import math

import numpy as np
import pytest

from lyra_ml import metrics as M


def test_rmse_mae_total():
    y = [1.0, 2.0, 3.0, 4.0]
    p = [2.0, 2.0, 2.0, 2.0]
    assert M.rmse(y, p) == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert M.mae(y, p) == pytest.approx(1.0)
    assert M.total_error(y, p) == pytest.approx((8 - 10) / 10)


def test_top_decile_capture():
    y = np.arange(20, dtype=float)           # top 10% = 2 rows: 19 + 18 = 37
    p = y.copy()
    assert M.top_decile_capture(y, p) == pytest.approx(1.0)
    p2 = -y                                  # picks 0 and 1
    assert M.top_decile_capture(y, p2) == pytest.approx(1 / 37)


def test_ndcg_recall_hand_computed():
    rel = np.array([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0]], float)
    scores = np.array([[.9, .8, .7, .6, .5, .4], [1, 1, 1, 1, 1, 1], [.1, .2, .3, .4, .5, .6]])
    # row 0: hits at ranks 1 and 4 -> dcg = 1 + 1/log2(5); idcg = 1 + 1/log2(3)
    r0 = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    # row 2: item 1 has the 5th highest score -> rank 5 -> 1/log2(6)
    r2 = 1 / math.log2(6)
    assert M.ndcg_at_k(rel, scores, 5) == pytest.approx((r0 + r2) / 2)   # row 1 has no positive
    assert M.recall_at_k(rel, scores, 5) == pytest.approx((1.0 + 1.0) / 2)
    assert M.recall_at_k(rel, scores, 2) == pytest.approx((0.5 + 0.0) / 2)


def test_wape_mase_coverage():
    y = np.array([[10.0, 20.0], [0.0, 10.0]])
    p = np.array([[12.0, 18.0], [1.0, 10.0]])
    assert M.wape(y, p) == pytest.approx(5 / 40)
    assert M.mase(y, p, np.array([2.0, 0.0])) == pytest.approx(1.0)   # second series skipped (scale 0)
    assert M.coverage([1, 2, 3, 4], [0, 2.5, 3, 0], [2, 3, 3, 1]) == pytest.approx(0.5)


def test_naive_scale():
    h = np.arange(60, dtype=float)
    assert M.naive_scale(h, 52) == pytest.approx(52.0)
    assert M.naive_scale(np.array([1.0, 3.0, 2.0]), 52) == pytest.approx(1.5)
    assert M.naive_scale(np.array([5.0]), 52) == 0.0


def test_ratio_interval_is_the_paired_comparison():
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 10.0, 4000)
    base = y + rng.normal(0, 10, len(y))
    model = y + rng.normal(0, 8, len(y))          # true RMSE ratio 0.8
    lo, hi = M.ratio_interval((y - model) ** 2, (y - base) ** 2, power=0.5)
    point = M.rmse(y, model) / M.rmse(y, base) - 1
    assert lo < point < hi
    assert -0.25 < lo < hi < -0.15                # brackets -20%, and excludes 0
    assert M.ratio_interval((y - model) ** 2, (y - base) ** 2, power=0.5) == [lo, hi]   # deterministic
    # a model equal to the baseline: a zero-width interval at 0
    assert M.ratio_interval(np.ones(10), np.ones(10)) == [0.0, 0.0]
    # the rows of ndcg_rows average to ndcg_at_k
    rel = (rng.random((50, 6)) < 0.3).astype(float)
    sc = rng.random((50, 6))
    assert M.ndcg_rows(rel, sc).mean() == pytest.approx(M.ndcg_at_k(rel, sc))
