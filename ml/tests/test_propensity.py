import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lyra_ml.data import Snapshot, split_by_customer, stack
from lyra_ml.propensity import FEATURE_SETS, LABEL_DAYS, MODELS, train


def snapshot(as_of: str, ids, features=("spend_365",)) -> Snapshot:
    df = pd.DataFrame({"customer_id": ids, **{f: np.arange(len(ids), dtype=float) for f in features},
                       "label_buy_30_groceries": 1.0})
    meta = {"as_of": as_of, "groups": ["groceries"], "customer_features": list(features)}
    return Snapshot(f"snap-{as_of}", meta, df, None)


def test_stack_keeps_one_row_per_snapshot_and_customer():
    holdout = snapshot("2026-08-03", [1, 2, 3])
    df = stack([snapshot("2026-05-04", [1, 2]), snapshot("2026-07-03", [1, 2, 3])], holdout, LABEL_DAYS)
    assert len(df) == 5 and sorted(df["customer_id"]) == [1, 1, 2, 2, 3]


def test_stack_refuses_labels_that_reach_into_the_holdout():
    holdout = snapshot("2026-08-03", [1])
    late = snapshot((dt.date(2026, 8, 3) - dt.timedelta(days=29)).isoformat(), [1])
    with pytest.raises(ValueError, match="reach past the cut-off 2026-08-03"):
        stack([snapshot("2026-05-04", [1]), late], holdout, LABEL_DAYS)
    stack([snapshot("2026-07-04", [1])], holdout, LABEL_DAYS)   # 30 days: ends the day before the cut-off


def test_stack_refuses_snapshots_with_other_columns():
    holdout = snapshot("2026-08-03", [1])
    with pytest.raises(ValueError, match="features or groups differ"):
        stack([snapshot("2026-05-04", [1]), snapshot("2026-06-04", [1], ("spend_90",))], holdout, LABEL_DAYS)


def test_split_by_customer_keeps_a_customer_on_one_side():
    ids = np.repeat(np.arange(500), 3)
    fit, valid = split_by_customer(ids, 0.2, 7)
    assert len(fit) + len(valid) == len(ids) and len(np.intersect1d(fit, valid)) == 0
    assert len(np.intersect1d(ids[fit], ids[valid])) == 0
    assert len(np.unique(ids[valid])) == 100


def test_train_serves_the_feature_set_that_won_on_validation():
    # Whether a customer buys in a group next month follows how often they bought there
    # (purchases_*); the spend shares are noise. The set with the best validation NDCG@5 (first
    # model candidate) must be the one chosen, and the model must be served with its columns.
    rng = np.random.default_rng(3)
    groups = ["groceries", "travel", "fuel", "books", "pets", "beauty", "hotels", "health"]
    features = ["spend_365"] + [f"share_{g}" for g in groups] + [f"purchases_{g}" for g in groups]

    def snap(as_of, n=1500):
        counts = rng.poisson(rng.gamma(1.0, 3.0, size=(n, len(groups))))
        share = rng.dirichlet(np.ones(len(groups)), size=n)
        df = pd.DataFrame({"customer_id": np.arange(n), "spend_365": rng.gamma(2.0, 1000.0, n),
                           **{f"share_{g}": share[:, i] for i, g in enumerate(groups)},
                           **{f"purchases_{g}": counts[:, i].astype(float) for i, g in enumerate(groups)},
                           **{f"label_buy_30_{g}": (rng.random(n) < 1 - np.exp(-0.2 * counts[:, i])).astype(float)
                              for i, g in enumerate(groups)}})
        return Snapshot(f"snap-{as_of}", {"as_of": as_of, "groups": groups, "customer_features": features}, df, None)

    r = train([snap("2026-06-03"), snap("2026-07-03")], snap("2026-08-03"), log=lambda *_: None)
    cands = r["metrics"]["validation"]["candidates"]
    first = [c for c in cands if c["candidate"] == next(iter(MODELS))]
    assert [c["features"] for c in first] == list(FEATURE_SETS)
    won = max(first, key=lambda c: c["ndcg_at_5"])["features"]
    assert r["features"] == won
    assert r["columns"] == FEATURE_SETS[won](features)
    assert r["holdout_X"].shape[1] == len(r["columns"]) == r["pp"].mean.shape[0]
    assert all(c["features"] == won for c in cands if c["candidate"] not in (next(iter(MODELS)), "popularity"))
    assert r["metrics"]["goals"][0]["relative"] > 0.05, "purchase counts beat popularity on the holdout"


def test_the_purchase_count_set_drops_the_spend_shares_only():
    cols = ["spend_365", "share_groceries", "purchases_groceries", "ecom_share_365"]
    assert FEATURE_SETS["purchases per group, not spend shares"](cols) == \
        ["spend_365", "purchases_groceries", "ecom_share_365"]
    assert FEATURE_SETS["all customer features"](cols) == cols
