import numpy as np

from lyra_ml.data import Preprocessor, sample_rows, split_indices
from lyra_ml.segmentation import K, NAMES, PROTOTYPES, name_clusters


def test_preprocessor_log_choice_and_inverse():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.gamma(1, 100, 500), rng.random(500), rng.normal(0, 1, 500)])
    pp = Preprocessor.fit(X, ["spend", "share", "trend"])
    assert pp.log_mask.tolist() == [True, False, False]
    Z = pp.transform(X)
    assert np.allclose(Z.mean(0), 0, atol=1e-9) and np.allclose(Z.std(0), 1)
    assert np.allclose(pp.inverse(Z), X)


def test_split_and_sample_deterministic():
    a = split_indices(100, 0.2, 3)
    b = split_indices(100, 0.2, 3)
    assert all((x == y).all() for x, y in zip(a, b))
    assert len(a[1]) == 20 and len(np.intersect1d(*a)) == 0
    assert sample_rows(1000).tolist() == sample_rows(1000).tolist() and len(sample_rows(1000)) == 16


def test_names_are_a_permutation_and_follow_rfm():
    import pandas as pd
    rng = np.random.default_rng(2)
    rows = []
    for k, (r, f, m, new) in enumerate(PROTOTYPES):
        n = 200
        rows.append(pd.DataFrame({
            "recency_days": np.quantile(np.arange(1, 366), 1 - r) + rng.normal(0, 1, n),
            "active_days_365": 1 + 200 * f + rng.normal(0, 1, n),
            "spend_365": 1000 + 1e5 * m + rng.normal(0, 10, n),
            "history_days": 365 * (1 - new) + rng.normal(0, 1, n),
            "true": k}))
    df = pd.concat(rows, ignore_index=True)
    labels = (df["true"].to_numpy() * 3) % K          # scrambled cluster ids
    perm, _, _ = name_clusters(df, labels)
    assert sorted(perm) == list(range(K))
    for i in range(K):                                 # NAMES[i] goes to the cluster built from prototype i
        assert perm[i] == (i * 3) % K, NAMES[i]
