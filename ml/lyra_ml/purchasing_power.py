"""Purchasing power: customer's card spend over the next 90 days (p10/p50/p90 and the mean).

An average of MLPs on sqrt(label_spend_90) (square root rather than log1p: the log target
makes the squared error of the big spenders, which dominate RMSE, explode when mapped back,
and it was clearly worse on validation); p10/p50/p90 = (prediction + residual quantiles)^2
with the quantiles taken on a validation split of the training rows (split conformal); the
mean averages (prediction + residual)^2 over MEAN_POINTS equally spaced residual quantiles
(Duan's smearing), times one least-squares factor fitted on the same validation rows: the
residuals are wider for big spenders than the one spread smearing assumes, which left the
mean 2-3% low in total on validation. The mean is the point forecast: it is what RMSE
rewards, and its sum over customers is their expected total, where the sum of medians falls
short (the total error of p50 is about -11%, spend being right-skewed).

The networks are small because model-svc must serve them at least as fast as ONNX Runtime
(PRODUCT.md section 8): three (32,) networks, averaged, run at 1.04-1.15 x ONNX Runtime at batch
1024, where the three (64, 32) served until session 12 ran at 0.78-0.81. Paired on the same
rows (session 12: ml/train's validation split and a window before the cut-off, two seed sets
each) the small ones were within 0.6% of the big ones' RMSE either way, +0.07% on average.
Baselines: BG/NBD x Gamma-Gamma (lifetimes) and a naive 365-day rate.

The training rows are the snapshot as of cut-off - 91 d and, where the data holds a whole
365-day history before them, those as of - 182, - 273 and - 364 d (`ml/train` exports them), stacked:
their 90-day labels then cover every season of a year. Trained on one window's labels, the
network carries that window's season into the next one (measured in session 10 on the
33-month demo bank, on windows before the cut-off: trained on February-May labels and scored
on May-August, it missed BG/NBD x GG by 6-9% in RMSE; with the four windows stacked, 2%).
"""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

from . import metrics as M
from .data import Preprocessor, matrix, split_by_customer, stack
from .nets import fit_average
from .onnx_build import np_mlp

SEED = 90
CONFIGS = [  # chosen on the validation split; only shapes tract serves >= ONNX Runtime (module doc)
    {"hidden_layer_sizes": (32,), "alpha": 1e-3},
    {"hidden_layer_sizes": (32,), "alpha": 1e-2},
    {"hidden_layer_sizes": (32,), "alpha": 1e-1},
]
ENSEMBLE = 3     # seeds averaged (merged into one wider MLP for ONNX)
QUANTILES = (0.1, 0.5, 0.9)
MEAN_POINTS = 29  # residual quantiles averaged for the mean; with the 3 above, a 32-wide row
MEAN = len(QUANTILES)  # the mean's column in the output, after the quantiles
HORIZON_DAYS = 90


def mean_offsets(residuals) -> np.ndarray:
    """MEAN_POINTS equally likely residuals: their quantiles at (k + 0.5) / MEAN_POINTS."""
    return np.quantile(residuals, (np.arange(MEAN_POINTS) + 0.5) / MEAN_POINTS)


def expectation(pred_sqrt, mean_off, scale: float = 1.0) -> np.ndarray:
    """E[spend] given the sqrt-space prediction: `scale` x the average of max(pred + e, 0)^2
    over the residuals e of `mean_offsets` (as the ONNX graph computes it)."""
    return scale * (np.maximum(np.asarray(pred_sqrt)[:, None] + np.asarray(mean_off)[None, :], 0.0) ** 2).mean(1)


def mean_scale(smeared, y) -> float:
    """The least-squares factor c of y ~ c x smeared (validation rows): the smearing estimate
    assumes one residual spread for every customer, and the big spenders' is wider."""
    smeared, y = np.asarray(smeared, float), np.asarray(y, float)
    return float(smeared @ y / max(smeared @ smeared, 1e-12))


