"""Markdown reports under ml/reports/: every metric next to its baseline(s) and goal."""
from __future__ import annotations

import os


def f(v, nd=4):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if v != v:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def pct(v):
    return "n/a" if v is None or v != v else f"{v:+.1%}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def training_block(t):
    a = t["train_as_of"]
    snaps = f"snapshots as of {', '.join(a)}, stacked" if isinstance(a, list) else f"snapshot as of {a}"
    return (f"Cut-off {t['cutoff']}; training {snaps} ({t['train_rows']:,} rows); "
            f"holdout {t['holdout_from']} .. {t['holdout_to']} ({t['holdout_rows']:,} rows). Source: {t['source']}.\n")


def versus(g):
    """The goal's relative difference with its paired-bootstrap 95% interval, if any."""
    if "relative" not in g:
        return "–"
    if "interval" not in g:
        return pct(g["relative"])
    lo, hi = g["interval"]
    return f"{pct(g['relative'])} ({pct(lo)} .. {pct(hi)})"


INTERVAL_NOTE = ("\nIn brackets: the 95% interval of the difference over 1,000 paired bootstrap resamples of the "
                 "holdout's customers (series, for demand), resampled together for model and baseline. Where it "
                 "holds the goal's threshold, this holdout cannot tell whether the model meets the goal.\n")


def goal_lines(goals):
    rows = []
    for g in goals:
        rows.append([g["metric"], g["target"], f(g["value"]), f(g.get("baseline")), versus(g),
                     "met" if g["met"] else "**MISSED**"])
    note = INTERVAL_NOTE if any("interval" in g for g in goals) else ""
    return table(["goal metric", "target", "model", "baseline", "model vs baseline (95% interval)", "result"],
                 rows) + note


def _write(path, text):
    with open(path, "w") as fh:
        fh.write(text)


def write_segmentation(d, r, t):
    m = r["metrics"]
    mm = m["model"]
    s = ["# Segmentation\n", training_block(t),
         f"\nk-means, k = 8, on the columns `{', '.join(r['columns'])}` (log1p on skewed non-negative "
         "columns, standardised). Clusters named by a deterministic assignment (Hungarian) of the 8 RFM "
         "names to clusters by the population percentiles of each cluster's median recency, purchase "
         "days, spend and history length.\n\n## Metrics (holdout: customers as of the cut-off)\n\n",
         table(["metric", "model", "baseline", "goal", "met?"], [
             ["adjusted Rand index, bootstrap refits (mean)", f(mm["ari_bootstrap_mean"]), "–", ">= 0.8",
              f(mm["ari_bootstrap_mean"] >= 0.8)],
             ["adjusted Rand index, bootstrap refits (min)", f(mm["ari_bootstrap_min"]), "–", "–", "–"],
             ["ARI of refits on the holdout customers themselves (mean)", f(mm["ari_holdout_refit_mean"]), "–",
              "– (drift, no goal)", "–"],
             ["ARI of refits on the holdout customers themselves (min)", f(mm["ari_holdout_refit_min"]), "–", "–", "–"],
             ["silhouette (holdout, 10k sample)", f(mm["silhouette"]), "–", "–", "–"],
             ["silhouette (training)", f(mm["silhouette_train"]), "–", "–", "–"],
         ]),
         f"\nARI (the goal, stability under resampling): the trained model labels every holdout customer; k-means "
         f"is refitted on {mm['n_bootstrap']} bootstrap resamples of the training customers (same scaling, n_init "
         "10), each refit labels every holdout customer, and the ARI against the trained model's labels is taken. "
         "The second ARI refits on bootstrap resamples of the holdout customers instead: it also measures how far "
         "the customer base has moved between the two dates.\n",
         "\n## Segments\n\nEvery cluster gets exactly one of the eight names. Where the data has fewer lapsed "
         "groups than the names assume (here most customers bought within the last weeks), a name can only be "
         "approximate: read it together with the centroid.\n\n",
         table(["id", "name", "share (train)", "share (holdout)", "centroid", "R/F/M/new percentiles"],
               [[x["id"], x["name"], f"{x['share_train']:.1%}", f"{x['share_holdout']:.1%}", x["description"],
                 "/".join(f"{v:.2f}" for v in x["rfm_percentiles"].values())] for x in r["segments"]]),
         "\n## Feature-set choice (training snapshot only)\n\n",
         table(["features", "columns", "bootstrap ARI mean", "min", "silhouette", "naming cost"],
               [[c["features"], c["columns"], f(c["ari_mean"]), f(c["ari_min"]), f(c["silhouette"]),
                 f(c["naming_cost"])] for c in m["validation"]["candidates"]]),
         f"\nRule: {m['validation']['rule']}. Chosen: **{m['validation']['chosen']}**.\n",
         "\n## Goals\n\n", goal_lines(m["goals"])]
    _write(os.path.join(d, "segmentation.md"), "".join(s))


