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


def ndcg_rows(rel, scores, k: int = 5) -> np.ndarray:
    """NDCG@k of each row with at least one relevant item (binary relevance)."""
    rel = np.asarray(rel, float)
    keep = rel.sum(1) > 0
    rel, scores = rel[keep], np.asarray(scores, float)[keep]
    if len(rel) == 0:
        return np.zeros(0)
    top = _topk(scores, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (np.take_along_axis(rel, top, 1) * disc[: top.shape[1]]).sum(1)
    npos = np.minimum(rel.sum(1), k).astype(int)
    idcg = np.array([disc[:m].sum() for m in npos])
    return dcg / idcg


def ndcg_at_k(rel, scores, k: int = 5) -> float:
    """Mean NDCG@k over rows with at least one relevant item (binary relevance)."""
    r = ndcg_rows(rel, scores, k)
    return float(np.mean(r)) if len(r) else float("nan")


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


def ratio_interval(num, den, power: float = 1.0, level: float = 0.95, draws: int = 1000,
                   seed: int = 0) -> list[float]:
    """Paired bootstrap interval of (sum num / sum den) ** power - 1 over resampled units.

    num, den: each unit's additive share of the model's and the baseline's metric, e.g. squared
    errors per customer (power 0.5: the RMSE ratio), absolute errors summed per series (WAPE)
    or NDCG per customer. Units are resampled together, so the interval is that of the
    comparison, not of either metric. Deterministic for a seed.
    """
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = len(num)
    rng = np.random.default_rng(seed)
    stats = np.empty(draws)
    for i in range(draws):
        w = np.bincount(rng.integers(0, n, n), minlength=n)
        stats[i] = (w @ num / (w @ den)) ** power - 1
    a = (1 - level) / 2
    return [float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))]
