"""Reading feature snapshots written by `lyra features export` (columns: pipeline/src/features.rs).

Nothing here knows about the synthetic generator: column lists come from snapshot.json
(falling back to "every non-key, non-label column"), and the log/linear choice of each
column is made from the training data.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

CUSTOMER_KEYS = ("customer_id",)
WEEK_KEYS = ("merchant_id", "category_group", "week_start")


@dataclass
class Snapshot:
    path: str
    meta: dict
    customers: pd.DataFrame
    merchant_weeks: pd.DataFrame | None

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(str(self.meta["as_of"])[:10])

    @property
    def data_until(self) -> dt.date:
        """The last day with transactions in the database the snapshot was exported from."""
        return dt.date.fromisoformat(str(self.meta["data_until"])[:10])

    @property
    def groups(self) -> list[str]:
        g = self.meta.get("groups")
        if g:
            return list(g)
        return [c[len("label_buy_30_"):] for c in self.customers.columns if c.startswith("label_buy_30_")]

    @property
    def customer_features(self) -> list[str]:
        names = self.meta.get("customer_features")
        if not names:
            names = [c for c in self.customers.columns
                     if c not in CUSTOMER_KEYS and not c.startswith("label_")]
        missing = [c for c in names if c not in self.customers.columns]
        if missing:
            raise ValueError(f"{self.path}: customer features listed but absent: {missing}")
        return list(names)

    @property
    def week_features(self) -> list[str]:
        if self.merchant_weeks is None:
            return []
        names = self.meta.get("merchant_week_features")
        if not names:
            names = [c for c in self.merchant_weeks.columns
                     if c not in WEEK_KEYS and not c.startswith("target_")]
        return list(names)

    def labels_complete(self) -> bool:
        return bool(self.meta.get("customer_labels_complete", True))


def load_snapshot(path: str, with_weeks: bool = True) -> Snapshot:
    with open(os.path.join(path, "snapshot.json")) as f:
        meta = json.load(f)
    cust = pd.read_parquet(os.path.join(path, "customers.parquet"))
    cust = cust.sort_values("customer_id", kind="stable").reset_index(drop=True)
    weeks = None
    wp = os.path.join(path, "merchant_weeks.parquet")
    if with_weeks and os.path.exists(wp):
        weeks = pd.read_parquet(wp)
        weeks["week_start"] = pd.to_datetime(weeks["week_start"]).dt.date
        weeks["category_group"] = weeks["category_group"].astype(str)
        weeks = weeks.sort_values(list(WEEK_KEYS), kind="stable").reset_index(drop=True)
    return Snapshot(path, meta, cust, weeks)


def matrix(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """Feature matrix as float64; NaN/inf (should not happen per the spec) become 0."""
    X = df[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(X)
    if bad.any():
        X = np.where(bad, 0.0, X)
    return X


@dataclass
class Preprocessor:
    """log1p on skewed non-negative columns, then standard scaling; folded into ONNX graphs."""
    columns: list[str]
    log_mask: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    rel: list | None = None     # [(base column, mask)]: log1p(x) - log1p(x[base]) on masked columns
    units: np.ndarray | None = None   # per-column divisors applied first
    zclip: float | None = None        # clip standardised values to [-zclip, zclip]

    @classmethod
    def fit(cls, X: np.ndarray, columns: list[str], weights: np.ndarray | None = None,
            rel: list | None = None, units: np.ndarray | None = None,
            zclip: float | None = None) -> "Preprocessor":
        from .onnx_build import np_transform
        X = np.asarray(X, dtype=np.float64)
        if units is not None:
            X = X / np.asarray(units, float)[None, :]
        lo = X.min(0)
        q99 = np.quantile(X, 0.99, axis=0)
        log_mask = (lo >= 0) & (q99 > 2.0)
        if rel:   # only log-transformed columns can be made relative; never the base itself
            rel = [(b, (np.asarray(m, bool) & log_mask & (np.arange(len(log_mask)) != b)).astype(float))
                   for b, m in rel]
        Z = np_transform(X, log_mask, rel)
        mean = Z.mean(0)
        scale = Z.std(0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        if weights is not None:           # a column weight w divides its scale: distance weight w
            scale = scale / np.asarray(weights, dtype=np.float64)
        return cls(list(columns), log_mask, mean, scale, rel,
                   None if units is None else np.asarray(units, float), zclip)

    @property
    def prep(self) -> dict:
        """keyword arguments for the ONNX builders / numpy references"""
        return {"rel": self.rel, "units": self.units, "zclip": self.zclip}

    def transform(self, X: np.ndarray) -> np.ndarray:
        from .onnx_build import np_preprocess
        return np_preprocess(X, self.log_mask, self.mean, self.scale, **self.prep)

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        X = np.asarray(Z) * self.scale + self.mean
        X[:, self.log_mask] = np.expm1(X[:, self.log_mask])
        return X


def split_indices(n: int, frac_valid: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of range(n) into (fit, valid)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    nv = int(round(n * frac_valid))
    return np.sort(perm[nv:]), np.sort(perm[:nv])


def stack(snaps, holdout_snap, label_days: int) -> pd.DataFrame:
    """The customers of every training snapshot, one row per (snapshot, customer); refuses a
    snapshot whose `label_days`-day labels reach into the holdout window or whose columns differ."""
    first = snaps[0]
    for s in snaps:
        if s.as_of + dt.timedelta(days=label_days) > holdout_snap.as_of:
            raise ValueError(f"{s.path}: as of {s.as_of}, its {label_days}-day labels reach past the "
                             f"cut-off {holdout_snap.as_of}")
        if s.customer_features != first.customer_features or s.groups != first.groups:
            raise ValueError(f"{s.path}: features or groups differ from {first.path}")
    return pd.concat([s.customers for s in snaps], ignore_index=True)


def split_by_customer(customer_ids, frac_valid: float, seed: int):
    """(fit, valid) row indices with every row of a customer on the same side (stacked
    snapshots hold a customer once per snapshot). With one row per customer, sorted by id as
    `load_snapshot` leaves them, it is `split_indices` itself."""
    ids = np.unique(customer_ids)
    _, vi = split_indices(len(ids), frac_valid, seed)
    valid = np.isin(customer_ids, ids[vi])
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def sample_rows(n: int, k: int = 16) -> np.ndarray:
    """k rows evenly spread over range(n) (deterministic)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))