def _params(p):
    return ", ".join(f"{k} = {v:.4g}" for k, v in p.items())


def write_purchasing_power(d, r, t):
    m = r["metrics"]
    mm, bg, nv = m["model"], m["baselines"]["bgnbd_gg"], m["baselines"]["naive_rate"]
    v, med = m["validation"], m["model"]["p50"]
    rows = []
    for k, lab in (("rmse", "RMSE (RUB)"), ("mae", "MAE (RUB)"), ("top_decile_capture", "top-decile capture"),
                   ("total_error", "total error (sum pred / sum actual - 1)")):
        goal = {"rmse": "<= 0.9 x BG/NBD x GG"}.get(k, "–")
        met = f(mm["rmse"] <= 0.9 * bg["rmse"]) if k == "rmse" else "–"
        rows.append([lab, f(mm[k]), f(med[k]), f(bg[k]), f(nv[k]), goal, met])
    rows.append(["p10-p90 interval coverage", f(mm["coverage_p10_p90"]), "–", "–", "–", "~0.80", "–"])
    s = ["# Purchasing power (spend over the next 90 days)\n", training_block(t),
         "\nModel: an average of MLPs (merged into one network) on all customer features (log1p on skewed "
         "columns, standardised) predicting sqrt(label_spend_90); p10/p50/p90 = (prediction + the 10/50/90% "
         "quantiles of the residuals on a 20% validation split of the training customers)^2; the mean = the "
         f"average of (prediction + residual)^2 over {v['mean_points']} equally spaced residual quantiles "
         f"(Duan's smearing), times {v.get('mean_scale', 1.0):.4f}, the least-squares factor on the validation "
         "rows (the big spenders' residuals are wider than smearing's one spread). The point forecast scored "
         "below is the mean, like BG/NBD x Gamma-Gamma's; p50, a "
         "conditional median, is shown next to it: spend is right-skewed, so the median sits below the mean and "
         "its total error is negative by construction.\n"
         "\n## Metrics (holdout: spend in the 90 days after the cut-off)\n\n",
         table(["metric", "model (mean)", "model (p50)", "BG/NBD x Gamma-Gamma", "naive 365-day rate", "goal",
                "met?"], rows),
         "\nBG/NBD and Gamma-Gamma (`lifetimes`) are fitted on the latest training snapshot's bg_* columns "
         "(purchase days in the last 365 days) and predict expected purchase days x expected value per day "
         "over 90 days; naive rate = spend_365 x 90 / 365. Fitted parameters (the smallest penalizer that "
         f"converged): BG/NBD {_params(m['baseline_params']['bgnbd'])}; Gamma-Gamma "
         f"{_params(m['baseline_params']['gamma_gamma'])}.\n",
         noise_block(m.get("noise"), bg["rmse"]),
         truth_block(m.get("truth")),
         "\n## Validation (training snapshots only; BG/NBD x GG fitted per snapshot on its fit customers)\n\n",
         table(["config", "epochs", "mean factor", "RMSE", "RMSE unscaled", "MAE", "top-decile capture",
                "total error"],
               [[c["config"], c.get("iterations", "–"), f(c["mean_scale"]) if "mean_scale" in c else "–",
                 f(c["rmse"]), f(c["rmse_unscaled"]) if "rmse_unscaled" in c else "–", f(c["mae"]),
                 f(c["top_decile_capture"]), f(c["total_error"])] for c in v["configs"]]),
         f"\nChosen: {v['chosen']}. Residual quantiles in sqrt space (10/50/90%): "
         f"{', '.join(f'{q:.4f}' for q in v['residual_quantiles_sqrt'])} "
         f"({v['valid_rows']:,} validation rows).\n",
         "\n## Goals\n\n", goal_lines(m["goals"])]
    _write(os.path.join(d, "purchasing_power.md"), "".join(s))


