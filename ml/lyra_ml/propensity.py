"""Category propensity: P(any purchase in group g within 30 days), 20 sigmoid outputs.

The label covers 30 days, so every snapshot as of cutoff - 31 days or earlier has complete
labels that end before the cut-off: the model trains on several of them stacked (a customer
appears once per snapshot). More rows, not fresher ones, is what helps: on a temporal
validation (cut-off 2026-07-03, before the committed models' cut-off) one snapshot as of
cutoff - 31 d scored NDCG@5 0.698, like one as of cutoff - 91 d, and four stacked 0.705.

Features: how often a customer bought in each group over the year (`purchases_<group>`)
predicts next month's groups better than where the money went (`share_<group>`, blurred by
ticket sizes): on validation, adding the purchase counts took NDCG@5 from 0.709 to 0.718, and
dropping the spend shares then lost nothing. Both sets are candidates, chosen on validation with
the first model candidate; the model candidates are then compared on the chosen set.

Candidates (chosen on a validation split of the training customers by NDCG@5): one
multi-label MLPClassifier, or one logistic regression per group. Baseline: popularity
(the base rate of each group over the same training rows, the same ranking for everyone).
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from . import metrics as M
from .data import Preprocessor, matrix, split_by_customer, stack
from .onnx_build import np_mlp, np_sigmoid

SEED = 30
LABEL_DAYS = 30


def fit_mlp(Z, Y, hidden, alpha, max_iter, seed):
    m = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", solver="adam", alpha=alpha,
                      batch_size=256, learning_rate_init=1e-3, max_iter=max_iter,
                      early_stopping=False, random_state=seed, tol=0.0, n_iter_no_change=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(Z, Y)
    return m.coefs_, m.intercepts_


def fit_logistic(Z, Y, C=1.0):
    W = np.zeros((Z.shape[1], Y.shape[1]))
    b = np.zeros(Y.shape[1])
    for j in range(Y.shape[1]):
        yj = Y[:, j]
        if yj.min() == yj.max():      # a group nobody (or everybody) bought: constant
            p = np.clip(yj.mean(), 1e-4, 1 - 1e-4)
            b[j] = np.log(p / (1 - p))
            continue
        lr = LogisticRegression(C=C, max_iter=500)
        lr.fit(Z, yj)
        W[:, j] = lr.coef_[0]
        b[j] = lr.intercept_[0]
    return [W], [b]


def rank_metrics(Y, S) -> dict:
    eps = 1e-7
    Sc = np.clip(S, eps, 1 - eps)
    ll = float(-np.mean(Y * np.log(Sc) + (1 - Y) * np.log(1 - Sc)))
    return {"ndcg_at_5": M.ndcg_at_k(Y, S, 5), "recall_at_5": M.recall_at_k(Y, S, 5), "log_loss": ll,
            "customers_with_purchase": int((Y.sum(1) > 0).sum())}


FEATURE_SETS = {
    "all customer features": lambda cols: cols,
    "purchases per group, not spend shares": lambda cols: [c for c in cols if not c.startswith("share_")],
}
MODELS = {
    "mlp_64_e20": lambda Z, Y: fit_mlp(Z, Y, (64,), 1e-3, 20, SEED),
    "mlp_128_e30": lambda Z, Y: fit_mlp(Z, Y, (128,), 1e-2, 30, SEED),
    "logistic_per_group": lambda Z, Y: fit_logistic(Z, Y),
}


def train(train_snaps, holdout_snap, log=print) -> dict:
    """train_snaps: the training snapshots (as of cutoff - 31 days or earlier)."""
    df, hd = stack(train_snaps, holdout_snap, LABEL_DAYS), holdout_snap.customers
    all_cols = train_snaps[0].customer_features
    groups = train_snaps[0].groups
    lab = [f"label_buy_{LABEL_DAYS}_{g}" for g in groups]
    Y = df[lab].to_numpy(float)
    fit_idx, val_idx = split_by_customer(df["customer_id"].to_numpy(), 0.2, SEED)
    validation, best = [], None

    def candidate(features, name, cols):
        X = matrix(df, cols)
        pp = Preprocessor.fit(X, cols)
        Z = pp.transform(X)
        coefs, inter = MODELS[name](Z[fit_idx], Y[fit_idx])
        v = rank_metrics(Y[val_idx], np_sigmoid(np_mlp(Z[val_idx], coefs, inter)))
        v.update({"candidate": name, "features": features, "columns": len(cols)})
        validation.append(v)
        log(f"  propensity {name} on {features} ({len(cols)}): val NDCG@5 {v['ndcg_at_5']:.4f} "
            f"recall@5 {v['recall_at_5']:.4f}")
        return v["ndcg_at_5"], (name, features, cols, pp, coefs, inter)

    first = next(iter(MODELS))
    for features, pick in FEATURE_SETS.items():
        score, fitted = candidate(features, first, pick(all_cols))
        if best is None or score > best[0]:
            best = (score, fitted)
    features, cols = best[1][1], best[1][2]
    for name in list(MODELS)[1:]:
        score, fitted = candidate(features, name, cols)
        if score > best[0]:
            best = (score, fitted)
    vpop = rank_metrics(Y[val_idx], np.tile(Y[fit_idx].mean(0), (len(val_idx), 1)))
    vpop.update({"candidate": "popularity", "features": "-", "columns": 0})
    validation.append(vpop)
    chosen, features, cols, pp, coefs, inter = best[1]
    log(f"  propensity: chose {chosen} on {features}")
    # ---- holdout ----
    Xh = matrix(hd, cols)
    Yh = hd[lab].to_numpy(float)
    Sh = np_sigmoid(np_mlp(pp.transform(Xh), coefs, inter))
    popularity = Y.mean(0)
    mm = rank_metrics(Yh, Sh)
    pop_scores = np.tile(popularity, (len(Yh), 1))
    bp = rank_metrics(Yh, pop_scores)
    rel = mm["ndcg_at_5"] / bp["ndcg_at_5"] - 1
    metrics = {"model": mm, "baselines": {"popularity": bp},
               "goals": [{"metric": "ndcg_at_5", "target": ">= 1.2 x popularity", "value": mm["ndcg_at_5"],
                          "baseline": bp["ndcg_at_5"], "relative": rel,
                          "interval": M.ratio_interval(M.ndcg_rows(Yh, Sh), M.ndcg_rows(Yh, pop_scores)),
                          "met": bool(rel >= 0.20)}],
               "validation": {"candidates": validation, "chosen": chosen, "features": features},
               "popularity_order": [groups[i] for i in np.argsort(-popularity, kind="stable")],
               "holdout_base_rates": dict(zip(groups, map(float, Yh.mean(0))))}
    return {"columns": cols, "groups": groups, "pp": pp, "coefs": coefs, "intercepts": inter,
            "metrics": metrics, "train_rows": len(df), "holdout_rows": len(hd), "holdout_X": Xh,
            "chosen": chosen, "features": features, "train_snapshots": [s.as_of.isoformat() for s in train_snaps]}