def point_metrics(y, p) -> dict:
    return {"rmse": M.rmse(y, p), "mae": M.mae(y, p), "top_decile_capture": M.top_decile_capture(y, p),
            "total_error": M.total_error(y, p)}


def bgnbd_gg(train_df, test_df, log=print) -> np.ndarray:
    """Expected spend over HORIZON_DAYS: BG/NBD expected purchase days x Gamma-Gamma mean value."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    f = train_df["bg_frequency"].to_numpy(float)
    T = np.maximum(train_df["bg_age_days"].to_numpy(float), 1.0)
    r = np.clip(train_df["bg_recency_days"].to_numpy(float), 0.0, T)
    mon = train_df["bg_monetary"].to_numpy(float)
    bgf = ggf = None
    msgs = []
    quiet = contextlib.redirect_stdout(io.StringIO())   # lifetimes prints optimiser dumps
    with warnings.catch_warnings(), quiet:
        warnings.simplefilter("ignore")
        for pen in (0.0, 1e-3, 1e-2, 1e-1):
            try:
                bgf = BetaGeoFitter(penalizer_coef=pen).fit(f, r, T)
                bg_pen = pen
                break
            except Exception as e:  # convergence problems on odd data
                msgs.append(f"  BG/NBD fit with penalizer {pen} failed: {str(e).strip().splitlines()[-1]}")
        ggsel = (f > 0) & (mon > 0)
        for pen in (0.0, 1e-3, 1e-2, 1e-1):
            try:
                ggf = GammaGammaFitter(penalizer_coef=pen).fit(f[ggsel], mon[ggsel])
                gg_pen = pen
                break
            except Exception as e:
                msgs.append(f"  Gamma-Gamma fit with penalizer {pen} failed: {str(e).strip().splitlines()[-1]}")
    for msg in msgs:
        log(msg)
    if bgf is None or ggf is None:
        raise RuntimeError("BG/NBD or Gamma-Gamma did not converge on the training snapshot")
    ft = test_df["bg_frequency"].to_numpy(float)
    Tt = np.maximum(test_df["bg_age_days"].to_numpy(float), 1.0)
    rt = np.clip(test_df["bg_recency_days"].to_numpy(float), 0.0, Tt)
    mt = test_df["bg_monetary"].to_numpy(float)
    n = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON_DAYS, ft, rt, Tt)
    # Gamma-Gamma conditional mean; customers without repeat purchases get the population mean
    p, q, v = ggf.params_["p"], ggf.params_["q"], ggf.params_["v"]
    pop_mean = p * v / (q - 1)
    w = (p * ft) / (p * ft + q - 1)
    cond = np.where((ft > 0) & (mt > 0), (1 - w) * pop_mean + w * mt, pop_mean)
    return np.asarray(n * cond, float), {"bgnbd": {**{k: float(x) for k, x in bgf.params_.items()}, "penalizer": bg_pen},
                                         "gamma_gamma": {**{k: float(x) for k, x in ggf.params_.items()},
                                                         "penalizer": gg_pen}}


def split_half_noise(hd, y, bg_rmse) -> dict | None:
    """The RMS difference between the two halves of each customer's label window.

    If the halves are alike given the customer (same rate, same tickets), E[(a - b)^2] is the
    variance of the 90-day spend around the customer's expected spend: the error that remains
    for a forecast that knows the expected spend exactly. Lapses and seasonality inside the
    window make it an overestimate. None without `label_spend_45` in the snapshot.
    """
    if "label_spend_45" not in hd:
        return None
    a = hd["label_spend_45"].to_numpy(float)
    noise = float(np.sqrt(np.mean((a - (y - a)) ** 2)))
    goal = 0.9 * bg_rmse
    return {"split_half_rmse": noise, "goal_rmse": goal,
            # the share of BG/NBD's squared error above the noise that the goal asks to remove
            "reducible_share_to_remove": float((bg_rmse ** 2 - goal ** 2) / max(bg_rmse ** 2 - noise ** 2, 1e-9))}


def truth_oracle(ids, y, p50, bg, truth, cutoff, data_until) -> dict:
    """The generator's latent expected spend as a forecast: the error no model can go below.

    `truth` (customer_id, lapsed_on, expected_spend_90d_minor: the generator's `truth.customers`,
    which Lyra itself never reads) holds each customer's expected spend over the 90 days after
    the data ends, under the process that made the data, with the year's mean seasonality, and
    0 once lapsed. So it is the ideal forecast of a holdout that is the data's last 90 days, up
    to the season: one least-squares factor, fitted on the holdout (an oracle may). Customers
    who lapsed inside the holdout are left out of all three forecasts: truth has them at 0,
    and their expectation as of the cut-off is not in it. Returns {"skipped": why} where the
    truth does not fit the holdout.
    """
    if (data_until - cutoff).days >= HORIZON_DAYS:
        return {"skipped": f"the data runs to {data_until}, past the holdout's 90 days from {cutoff}: "
                           "the truth describes a later window"}
    t = pd.DataFrame({"customer_id": np.asarray(ids)}).merge(truth, on="customer_id", how="left")
    missing = int(t["expected_spend_90d_minor"].isna().sum())
    if missing:
        return {"skipped": f"{missing} holdout customers have no truth row"}
    expected = t["expected_spend_90d_minor"].to_numpy(float) / 100.0
    keep = ~(pd.to_datetime(t["lapsed_on"]) >= pd.Timestamp(cutoff)).to_numpy()
    y, p50, bg, expected = (np.asarray(a, float)[keep] for a in (y, p50, bg, expected))
    scale = float(expected @ y / (expected @ expected))
    oracle, model, base = M.rmse(y, scale * expected), M.rmse(y, p50), M.rmse(y, bg)
    return {"customers": int(keep.sum()), "lapsed_in_holdout": int((~keep).sum()), "season_factor": scale,
            "oracle_rmse": oracle, "model_rmse": model, "bgnbd_gg_rmse": base, "goal_rmse": 0.9 * base,
            "oracle_vs_bgnbd_gg": oracle / base - 1}


def naive_rate(df) -> np.ndarray:
    return df["spend_365"].to_numpy(float) * HORIZON_DAYS / 365.0


def train(train_snap, holdout_snap, log=print, earlier=()) -> dict:
    """`earlier`: further training snapshots (as of cut-off - 182, - 273, - 364 d), stacked
    with `train_snap`; the BG/NBD x GG baseline of the holdout stays fitted on `train_snap`."""
    snaps = sorted([train_snap, *earlier], key=lambda s: s.as_of)
    df, hd = stack(snaps, holdout_snap, HORIZON_DAYS), holdout_snap.customers
    snap_of = np.concatenate([np.full(len(s.customers), k) for k, s in enumerate(snaps)])
    # Not the per-group purchase counts: with them validation RMSE was 51,293 (50,919 without),
    # 53,226 with them instead of the spend shares; they help category propensity, not spend.
    cols = [c for c in train_snap.customer_features if not c.startswith("purchases_")]
    X = matrix(df, cols)
    y_raw = df["label_spend_90"].to_numpy(float)
    y = np.sqrt(np.maximum(y_raw, 0.0))          # variance-stabilised target (see module doc)
    fit_idx, val_idx = split_by_customer(df["customer_id"].to_numpy(), 0.2, SEED)
    pp = Preprocessor.fit(X[fit_idx], cols)
    Z = pp.transform(X)
    y_mean, y_scale = float(y[fit_idx].mean()), float(y[fit_idx].std() or 1.0)
    best, validation = None, []
    for ci, cfg in enumerate(CONFIGS):
        coefs, inter, epochs = fit_average(Z[fit_idx], (y[fit_idx] - y_mean) / y_scale, cfg,
                                           [SEED + 10 * ci + k for k in range(ENSEMBLE)])
        pv = np_mlp(Z[val_idx], coefs, inter)[:, 0] * y_scale + y_mean
        res = y[val_idx] - pv
        off, mean_off = np.quantile(res, QUANTILES), mean_offsets(res)
        smeared = expectation(pv, mean_off)
        scale = mean_scale(smeared, y_raw[val_idx])
        v = point_metrics(y_raw[val_idx], scale * smeared)
        v.update({"config": f"{cfg}, {ENSEMBLE} seeds averaged", "iterations": "/".join(map(str, epochs)),
                  "mean_scale": scale, "rmse_unscaled": M.rmse(y_raw[val_idx], smeared)})
        validation.append(v)
        log(f"  purchasing_power {cfg}: val RMSE {v['rmse']:.0f} (x {scale:.3f}; {v['rmse_unscaled']:.0f} unscaled)"
            f"  capture {v['top_decile_capture']:.3f}")
        if best is None or v["rmse"] < best[0]:
            best = (v["rmse"], cfg, coefs, inter, off, mean_off, scale)
    # baselines on the same validation rows: per snapshot, fitted on its fit part only
    bg_v = np.empty(len(val_idx))
    for k in range(len(snaps)):
        rows = snap_of[val_idx] == k
        bg_v[rows], _ = bgnbd_gg(df.iloc[fit_idx[snap_of[fit_idx] == k]], df.iloc[val_idx[rows]], log)
    validation.append({**point_metrics(y_raw[val_idx], bg_v), "config": "BG/NBD x Gamma-Gamma", "iterations": "-"})
    _, cfg, coefs, inter, offsets, mean_off, scale = best
    # ---- holdout ----
    Xh = matrix(hd, cols)
    yh = hd["label_spend_90"].to_numpy(float)
    ph = np_mlp(pp.transform(Xh), coefs, inter)[:, 0] * y_scale + y_mean
    P = np.column_stack([np.maximum(ph[:, None] + offsets[None, :], 0.0) ** 2, expectation(ph, mean_off, scale)])
    bg, bg_params = bgnbd_gg(train_snap.customers, hd, log)
    nv = naive_rate(hd)
    mm = point_metrics(yh, P[:, MEAN])
    mm["p50"] = point_metrics(yh, P[:, 1])
    mm["coverage_p10_p90"] = M.coverage(yh, P[:, 0], P[:, 2])
    base = {"bgnbd_gg": point_metrics(yh, bg), "naive_rate": point_metrics(yh, nv)}
    goal_v = mm["rmse"] / base["bgnbd_gg"]["rmse"] - 1
    noise = split_half_noise(hd, yh, base["bgnbd_gg"]["rmse"])
    metrics = {"model": mm, "baselines": base, "noise": noise,
               "goals": [{"metric": "rmse", "target": "<= 0.9 x bgnbd_gg", "value": mm["rmse"],
                          "baseline": base["bgnbd_gg"]["rmse"], "relative": goal_v,
                          "interval": M.ratio_interval((yh - P[:, MEAN]) ** 2, (yh - bg) ** 2, power=0.5),
                          "met": bool(goal_v <= -0.10)}],
               "validation": {"configs": validation, "residual_quantiles_sqrt": offsets.tolist(),
                              "mean_points": MEAN_POINTS, "mean_scale": scale,
                              "valid_rows": int(len(val_idx)), "fit_rows": int(len(fit_idx)), "chosen": str(cfg),
                              "snapshots": [s.as_of.isoformat() for s in snaps]},
               "baseline_params": bg_params}
    return {"columns": cols, "pp": pp, "coefs": coefs, "intercepts": inter, "link": "square",
            "y_mean": y_mean, "y_scale": y_scale, "offsets": offsets, "mean_offsets": mean_off, "mean_scale": scale,
            "metrics": metrics,
            "train_rows": len(df), "train_snapshots": [s.as_of.isoformat() for s in snaps],
            "holdout_rows": len(hd), "holdout_X": Xh, "holdout_pred": P,
            "holdout_ids": hd["customer_id"].to_numpy(), "holdout_y": yh, "holdout_bgnbd_gg": bg}