def truth_block(o):
    """The purchasing-power forecast against the generator's truth (`purchasing_power.truth_oracle`)."""
    if not o:
        return ""
    head = "\n## Against the generator's truth\n\n"
    if "skipped" in o:
        return f"{head}Not measured: {o['skipped']}.\n"
    gap = -o["oracle_vs_bgnbd_gg"]
    verdict = (f"\nThe goal asks for {0.1 / gap:.0%} of the way from BG/NBD x Gamma-Gamma to knowing every "
               "customer's latent purchase rate, ticket size and lapse.\n" if gap > 0.1 else
               "\nThe goal lies below the oracle: no forecast can meet it on this data.\n")
    return (head + "The generated bank records each customer's expected spend under the process that made the "
            "data (`truth.customers`, which Lyra's services never read): the forecast no model can beat on average. Scaled by "
            f"one factor for the season ({o['season_factor']:.3f}, fitted on the holdout), on the "
            f"{o['customers']:,} holdout customers who did not lapse inside the window ({o['lapsed_in_holdout']:,} "
            "did; truth has them at 0):\n\n"
            + table(["forecast", "RMSE (RUB)", "vs BG/NBD x GG"],
                    [["the truth (oracle)", f(o["oracle_rmse"]), pct(o["oracle_vs_bgnbd_gg"])],
                     ["the goal: 0.9 x BG/NBD x GG", f(o["goal_rmse"]), pct(-0.1)],
                     ["model (mean)", f(o["model_rmse"]), pct(o["model_rmse"] / o["bgnbd_gg_rmse"] - 1)],
                     ["BG/NBD x Gamma-Gamma", f(o["bgnbd_gg_rmse"]), pct(0.0)]])
            + verdict)


def noise_block(n, bg_rmse):
    if not n:
        return ""
    return ("\n## How much error is left to remove\n\n"
            f"The two 45-day halves of each holdout customer's window differ by an RMS of "
            f"{n['split_half_rmse']:,.0f} RUB. If the halves are alike given the customer, that is the error a "
            "forecast knowing each customer's expected spend exactly would still make (lapses and seasonality "
            "inside the window make it an overestimate). Against BG/NBD x Gamma-Gamma's "
            f"{bg_rmse:,.0f}, the goal ({n['goal_rmse']:,.0f}) asks a model to remove "
            f"{n['reducible_share_to_remove']:.0%} of the squared error BG/NBD leaves above that noise.\n")


