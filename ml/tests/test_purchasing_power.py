import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lyra_ml.data import Snapshot
from lyra_ml.purchasing_power import (MEAN, expectation, mean_offsets, mean_scale, split_half_noise, train,
                                      truth_oracle)


def test_split_half_noise_by_hand():
    # halves (10, 30) and (20, 20): differences -20 and 0 -> RMS sqrt(200)
    hd = pd.DataFrame({"label_spend_45": [10.0, 20.0]})
    n = split_half_noise(hd, np.array([40.0, 40.0]), bg_rmse=100.0)
    assert np.isclose(n["split_half_rmse"], np.sqrt(200.0))
    assert np.isclose(n["goal_rmse"], 90.0)
    assert np.isclose(n["reducible_share_to_remove"], (100.0 ** 2 - 90.0 ** 2) / (100.0 ** 2 - 200.0))


def test_split_half_noise_needs_the_half_label():
    assert split_half_noise(pd.DataFrame({"x": [1.0]}), np.array([1.0]), 1.0) is None


def _truth_case():
    rng = np.random.default_rng(3)
    n = 3000
    expected = rng.gamma(1.5, 20000.0, n)               # the latent expected spend (RUB)
    y = 0.8 * expected * rng.gamma(4.0, 0.25, n)        # the holdout: a season factor 0.8, noise
    lapsed = np.array([None] * n, dtype=object)
    lapsed[:100] = "2026-09-01"                         # lapsed inside the holdout: truth has 0
    lapsed[100:200] = "2026-05-01"                      # lapsed before the cut-off: spend 0, truth 0
    exp_minor = np.round(expected * 100).astype(np.int64)
    exp_minor[:200] = 0
    y[100:200] = 0.0
    truth = pd.DataFrame({"customer_id": np.arange(n) + 10, "lapsed_on": lapsed,
                          "expected_spend_90d_minor": exp_minor})
    return truth, y


def test_truth_oracle_beats_what_it_should_and_leaves_out_lapses_in_the_holdout():
    truth, y = _truth_case()
    ids = truth["customer_id"].to_numpy()
    model = y.mean() * np.ones(len(y))                  # knows nothing
    o = truth_oracle(ids, y, model, model * 1.1, truth, dt.date(2026, 8, 3), dt.date(2026, 10, 31))
    assert o["customers"] == len(y) - 100 and o["lapsed_in_holdout"] == 100
    assert abs(o["season_factor"] - 0.8) < 0.03
    keep = np.arange(len(y)) >= 100
    assert np.isclose(o["model_rmse"], np.sqrt(np.mean((y[keep] - model[keep]) ** 2)))
    assert np.isclose(o["goal_rmse"], 0.9 * o["bgnbd_gg_rmse"])
    truth_rub = truth["expected_spend_90d_minor"].to_numpy() / 100.0
    assert np.isclose(o["oracle_rmse"], np.sqrt(np.mean((y[keep] - o["season_factor"] * truth_rub[keep]) ** 2)))
    assert o["oracle_rmse"] < 0.7 * o["model_rmse"]
    assert np.isclose(o["oracle_vs_bgnbd_gg"], o["oracle_rmse"] / o["bgnbd_gg_rmse"] - 1)


def test_truth_oracle_refuses_what_it_cannot_score():
    truth, y = _truth_case()
    ids = truth["customer_id"].to_numpy()
    # the data runs on past the holdout: truth describes a later window
    o = truth_oracle(ids, y, y, y, truth, dt.date(2026, 5, 4), dt.date(2026, 10, 31))
    assert "later window" in o["skipped"]
    # customers the generator did not make
    o = truth_oracle(ids + 5000, y, y, y, truth, dt.date(2026, 8, 3), dt.date(2026, 10, 31))
    assert o["skipped"] == "3000 holdout customers have no truth row"


