import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lyra_ml.data import Snapshot
from lyra_ml.propensity import split_by_customer, stack


def snapshot(as_of: str, ids, features=("spend_365",)) -> Snapshot:
    df = pd.DataFrame({"customer_id": ids, **{f: np.arange(len(ids), dtype=float) for f in features},
                       "label_buy_30_groceries": 1.0})
    meta = {"as_of": as_of, "groups": ["groceries"], "customer_features": list(features)}
    return Snapshot(f"snap-{as_of}", meta, df, None)


def test_stack_keeps_one_row_per_snapshot_and_customer():
    holdout = snapshot("2026-08-03", [1, 2, 3])
    df = stack([snapshot("2026-05-04", [1, 2]), snapshot("2026-07-03", [1, 2, 3])], holdout)
    assert len(df) == 5 and sorted(df["customer_id"]) == [1, 1, 2, 2, 3]


def test_stack_refuses_labels_that_reach_into_the_holdout():
    holdout = snapshot("2026-08-03", [1])
    late = snapshot((dt.date(2026, 8, 3) - dt.timedelta(days=29)).isoformat(), [1])
    with pytest.raises(ValueError, match="reach past the cut-off 2026-08-03"):
        stack([snapshot("2026-05-04", [1]), late], holdout)
    stack([snapshot("2026-07-04", [1])], holdout)   # 30 days: ends the day before the cut-off


def test_stack_refuses_snapshots_with_other_columns():
    holdout = snapshot("2026-08-03", [1])
    with pytest.raises(ValueError, match="features or groups differ"):
        stack([snapshot("2026-05-04", [1]), snapshot("2026-06-04", [1], ("spend_90",))], holdout)


def test_split_by_customer_keeps_a_customer_on_one_side():
    ids = np.repeat(np.arange(500), 3)
    fit, valid = split_by_customer(ids, 0.2, 7)
    assert len(fit) + len(valid) == len(ids) and len(np.intersect1d(fit, valid)) == 0
    assert len(np.intersect1d(ids[fit], ids[valid])) == 0
    assert len(np.unique(ids[valid])) == 100