def write_propensity(d, r, t):
    m = r["metrics"]
    mm, bp = m["model"], m["baselines"]["popularity"]
    rows = [["NDCG@5", f(mm["ndcg_at_5"]), f(bp["ndcg_at_5"]), ">= 1.2 x popularity",
             f(mm["ndcg_at_5"] >= 1.2 * bp["ndcg_at_5"])],
            ["recall@5", f(mm["recall_at_5"]), f(bp["recall_at_5"]), "–", "–"],
            ["log loss (per customer x group)", f(mm["log_loss"]), f(bp["log_loss"]), "–", "–"]]
    s = ["# Category propensity (any purchase per group within 30 days)\n", training_block(t),
         f"\nModel: {r['chosen']} on {r['features']} ({len(r['columns'])} columns; both chosen by validation "
         "NDCG@5). Popularity baseline: "
         "the base rate of each group over the same training rows, the same ranking for every customer "
         f"({', '.join(m['popularity_order'][:5])}, ...). NDCG@5 and recall@5 are averaged over holdout "
         f"customers with at least one purchase in the 30 days ({mm['customers_with_purchase']:,}).\n",
         "\n## Metrics (holdout: the 30 days after the cut-off)\n\n",
         table(["metric", "model", "popularity", "goal", "met?"], rows),
         "\n## Validation (20% of the training customers, all their rows)\n\n",
         table(["candidate", "features", "NDCG@5", "recall@5", "log loss"],
               [[c["candidate"], c["features"], f(c["ndcg_at_5"]), f(c["recall_at_5"]), f(c["log_loss"])]
                for c in m["validation"]["candidates"]]),
         "\n## Goals\n\n", goal_lines(m["goals"])]
    _write(os.path.join(d, "category_propensity.md"), "".join(s))


def write_demand(d, r, t):
    m = r["metrics"]
    s = ["# Demand forecast (weekly revenue and transactions per merchant x category group)\n", training_block(t),
         "\nModel: " + ("one MLP" if m["validation"]["seeds"] == 1 else f"an average of {m['validation']['seeds']} MLPs")
         + " over the merchant-week features (log1p on skewed columns, standardised) predicting "
         "log1p(target) - log1p(level) for the 8 revenue and 8 transaction horizons (direct multi-horizon). "
         "p10/p50/p90 = expm1(prediction + per-horizon quantiles of the log residuals on a time-based validation "
         f"split: origins {m['validation']['valid_origins'][0]}..{m['validation']['valid_origins'][-1]}, model "
         f"fitted on origins up to {m['validation']['fit_origins_until']}); the final model is refitted on all "
         "training origins with the chosen configuration. The level is the 4-week mean or the exponentially "
         "smoothed level (simple exponential smoothing, α 0.3; rev_ses_30/txn_ses_30), chosen on validation: "
         f"here the **{m['validation']['level']}** ({', '.join(m['validation']['level_columns'])}). "
         "Holdout: each series' forecast from the last origin week (the week ending at the cut-off), horizons 1-8.\n\n"
         "Baselines: seasonal naive = the same week last year (rev_ly_h*/txn_ly_h*; the origin week's value "
         "where the series is younger than that); AutoETS = statsforecast AutoETS(season_length=52) fitted per "
         "series on its weekly history up to the origin, 80% interval from the model. "
         f"{m['baselines']['autoets']['note']}. MASE scales each series by its in-sample seasonal-naive MAE "
         "(naive-1 for series shorter than 53 weeks).\n"]
    for kind, lab in (("revenue", "Revenue"), ("transactions", "Transactions")):
        mo, sn, et = m["model"][kind], m["baselines"]["seasonal_naive"][kind], m["baselines"]["autoets"][kind]
        s.append(f"\n## {lab}\n\n")
        s.append(table(["metric", "model (p50)", "seasonal naive", "AutoETS", "goal", "met?"], [
            ["WAPE, h1-8 pooled", f(mo["wape"]), f(sn["wape"]), f(et["wape"]),
             "<= 0.85 x seasonal naive; <= AutoETS",
             f(mo["wape"] <= 0.85 * sn["wape"] and mo["wape"] <= et["wape"])],
            ["MASE, h1-8", f(mo["mase"]), f(sn["mase"]), f(et["mase"]), "–", "–"],
            ["80% interval coverage", f(mo["coverage_80"]), "–", f(et["coverage_80"]), "0.75 .. 0.85",
             f(0.75 <= mo["coverage_80"] <= 0.85)],
        ]))
        s.append("\n")
        s.append(table(["h", "WAPE model", "WAPE s-naive", "WAPE AutoETS", "MASE model", "MASE s-naive",
                        "MASE AutoETS", "coverage model", "coverage AutoETS"],
                       [[h + 1, f(mo["wape_by_h"][h]), f(sn["wape_by_h"][h]), f(et["wape_by_h"][h]),
                         f(mo["mase_by_h"][h]), f(sn["mase_by_h"][h]), f(et["mase_by_h"][h]),
                         f(mo["coverage_80_by_h"][h]), f(et["coverage_80_by_h"][h])] for h in range(8)]))
    v = m["validation"]
    s.append("\n## Validation (training origins only)\n\n")
    s.append("Each MLP's correction of the per-horizon mean log change is shrunk by a factor in "
             "{0, 0.25, 0.5, 0.75, 1}, separately for revenue and transactions, chosen on the validation origins "
             "(0 = the level times a per-horizon factor).\n\n")
    s.append(table(["level", "features", "config", "epochs", "WAPE rev (unshrunk)", "WAPE txn (unshrunk)", "shrink rev / txn",
                    "WAPE revenue", "WAPE transactions"],
                   [[c.get("level", "–"), c.get("features", "–"), c["config"], c.get("iterations", "–"), f(c.get("wape_rev_unshrunk")),
                     f(c.get("wape_txn_unshrunk")),
                     f"{c['shrink_rev']} / {c['shrink_txn']}" if "shrink_rev" in c else "–",
                     f(c["wape_rev"]), f(c["wape_txn"])] for c in v["configs"]]))
    s.append(f"\nChosen: level **{v['level']}**, features **{v['features']}**, {v['config']}, shrink revenue {v['shrink_rev']}, "
             f"transactions {v['shrink_txn']}. Unused columns: {', '.join(v['unused_columns']) or 'none'}. "
             f"Revenue is modelled in units of a typical ticket ({m['ticket']:,.0f} RUB, the median revenue per "
             "transaction of the training weeks).\n")
    secs = m["autoets_seconds"]
    s.append(f"\nAutoETS wall time: revenue {secs['rev']:.0f} s, transactions {secs['txn']:.0f} s (single thread).\n")
    s.append("\n## Goals\n\n")
    s.append(goal_lines(m["goals"]))
    _write(os.path.join(d, "demand_forecast.md"), "".join(s))


