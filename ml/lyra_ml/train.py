"""The one training entry point: python -m lyra_ml.train --train DIR --holdout DIR --out ml/models --reports ml/reports"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import contextlib
import os
import shutil
import sys
import tempfile
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import pandas as pd  # noqa: E402

from . import demand, onnx_build as ob, propensity, purchasing_power, report, segmentation  # noqa: E402
from .data import load_snapshot, sample_rows  # noqa: E402

TOLERANCE = {"abs": 1e-3, "rel": 1e-4}
MODELS = ("segmentation", "purchasing_power", "category_propensity", "demand_forecast")
DESCRIPTIONS = {
    "segmentation": "Customer segment: k-means (k=8) on scaled (log1p where skewed) features, clusters named in "
                    "RFM terms; distance = Euclidean distance to each segment centroid in the scaled space.",
    "purchasing_power": "Customer's total card spend over the next 90 days in roubles (p10/p50/p90 and the mean): "
                        "average of MLPs on sqrt(spend) with split-conformal residual quantiles (p50 is the "
                        "conditional median; the mean, Duan's smearing over the residuals, is the point forecast).",
    "category_propensity": "Probability that the customer buys in each category group within the next 30 days.",
    "demand_forecast": "Weekly revenue (roubles) and transactions of a merchant x category group series, "
                       "1-8 weeks after the origin week, p10/p50/p90 (80% interval).",
}


def log(msg):
    print(msg, flush=True)


def _round(o):
    if isinstance(o, dict):
        return {k: _round(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_round(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return None if not np.isfinite(o) else round(float(o), 6)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def write_model(out_dir, name, model, X_hold, expected, contract, rows=16):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    idx = sample_rows(len(X_hold), rows)
    Xs = np.asarray(X_hold, dtype=np.float32)
    # full-holdout check against the numpy reference, then the sample from onnxruntime
    ob.check(model, Xs, expected)
    got = ob.run(model, Xs[idx])
    sample = {"input": [[float(v) for v in r] for r in Xs[idx]],
              "outputs": {k: v.tolist() for k, v in got.items()}}
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "contract.json"), "w") as f:
        json.dump(_round(contract), f, indent=2, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(d, "sample.json"), "w") as f:
        json.dump(sample, f)
        f.write("\n")
    size = os.path.getsize(os.path.join(d, "model.onnx"))
    log(f"  wrote {d} (model.onnx {size / 1024:.0f} KiB)")
    return size


def contract(name, columns, outputs, training, metrics, **extra):
    c = {"name": name, "description": DESCRIPTIONS[name],
         "input": {"name": "features", "dtype": "float32", "columns": list(columns)},
         "outputs": outputs, "nan_allowed": [], "tolerance": TOLERANCE, "training": training,
         "metrics": {k: metrics[k] for k in ("model", "baselines", "goals")}}
    c.update(extra)
    return c


def earlier_results(out_dir: str, names) -> tuple[dict, dict]:
    """The metrics and model sizes of models this run did not train, from what an earlier run
    wrote to `out_dir` (contract.json, model.onnx); absent models are left out."""
    results, sizes = {}, {}
    for name in names:
        d = os.path.join(out_dir, name)
        try:
            with open(os.path.join(d, "contract.json")) as fh:
                c = json.load(fh)
            sizes[name] = os.path.getsize(os.path.join(d, "model.onnx"))
        except FileNotFoundError:
            continue
        results[name] = ({"metrics": c["metrics"], "seconds": None, "earlier_cutoff": c["training"]["cutoff"]},
                         c["training"])
    return results, sizes


def days(d, n):
    return (d + dt.timedelta(days=n)).isoformat()


@contextlib.contextmanager
def staged(target: str):
    """A scratch directory next to `target` whose entries replace `target`'s of the same name
    when the block succeeds; on an error it is deleted and `target` is left as it was."""
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".lyra-train-", dir=parent)
    try:
        yield scratch
        os.makedirs(target, exist_ok=True)
        for entry in sorted(os.listdir(scratch)):
            dest = os.path.join(target, entry)
            if os.path.isdir(dest):
                shutil.rmtree(dest)
            os.replace(os.path.join(scratch, entry), dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", required=True, help="snapshot exported as of cutoff - 91 days")
    ap.add_argument("--holdout", required=True, help="snapshot exported as of the cutoff")
    ap.add_argument("--propensity-train", nargs="*", default=[],
                    help="more snapshots for category propensity, as of cutoff - 31 days or earlier "
                         "(its labels cover 30 days); stacked with --train")
    ap.add_argument("--purchasing-power-train", nargs="*", default=[],
                    help="more snapshots for purchasing power, as of cutoff - 182, - 273 and - 364 days "
                         "(its labels cover 90 days); stacked with --train")
    ap.add_argument("--out", default="ml/models")
    ap.add_argument("--reports", default="ml/reports")
    ap.add_argument("--truth", default=None,
                    help="the generator's truth.customers as CSV (customer_id, lapsed_on, "
                         "expected_spend_90d_minor), if the data is generated: the purchasing-power report "
                         "then scores it as an oracle. Never used for training or choices")
    ap.add_argument("--only", nargs="*", default=None, choices=MODELS,
                    help="train only these models (default all four); the summary keeps the others' results "
                         "from their contracts in --out")
    a = ap.parse_args(argv)
    t_all = time.time()
    tr = load_snapshot(a.train, with_weeks=False)
    ho = load_snapshot(a.holdout)
    C = ho.as_of
    notes = []
    if (C - tr.as_of).days != 91:
        notes.append(f"train snapshot as_of {tr.as_of} is not cutoff - 91 days ({C - dt.timedelta(days=91)})")
    if not tr.labels_complete():
        raise SystemExit(f"{a.train}: customer labels incomplete; cannot train customer models")
    if not ho.labels_complete():
        notes.append(f"{a.holdout}: customer labels incomplete (data ends before cutoff + 90 days): "
                     "holdout metrics of the customer models are not meaningful")
    for n in notes:
        log("NOTE: " + n)
    log(f"cutoff {C}; train snapshot as of {tr.as_of}: {len(tr.customers)} customers; "
        f"holdout snapshot: {len(ho.customers)} customers, "
        f"{0 if ho.merchant_weeks is None else len(ho.merchant_weeks)} merchant-week rows")
    want = a.only or list(MODELS)
    src = f"snapshots as_of {tr.as_of} (train) and as_of {C} (holdout)"
    if "demand_forecast" in want:
        try:
            demand.split(ho)
        except ValueError as e:
            raise SystemExit(f"ml/train: {e}")
    # Models and reports are written to scratch directories and moved into place at the end:
    # a run that fails half-way leaves the previous ones as they were.
    with staged(a.out) as out, staged(a.reports) as reports:
        results = {}
        sizes = {}

        def finish(name, r, training, outs, model, expected, write_report, t0, **extra):
            """contract, model files and report of a trained model"""
            c = contract(name, r["columns"], outs, training, r["metrics"], **extra)
            sizes[name] = write_model(out, name, model, r["holdout_X"], expected, c)
            r["seconds"] = time.time() - t0
            results[name] = (r, training)
            write_report(reports, r, training)

        if "segmentation" in want:
            t0 = time.time()
            log("segmentation")
            r = segmentation.train(tr, ho, log=log)
            pp = r["pp"]
            m = ob.kmeans_graph(len(r["columns"]), pp.log_mask, pp.mean, pp.scale, r["centers"], segmentation.NAMES)
            seg, dist = ob.np_kmeans(r["holdout_X"].astype(np.float32), pp.log_mask, pp.mean, pp.scale, r["centers"])
            training = {"cutoff": C.isoformat(), "train_as_of": tr.as_of.isoformat(), "holdout_from": C.isoformat(),
                        "holdout_to": C.isoformat(), "train_rows": r["train_rows"], "holdout_rows": r["holdout_rows"],
                        "source": src}
            outs = [{"name": "segment", "dtype": "int64", "columns": ["segment"]},
                    {"name": "distance", "dtype": "float32", "columns": list(segmentation.NAMES)}]
            segs = [{"id": s["id"], "name": s["name"], "centroid": s["centroid"]} for s in r["segments"]]
            finish("segmentation", r, training, outs, m, {"segment": seg, "distance": dist}, report.write_segmentation, t0, segments=segs)

        if "purchasing_power" in want:
            t0 = time.time()
            log("purchasing_power")
            earlier = [load_snapshot(p, with_weeks=False) for p in a.purchasing_power_train]
            r = purchasing_power.train(tr, ho, log=log, earlier=earlier)
            if a.truth:
                r["metrics"]["truth"] = purchasing_power.truth_oracle(
                    r["holdout_ids"], r["holdout_y"], r["holdout_pred"][:, purchasing_power.MEAN], r["holdout_bgnbd_gg"],
                    pd.read_csv(a.truth), C, ho.data_until)
                log(f"  purchasing_power against the truth: {r['metrics']['truth']}")
            pp = r["pp"]
            args = (pp.log_mask, pp.mean, pp.scale, r["coefs"], r["intercepts"], r["y_mean"], r["y_scale"], r["offsets"])
            kw = {"link": r["link"], "mean_offsets": r["mean_offsets"], "mean_scale": r["mean_scale"], **pp.prep}
            m = ob.quantile_regressor_graph(len(r["columns"]), *args, **kw)
            exp = ob.np_quantile_regressor(r["holdout_X"].astype(np.float32), *args, **kw)
            stacked = r["train_snapshots"]
            training = {"cutoff": C.isoformat(), "train_as_of": stacked if len(stacked) > 1 else tr.as_of.isoformat(),
                        "holdout_from": C.isoformat(), "holdout_to": days(C, 90), "train_rows": r["train_rows"],
                        "holdout_rows": r["holdout_rows"],
                        "source": src if len(stacked) == 1 else
                        f"snapshots as_of {', '.join(stacked)} (train, stacked) and as_of {C} (holdout)"}
            outs = [{"name": "spend_90d", "dtype": "float32", "columns": ["p10", "p50", "p90", "mean"]}]
            finish("purchasing_power", r, training, outs, m, {"spend_90d": exp}, report.write_purchasing_power, t0)

        if "category_propensity" in want:
            t0 = time.time()
            log("category_propensity")
            snaps = sorted([tr] + [load_snapshot(p, with_weeks=False) for p in a.propensity_train],
                           key=lambda s: s.as_of)
            r = propensity.train(snaps, ho, log=log)
            pp = r["pp"]
            m = ob.classifier_graph(len(r["columns"]), pp.log_mask, pp.mean, pp.scale, r["coefs"], r["intercepts"],
                                    len(r["groups"]), **pp.prep)
            exp = ob.np_classifier(r["holdout_X"].astype(np.float32), pp.log_mask, pp.mean, pp.scale, r["coefs"],
                                   r["intercepts"], **pp.prep)
            training = {"cutoff": C.isoformat(), "train_as_of": r["train_snapshots"], "holdout_from": C.isoformat(),
                        "holdout_to": days(C, 30), "train_rows": r["train_rows"], "holdout_rows": r["holdout_rows"],
                        "source": f"snapshots as_of {', '.join(r['train_snapshots'])} (train, stacked) and as_of {C} "
                                  "(holdout)"}
            outs = [{"name": "probability", "dtype": "float32", "columns": list(r["groups"])}]
            finish("category_propensity", r, training, outs, m, {"probability": exp}, report.write_propensity, t0)

        if "demand_forecast" in want:
            t0 = time.time()
            log("demand_forecast")
            r = demand.train(ho, log=log)
            pp = r["pp"]
            args = (pp.log_mask, pp.mean, pp.scale, r["coefs"], r["intercepts"], r["y_mean"], r["y_scale"],
                    r["base_cols"], r["off_rev"], r["off_txn"], pp.rel, r["y_lo"], r["y_hi"], pp.units, pp.zclip,
                    r["out_units"])
            m = ob.demand_graph(len(r["columns"]), *args)
            rev, txn = ob.np_demand(r["holdout_X"].astype(np.float32), *args)
            o = r["last_origin"]
            training = {"cutoff": C.isoformat(), "train_as_of": C.isoformat(),
                        "holdout_from": days(o, 7), "holdout_to": days(o, 7 * 9),
                        "train_rows": r["train_rows"], "holdout_rows": r["holdout_rows"],
                        "source": f"snapshot as_of {C}: training origins {r['train_origins'][0]}..{r['train_origins'][1]} "
                                  f"(target weeks end <= cutoff), holdout origin {o}"}
            cols24 = [f"h{h}_{q}" for h in range(1, 9) for q in ("p10", "p50", "p90")]
            outs = [{"name": "revenue", "dtype": "float32", "columns": cols24},
                    {"name": "transactions", "dtype": "float32", "columns": cols24}]
            finish("demand_forecast", r, training, outs, m, {"revenue": rev, "transactions": txn}, report.write_demand, t0)

        # With --only, the summary keeps the other models as their contracts in --out have them.
        earlier, earlier_sizes = earlier_results(a.out, [n for n in MODELS if n not in results])
        merged = {**earlier, **results}
        report.write_summary(reports, {n: merged[n] for n in MODELS if n in merged}, {**earlier_sizes, **sizes},
                             notes, C, tr.as_of)
    log(f"done in {time.time() - t_all:.0f}s: {', '.join(results)} in {a.out}, reports in {a.reports}")
    for name, (r, _) in results.items():
        for g in r["metrics"]["goals"]:
            log(f"  {name:20s} {g['metric']:28s} {g['target']:26s} value {g['value']:.4f} "
                f"{'MET' if g['met'] else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