def spend_snapshot(as_of: str, season: float, n: int = 500, seed: int = 0):
    """Customers buying at a gamma-distributed daily rate with a fixed ticket; their 90-day
    label is drawn with the window's `season` factor."""
    rng = np.random.default_rng(seed)
    rate, ticket = rng.gamma(2.0, 0.03, n), rng.gamma(4.0, 250.0, n)
    freq = rng.poisson(rate * 365).astype(float)
    df = pd.DataFrame({"customer_id": np.arange(n), "spend_365": freq * ticket, "bg_frequency": freq,
                       "bg_age_days": 365.0, "bg_recency_days": np.where(freq > 0, rng.uniform(200, 365, n), 0.0),
                       "bg_monetary": np.where(freq > 0, ticket, 0.0),
                       "label_spend_90": rng.poisson(rate * 90 * season) * ticket})
    meta = {"as_of": as_of, "groups": [], "customer_features": ["spend_365", "bg_frequency", "bg_recency_days"]}
    return Snapshot(f"snap-{as_of}", meta, df, None)


def test_stacked_windows_keep_one_window_s_season_out_of_the_forecast():
    holdout = spend_snapshot("2026-08-03", 1.0, seed=9)
    summer = spend_snapshot("2026-05-04", 2.0, seed=1)           # the latest window: a high season
    earlier = [spend_snapshot("2026-02-02", 0.5, seed=2), spend_snapshot("2025-11-03", 0.5, seed=3),
               spend_snapshot("2025-08-04", 1.0, seed=4)]
    quiet = lambda *_: None
    alone = train(summer, holdout, log=quiet)
    stacked = train(summer, holdout, log=quiet, earlier=earlier)
    assert alone["train_rows"] == 500 and stacked["train_rows"] == 2000
    assert stacked["train_snapshots"] == ["2025-08-04", "2025-11-03", "2026-02-02", "2026-05-04"]
    y = holdout.customers["label_spend_90"].sum()
    over_alone = alone["holdout_pred"][:, MEAN].sum() / y
    over_stacked = stacked["holdout_pred"][:, MEAN].sum() / y
    # Trained on the summer alone, the forecast carries its doubled spend into the next window.
    assert over_alone > 1.4 and over_stacked < 0.75 * over_alone, (over_alone, over_stacked)


def test_a_window_whose_labels_reach_the_holdout_is_refused():
    holdout = spend_snapshot("2026-08-03", 1.0)
    with pytest.raises(ValueError, match="90-day labels reach past the cut-off"):
        train(spend_snapshot("2026-05-04", 1.0), holdout, log=lambda *_: None,
              earlier=[spend_snapshot("2026-06-04", 1.0)])


def test_the_mean_of_a_skewed_spend_is_above_its_median_and_sums_to_the_total():
    # sqrt(spend) = t + e with a right-skewed e: the mean forecast is unbiased in total, the median is not
    rng = np.random.default_rng(5)
    t = rng.uniform(20.0, 200.0, 20000)
    e = rng.gamma(2.0, 15.0, t.size) - 30.0
    spend = np.maximum(t + e, 0) ** 2
    off = mean_offsets(e)
    mean = expectation(t, off)
    median = np.maximum(t + np.quantile(e, 0.5), 0) ** 2
    assert abs(mean.sum() / spend.sum() - 1) < 0.01
    assert median.sum() / spend.sum() - 1 < -0.02
    assert np.sqrt(np.mean((spend - mean) ** 2)) < np.sqrt(np.mean((spend - median) ** 2))


def test_the_mean_factor_lifts_smearing_where_big_spenders_vary_more():
    # sqrt(spend) = t + e with e's spread growing with t: one pooled spread (smearing) puts too
    # little of it on the big spenders, so the smeared mean is low where it matters most
    rng = np.random.default_rng(6)
    t = rng.gamma(1.5, 40.0, 40000)
    e = rng.normal(0.0, 5.0 + 0.4 * t)
    spend = np.maximum(t + e, 0) ** 2
    smeared = expectation(t, mean_offsets(e))
    c = mean_scale(smeared, spend)
    assert 1.02 < c < 1.5, c
    assert np.allclose(expectation(t, mean_offsets(e), c), c * smeared)
    rmse = lambda p: np.sqrt(np.mean((spend - p) ** 2))
    assert rmse(c * smeared) < rmse(smeared)
    # where the spread does not depend on t, smearing is right and the factor stays near 1
    e = rng.normal(0.0, 20.0, t.size)
    spend = np.maximum(t + e, 0) ** 2
    assert abs(mean_scale(expectation(t, mean_offsets(e)), spend) - 1) < 0.02
