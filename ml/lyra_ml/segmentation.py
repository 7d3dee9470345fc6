"""Customer segmentation: k-means (k=8) on scaled log RFM (+ optional behaviour features),
clusters named in RFM terms by a deterministic assignment (Hungarian on a score matrix)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from .data import Preprocessor, matrix

K = 8
SEED = 20260803
NAMES = ["Champions", "Loyal", "Potential loyalists", "New", "At risk", "Can't lose",
         "Hibernating", "Lost"]
# prototype of each name: (recency goodness, frequency, monetary, newness) as population
# percentiles of the cluster's centroid (recency goodness = 1 - percentile of recency_days)
PROTOTYPES = np.array([
    [0.90, 0.90, 0.90, 0.30],   # Champions: bought recently, often, much
    [0.65, 0.75, 0.70, 0.20],   # Loyal: frequent and valuable, a little less recent
    [0.80, 0.45, 0.45, 0.40],   # Potential loyalists: recent, average frequency/spend
    [0.80, 0.10, 0.15, 0.95],   # New: recent, few purchases, short history
    [0.35, 0.55, 0.55, 0.30],   # At risk: used to buy a fair amount, not lately
    [0.20, 0.80, 0.85, 0.10],   # Can't lose: were big customers, gone quiet
    [0.30, 0.25, 0.30, 0.40],   # Hibernating: low and fading
    [0.05, 0.08, 0.10, 0.50],   # Lost: long gone, little history
])
PROTO_WEIGHTS = np.array([1.0, 1.0, 1.0, 0.5])

RFM = ["recency_days", "active_days_365", "spend_365"]
# candidate feature sets: (name, {column: distance weight}); chosen on a validation check
BEHAVIOUR = {"avg_ticket_365": 0.5, "merchants_365": 0.5, "ecom_share_365": 0.5}
CANDIDATES = [
    ("rfm", {c: 1.0 for c in RFM}),
    ("rfm, recency x1.5", {**{c: 1.0 for c in RFM}, "recency_days": 1.5}),
    ("rfm+behaviour", {**{c: 1.0 for c in RFM}, **BEHAVIOUR}),
    ("rfm+behaviour, recency x1.5", {**{c: 1.0 for c in RFM}, "recency_days": 1.5, **BEHAVIOUR}),
    ("rfm+category_mix", {**{c: 1.0 for c in RFM}, "__shares__": 0.35}),
]
MIN_ARI = 0.85


def candidate_columns(spec: dict, available: list[str]) -> tuple[list[str], np.ndarray]:
    cols, w = [], []
    for c, wt in spec.items():
        if c == "__shares__":
            for s in available:
                if s.startswith("share_"):
                    cols.append(s)
                    w.append(wt)
        elif c in available:
            cols.append(c)
            w.append(wt)
    return cols, np.array(w)


def fit_kmeans(Z, seed, n_init=10):
    return KMeans(n_clusters=K, n_init=n_init, random_state=seed, algorithm="lloyd").fit(Z)


def bootstrap_ari(Z, ref_labels, n_boot: int, seed: int, n_init: int = 10, Z_eval=None) -> list[float]:
    """Refit k-means on bootstrap resamples of Z, label every point of Z_eval (default Z), ARI
    against the reference labels of Z_eval."""
    rng = np.random.default_rng(seed)
    Z_eval = Z if Z_eval is None else Z_eval
    out = []
    for b in range(n_boot):
        idx = rng.integers(0, len(Z), len(Z))
        km = fit_kmeans(Z[idx], seed + 1 + b, n_init)
        out.append(float(adjusted_rand_score(ref_labels, km.predict(Z_eval))))
    return out


def _pct(values, population):
    """mid-rank percentile (ties count half), so heavily tied values such as recency 1-3 days
    land in the middle of their tie block"""
    pop = np.sort(population)
    lo = np.searchsorted(pop, values, side="left")
    hi = np.searchsorted(pop, values, side="right")
    return (lo + hi) / 2 / len(pop)


def name_clusters(df, labels) -> tuple[list[int], np.ndarray]:
    """Return perm (perm[i] = cluster id that gets NAMES[i]) and the score matrix."""
    def col(c, alt):
        return df[c].to_numpy(float) if c in df else df[alt].to_numpy(float)
    r = df["recency_days"].to_numpy(float)
    f = col("active_days_365", "txns_365")
    m = df["spend_365"].to_numpy(float)
    n = col("history_days", "tenure_days")
    stats = np.zeros((K, 4))
    for k in range(K):
        sel = labels == k
        if not sel.any():
            stats[k] = [0.5, 0.5, 0.5, 0.5]
            continue
        stats[k] = [1 - _pct(np.median(r[sel]), r), _pct(np.median(f[sel]), f),
                    _pct(np.median(m[sel]), m), 1 - _pct(np.median(n[sel]), n)]
    cost = (((PROTOTYPES[:, None, :] - stats[None, :, :]) ** 2) * PROTO_WEIGHTS).sum(-1)  # [name, cluster]
    rows, cols = linear_sum_assignment(cost)
    perm = [int(c) for _, c in sorted(zip(rows, cols))]
    return perm, stats, float(cost[rows, cols].sum())


def describe(centroid_raw: dict, size_share: float) -> str:
    parts = [f"{size_share:.0%} of customers"]
    if "recency_days" in centroid_raw:
        parts.append(f"last purchase ~{centroid_raw['recency_days']:.0f} d ago")
    if "active_days_365" in centroid_raw:
        parts.append(f"~{centroid_raw['active_days_365']:.0f} purchase days/yr")
    if "spend_365" in centroid_raw:
        parts.append(f"~{centroid_raw['spend_365']:,.0f} RUB/yr")
    if "avg_ticket_365" in centroid_raw:
        parts.append(f"ticket ~{centroid_raw['avg_ticket_365']:,.0f} RUB")
    if "merchants_365" in centroid_raw:
        parts.append(f"~{centroid_raw['merchants_365']:.0f} merchants")
    shares = {k[6:]: v for k, v in centroid_raw.items() if k.startswith("share_")}
    if shares:
        top = sorted(shares.items(), key=lambda kv: -kv[1])[:2]
        parts.append("mostly " + ", ".join(f"{g} {v:.0%}" for g, v in top))
    return "; ".join(parts)


def train(train_snap, holdout_snap, n_boot_valid=10, n_boot_holdout=10, log=print) -> dict:
    df, hd = train_snap.customers, holdout_snap.customers
    feats = train_snap.customer_features
    # ---- choose the feature set on the training snapshot (bootstrap ARI + silhouette) ----
    validation = []
    for ci, (cname, spec) in enumerate(CANDIDATES):
        cols, w = candidate_columns(spec, feats)
        if not all(c in feats for c in RFM):
            raise ValueError(f"segmentation needs {RFM}")
        X = matrix(df, cols)
        pp = Preprocessor.fit(X, cols, w)
        Z = pp.transform(X)
        km = fit_kmeans(Z, SEED)
        aris = bootstrap_ari(Z, km.labels_, n_boot_valid, SEED + 100 * (ci + 1))
        sil = float(silhouette_score(Z, km.labels_, sample_size=min(10000, len(Z)), random_state=SEED))
        _, _, cost = name_clusters(df, km.labels_)
        validation.append({"features": cname, "columns": len(cols), "ari_mean": float(np.mean(aris)),
                           "ari_min": float(np.min(aris)), "silhouette": sil, "naming_cost": cost})
        log(f"  segmentation candidate {cname}: ARI mean {np.mean(aris):.3f} min {np.min(aris):.3f} "
            f"sil {sil:.3f} naming cost {cost:.3f}")
    # among the stable sets (min bootstrap ARI >= MIN_ARI) the one whose clusters the RFM names
    # describe best (lowest assignment cost); if none is stable, the most stable
    ok = [i for i, v in enumerate(validation) if v["ari_min"] >= MIN_ARI]
    chosen = (min(ok, key=lambda i: validation[i]["naming_cost"]) if ok
              else int(np.argmax([v["ari_min"] for v in validation])))
    cname, spec = CANDIDATES[chosen]
    cols, w = candidate_columns(spec, feats)
    log(f"  segmentation: chose {cname}")
    # ---- final fit on the whole training snapshot ----
    X = matrix(df, cols)
    pp = Preprocessor.fit(X, cols, w)
    Z = pp.transform(X)
    km = fit_kmeans(Z, SEED, n_init=20)
    perm, stats, _ = name_clusters(df, km.labels_)
    centers = km.cluster_centers_[perm]                       # id i <-> NAMES[i]
    train_labels = np.argsort(perm)[km.labels_]
    # ---- holdout: the same model on the customers as of the cut-off ----
    Xh = matrix(hd, cols)
    Zh = pp.transform(Xh)
    d2h = ((Zh[:, None, :] - centers[None]) ** 2).sum(-1)
    hl = d2h.argmin(1)
    sil_h = float(silhouette_score(Zh, hl, sample_size=min(10000, len(Zh)), random_state=SEED))
    # stability under resampling (the goal): k-means refitted on bootstrap resamples of the
    # training customers labels the holdout customers; ARI against the model's labels
    aris_h = bootstrap_ari(Z, hl, n_boot_holdout, SEED + 7, Z_eval=Zh)
    # drift (reported, no goal): refits on bootstrap resamples of the holdout customers themselves
    aris_drift = bootstrap_ari(Zh, hl, n_boot_holdout, SEED + 8)
    # naming stability: the names the rule gives to the holdout's own fit
    segments = []
    for i, name in enumerate(NAMES):
        raw = pp.inverse(centers[i:i + 1])[0]
        c = {col: round(float(v), 4) for col, v in zip(cols, raw)}
        share_tr = float(np.mean(train_labels == i))
        share_h = float(np.mean(hl == i))
        segments.append({"id": i, "name": name, "centroid": c,
                         "description": describe(c, share_tr),
                         "share_train": share_tr, "share_holdout": share_h,
                         "rfm_percentiles": {"recency_goodness": float(stats[perm[i]][0]),
                                             "frequency": float(stats[perm[i]][1]),
                                             "monetary": float(stats[perm[i]][2]),
                                             "newness": float(stats[perm[i]][3])}})
    metrics = {
        "model": {"silhouette": sil_h, "ari_bootstrap_mean": float(np.mean(aris_h)),
                  "ari_bootstrap_min": float(np.min(aris_h)), "n_bootstrap": n_boot_holdout,
                  "ari_holdout_refit_mean": float(np.mean(aris_drift)),
                  "ari_holdout_refit_min": float(np.min(aris_drift)),
                  "silhouette_train": float(silhouette_score(Z, train_labels, sample_size=min(10000, len(Z)), random_state=SEED))},
        "baselines": {},
        "goals": [{"metric": "ari_bootstrap_mean", "target": ">= 0.8", "value": float(np.mean(aris_h)),
                   "met": bool(np.mean(aris_h) >= 0.8)}],
        "validation": {"candidates": validation, "chosen": cname,
                       "rule": f"among feature sets whose min bootstrap ARI over {n_boot_valid} resamples of the "
                               f"training snapshot is >= {MIN_ARI}, "
                               "the one with the lowest naming cost (squared distance between the clusters' "
                               "R/F/M/newness percentiles and the name prototypes, summed over the assignment)"},
    }
    return {"columns": cols, "pp": pp, "centers": centers, "segments": segments, "metrics": metrics,
            "train_rows": len(df), "holdout_rows": len(hd), "holdout_X": Xh}