def trained(r) -> str:
    if r.get("seconds") is None:
        return f"not retrained in this run (cut-off {r['earlier_cutoff']})"
    return f"{r['seconds']:.0f} s"


def write_summary(d, results, sizes, notes, C, train_as_of):
    s = ["# Model training summary\n\n",
         f"Cut-off {C}; customer models trained on the snapshot as of {train_as_of} (category propensity, whose "
         "labels cover 30 days, on it and later and earlier ones stacked: see its report) and evaluated on the one "
         f"as of {C}; demand trained on origins whose target weeks end by {C} and evaluated on the origin week ending at "
         f"{C}. Every choice (features, configuration, interval offsets) was made on validation splits of the "
         "training data; the holdout was used for these numbers only.\n\n"]
    rows = []
    for name, (r, _) in results.items():
        for g in r["metrics"]["goals"]:
            rows.append([name, g["metric"], g["target"], f(g["value"]), f(g.get("baseline")), versus(g),
                         "met" if g["met"] else "**MISSED**"])
    s.append(table(["model", "metric", "goal", "model", "baseline", "vs baseline (95% interval)", "result"], rows))
    s.append(INTERVAL_NOTE)
    s.append("\n")
    s.append(table(["model", "report", "model.onnx", "training time"],
                   [[n, f"[{n}.md]({n}.md)", f"{sizes.get(n, 0) / 1024:.0f} KiB", trained(r)]
                    for n, (r, _) in results.items()]))
    if notes:
        s.append("\nNotes:\n\n" + "".join(f"- {n}\n" for n in notes))
    _write(os.path.join(d, "summary.md"), "".join(s))
