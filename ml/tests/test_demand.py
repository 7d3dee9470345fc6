import datetime as dt

import numpy as np
import pandas as pd

from lyra_ml import demand
from lyra_ml.data import Snapshot

H = demand.H


def smoothed(x: np.ndarray, alpha: float = 0.3) -> np.ndarray:
    """the pipeline's *_ses_30 columns: started at the first week, updated once a week"""
    out, level = np.empty_like(x), x[0]
    for i, v in enumerate(x):
        level = v if i == 0 else level + alpha * (v - level)
        out[i] = level
    return out


def weeks_snapshot(series: dict[int, np.ndarray], as_of: dt.date) -> Snapshot:
    """a merchant-week snapshot with the level columns and targets, the transactions given per
    series and revenue at 100 roubles a transaction"""
    first = as_of - dt.timedelta(days=as_of.weekday()) - dt.timedelta(weeks=len(next(iter(series.values()))))
    rows = []
    for mid, txns in series.items():
        rev = 100.0 * txns
        m4 = {k: pd.Series(v).rolling(4, min_periods=1).mean().to_numpy() for k, v in (("rev", rev), ("txn", txns))}
        for t in range(len(txns)):
            row = {"merchant_id": mid, "category_group": "groceries", "week_start": first + dt.timedelta(weeks=t),
                   "revenue": rev[t], "txns": txns[t], "rev_mean_4": m4["rev"][t], "txn_mean_4": m4["txn"][t],
                   "rev_ses_30": smoothed(rev)[t], "txn_ses_30": smoothed(txns)[t], "weeks_active": t + 1.0}
            for h in range(1, H + 1):
                known = t + h < len(txns)
                row[f"target_rev_h{h}"] = rev[t + h] if known else np.nan
                row[f"target_txn_h{h}"] = txns[t + h] if known else np.nan
                row[f"rev_ly_h{h}"] = rev[t + h - 52] if t + h >= 52 else 0.0
                row[f"txn_ly_h{h}"] = txns[t + h - 52] if t + h >= 52 else 0.0
            rows.append(row)
    df = pd.DataFrame(rows)
    features = ["revenue", "txns", "rev_mean_4", "txn_mean_4", "rev_ses_30", "txn_ses_30", "weeks_active"]
    features += [f"{k}_ly_h{h}" for k in ("rev", "txn") for h in range(1, H + 1)]
    return Snapshot("weeks", {"as_of": as_of.isoformat(), "merchant_week_features": features}, pd.DataFrame(), df)


def test_the_level_that_wins_on_validation_is_the_one_served():
    # Steady series with Poisson noise: the smoothed level (variance factor α / (2 - α) = 0.18)
    # is a better level than the 4-week mean (0.25), so validation must choose it.
    rng = np.random.default_rng(3)
    series = {m: rng.poisson(rng.uniform(5, 60), 60).astype(float) for m in range(40)}
    snap = weeks_snapshot(series, dt.date(2026, 8, 3))
    out = demand.train(snap, log=lambda *_: None)
    validation = out["metrics"]["validation"]
    fitted = [v for v in validation["configs"] if "shrink_rev" in v]
    assert {v["level"] for v in fitted} == {name for name, _ in demand.LEVELS}
    alone = {v["level"]: v["wape_txn"] for v in validation["configs"] if v["config"] == "the level alone"}
    assert alone["smoothed level"] < alone["4-week mean"]
    best = min(fitted, key=lambda v: v["wape_rev"] + v["wape_txn"])
    assert best["level"] == validation["level"] == "smoothed level"
    # the served graph is relative to those columns
    assert [out["columns"][i] for i in out["base_cols"]] == ["rev_ses_30", "txn_ses_30"]


def test_without_the_level_columns_the_last_week_is_the_level():
    rng = np.random.default_rng(4)
    series = {m: rng.poisson(20, 40).astype(float) for m in range(10)}
    snap = weeks_snapshot(series, dt.date(2026, 8, 3))
    snap.merchant_weeks = snap.merchant_weeks.drop(columns=["rev_ses_30", "txn_ses_30", "rev_mean_4", "txn_mean_4"])
    snap.meta["merchant_week_features"] = [c for c in snap.meta["merchant_week_features"]
                                           if c in snap.merchant_weeks.columns]
    out = demand.train(snap, log=lambda *_: None, validate_only=True)
    assert {v["level"] for v in out["validation"] if "shrink_rev" in v} == {"last week"}


def test_too_short_a_history_is_refused_with_what_it_needs():
    # 20 weeks of data from 16 March: 12 origins have their 8 target weeks before the cut-off
    # (the week of 3 August), 18 are needed
    rng = np.random.default_rng(4)
    snap = weeks_snapshot({m: rng.poisson(20, 20).astype(float) for m in range(5)}, dt.date(2026, 8, 3))
    try:
        demand.train(snap, log=lambda *_: None)
    except ValueError as e:
        message = str(e)
    else:
        raise AssertionError("a 20-week history trained")
    need = demand.MIN_FIT_ORIGINS + H + demand.VALID_ORIGINS
    assert "give 12 training origins" in message and f"training needs {need}" in message, message
    assert f"at least {need + H} weeks after 2026-03-16" in message, message
