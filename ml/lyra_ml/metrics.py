"""Evaluation metrics (all plain numpy, tested in ml/tests/test_metrics.py)."""
from __future__ import annotations

import numpy as np


def rmse(y, p) -> float:
    y, p = np.asarray(y, float), np.asarray(p, float)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def mae(y, p) -> float:
    return float(np.mean(np.abs(np.asarray(y, float) - np.asarray(p, float))))


def top_decile_capture(y, p) -> float:
    """Share of the actual spend of the true top 10% captured by the predicted top 10%."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    k = max(1, int(np.ceil(0.1 * len(y))))
    pred_top = np.argsort(-p, kind="stable")[:k]
    true_top = np.sort(y)[::-1][:k]
    denom = true_top.sum()
    return float(y[pred_top].sum() / denom) if denom > 0 else float("nan")


def total_error(y, p) -> float:
    """Relative error of the portfolio total: (sum p - sum y) / sum y."""
    s = float(np.sum(y))
    return float((np.sum(p) - s) / s) if s != 0 else float("nan")


def coverage(y, lo, hi) -> float:
    y = np.asarray(y, float)
    return float(np.mean((y >= np.asarray(lo)) & (y <= np.asarray(hi))))


def _topk(scores, k):
    scores = np.asarray(scores, float)
    # stable ordering: higher score first, ties by column index
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def ndcg_at_k(rel, scores, k: int = 5) -> float:
    """Mean NDCG@k over rows with at least one relevant item (binary relevance)."""
    rel = np.asarray(rel, float)
    keep = rel.sum(1) > 0
    rel, scores = rel[keep], np.asarray(scores, float)[keep]
    if len(rel) == 0:
        return float("nan")
    top = _topk(scores, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (np.take_along_axis(rel, top, 1) * disc[: top.shape[1]]).sum(1)
    npos = np.minimum(rel.sum(1), k).astype(int)
    idcg = np.array([disc[:m].sum() for m in npos])
    return float(np.mean(dcg / idcg))


def recall_at_k(rel, scores, k: int = 5) -> float:
    """Mean over rows with >= 1 positive of (positives in the top k) / (positives)."""
    rel = np.asarray(rel, float)
    keep = rel.sum(1) > 0
    rel, scores = rel[keep], np.asarray(scores, float)[keep]
    if len(rel) == 0:
        return float("nan")
    top = _topk(scores, k)
    return float(np.mean(np.take_along_axis(rel, top, 1).sum(1) / rel.sum(1)))


def wape(y, p) -> float:
    y = np.asarray(y, float)
    d = np.abs(y).sum()
    return float(np.abs(y - np.asarray(p, float)).sum() / d) if d > 0 else float("nan")


def mase(y, p, scale) -> float:
    """Mean over series of |y - p| / scale (series with scale 0 are skipped).

    y, p: [series] or [series, horizons]; scale: [series] in-sample naive MAE.
    """
    y, p, s = np.asarray(y, float), np.asarray(p, float), np.asarray(scale, float)
    e = np.abs(y - p)
    if e.ndim == 2:
        e = e.mean(1)
    ok = s > 0
    return float(np.mean(e[ok] / s[ok])) if ok.any() else float("nan")


def naive_scale(history: np.ndarray, season: int = 52) -> float:
    """In-sample MAE of the seasonal naive (lag `season`), or of naive-1 if too short."""
    h = np.asarray(history, float)
    if len(h) > season:
        return float(np.mean(np.abs(h[season:] - h[:-season])))
    if len(h) > 1:
        return float(np.mean(np.abs(np.diff(h))))
    return 0.0
