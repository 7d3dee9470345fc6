"""Hand-built ONNX graphs (opset 17) from fitted weights.

Only a small op set is used (MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Exp, Log, Max, Clip,
ReduceSum, ArgMin, Concat, Slice, Reshape, Cast, Identity) so that tract runs every model.
Every graph takes one input "features" float32 [batch, F] with the raw feature columns of
the contract; scaling and post-processing live inside the graph.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ALLOWED_OPS = {"MatMul", "Gemm", "Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Exp", "Log",
               "Max", "Min", "Clip", "ReduceSum", "ArgMin", "Concat", "Slice", "Reshape",
               "Cast", "Identity"}


class GraphBuilder:
    """Tiny helper: named constants, nodes, and a float32 input 'features' [batch, F]."""

    def __init__(self, n_features: int, input_name: str = "features"):
        self.nodes: list = []
        self.inits: list = []
        self.outputs: list = []
        self.n = 0
        self.input_name = input_name
        self.inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_features])]

    def _name(self, p: str) -> str:
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, dtype=np.float32, name: str = "c") -> str:
        nm = self._name(name)
        self.inits.append(numpy_helper.from_array(np.asarray(arr, dtype=dtype), nm))
        return nm

    def op(self, op_type: str, inputs: list, out: str | None = None, **attrs) -> str:
        assert op_type in ALLOWED_OPS, op_type
        out = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def output(self, tensor: str, name: str, width: int, elem=TensorProto.FLOAT):
        self.op("Identity", [tensor], out=name)
        self.outputs.append(helper.make_tensor_value_info(name, elem, ["batch", width]))

    def model(self, graph_name: str, doc: str = "") -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lyra_ml", doc_string=doc)
        m.ir_version = 8
        onnx.checker.check_model(m, full_check=True)
        return m

    # ---- building blocks -------------------------------------------------------------
    def log1p_col(self, x: str, col: int, unit: float = 1.0) -> str:
        """log1p(max(x[:, col] / unit, 0)) as [batch, 1]"""
        v = self.op("Slice", [x, self.const([col], np.int64, "st"), self.const([col + 1], np.int64, "en"),
                              self.const([1], np.int64, "ax")])
        if unit != 1.0:
            v = self.op("Div", [v, self.const(unit, name="unit")])
        return self.op("Log", [self.op("Add", [self.op("Max", [v, self.const(0.0, name="zero")]),
                                               self.const(1.0, name="one")])])

    def preprocess(self, x: str, log_mask, mean, scale, rel=None, units=None, zclip=None) -> str:
        """z = (t(x / units) - mean) / scale with t = log1p on masked columns, identity elsewhere.

        rel: optional [(base_col, mask)]: masked columns become log1p(x) - log1p(x[:, base_col]).
        units: optional per-column divisors applied first; zclip: clip z to [-zclip, zclip].
        """
        log_mask = np.asarray(log_mask, dtype=np.float32)
        if units is not None and np.any(np.asarray(units) != 1.0):
            x = self.op("Div", [x, self.const(np.asarray(units, float)[None, :], name="units")])
        src = x
        if log_mask.any():
            pos = self.op("Max", [x, self.const(0.0, name="zero")])
            lg = self.op("Log", [self.op("Add", [pos, self.const(1.0, name="one")])])
            a = self.op("Mul", [lg, self.const(log_mask[None, :], name="logmask")])
            b = self.op("Mul", [x, self.const(1.0 - log_mask[None, :], name="linmask")])
            x = self.op("Add", [a, b])
        for col, mask in rel or []:
            base = self.log1p_col(src, col)
            x = self.op("Sub", [x, self.op("Mul", [base, self.const(np.asarray(mask, float)[None, :], name="relmask")])])
        x = self.op("Sub", [x, self.const(np.asarray(mean)[None, :], name="mean")])
        x = self.op("Div", [x, self.const(np.asarray(scale)[None, :], name="scale")])
        if zclip is not None:
            x = self.op("Max", [x, self.const(-zclip, name="zlo")])
            x = self.op("Min", [x, self.const(zclip, name="zhi")])
        return x

    def mlp(self, x: str, coefs, intercepts, hidden="relu") -> str:
        """sklearn MLP forward pass without the output activation. Merged MLPs (`merge_mlps`:
        hidden layers block-diagonal) run as their members side by side, outputs summed: the
        zeros are never multiplied and no tensor is sliced (purchasing power's ensemble)."""
        assert hidden == "relu"
        k = towers(coefs)
        if k > 1:
            parts = [self.layers(x, *tower(coefs, intercepts, k, j)) for j in range(k)]
            x = parts[0]
            for p in parts[1:]:
                x = self.op("Add", [x, p])
            return self.op("Add", [x, self.const(np.asarray(intercepts[-1])[None, :], name="b")])
        return self.op("Add", [self.layers(x, coefs, intercepts[:-1]),
                               self.const(np.asarray(intercepts[-1])[None, :], name="b")])

    def layers(self, x: str, coefs, intercepts) -> str:
        """MatMul, bias, ReLU for every layer; the last layer's product only (its bias is
        the caller's)."""
        for w, b in zip(coefs[:-1], intercepts):
            x = self.op("Relu", [self.op("Add", [
                self.op("MatMul", [x, self.const(np.asarray(w), name="W")]),
                self.const(np.asarray(b)[None, :], name="b")])])
        return self.op("MatMul", [x, self.const(np.asarray(coefs[-1]), name="W")])

    def expm1_pos(self, x: str) -> str:
        """max(exp(x) - 1, 0)"""
        e = self.op("Sub", [self.op("Exp", [x]), self.const(1.0, name="one")])
        return self.op("Max", [e, self.const(0.0, name="zero")])


# ---- numpy references (used for checks and tests) -------------------------------------
def np_preprocess(X, log_mask, mean, scale, rel=None, units=None, zclip=None):
    Z = (np_transform(X, log_mask, rel, units) - mean) / scale
    return Z if zclip is None else np.clip(Z, -zclip, zclip)


def np_transform(X, log_mask, rel=None, units=None):
    X = np.asarray(X, dtype=np.float64)
    if units is not None:
        X = X / np.asarray(units, float)[None, :]
    m = np.asarray(log_mask, dtype=bool)
    Z = X.copy()
    Z[:, m] = np.log1p(np.maximum(X[:, m], 0.0))
    for col, mask in rel or []:
        Z = Z - np.log1p(np.maximum(X[:, col], 0.0))[:, None] * np.asarray(mask, float)[None, :]
    return Z


def np_mlp(Z, coefs, intercepts):
    h = Z
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        h = h @ w + b
        if i < len(coefs) - 1:
            h = np.maximum(h, 0.0)
    return h


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ---- the four model graphs -------------------------------------------------------------
def kmeans_graph(n_features, log_mask, mean, scale, centers, segment_names) -> onnx.ModelProto:
    """Outputs: segment int64 [batch,1] (argmin), distance float32 [batch,k] (Euclidean, scaled space)."""
    gb = GraphBuilder(n_features)
    z = gb.preprocess(gb.input_name, log_mask, mean, scale)
    C = np.asarray(centers, dtype=np.float64)
    zz = gb.op("ReduceSum", [gb.op("Mul", [z, z]), gb.const(np.array([1], np.int64), np.int64, "axes")], keepdims=1)
    cross = gb.op("MatMul", [z, gb.const(-2.0 * C.T, name="C2")])
    d2 = gb.op("Add", [gb.op("Add", [cross, zz]), gb.const((C ** 2).sum(1)[None, :], name="cc")])
    d2 = gb.op("Max", [d2, gb.const(1e-12, name="eps")])
    dist = gb.op("Exp", [gb.op("Mul", [gb.op("Log", [d2]), gb.const(0.5, name="half")])])
    seg = gb.op("ArgMin", [d2], axis=1, keepdims=1)
    gb.output(seg, "segment", 1, TensorProto.INT64)
    gb.output(dist, "distance", len(segment_names))
    return gb.model("segmentation", "k-means segments; distance = Euclidean distance in the scaled space")


def np_kmeans(X, log_mask, mean, scale, centers):
    Z = np_preprocess(X, log_mask, mean, scale)
    d2 = ((Z[:, None, :] - np.asarray(centers)[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1)[:, None].astype(np.int64), np.sqrt(np.maximum(d2, 1e-12))


def diagonal_blocks(w, most: int = 16) -> int:
    """The largest k <= most for which w is k equal blocks on its diagonal and zeros
    elsewhere; 1 for an ordinary matrix."""
    for k in range(most, 1, -1):
        if w.shape[0] % k or w.shape[1] % k:
            continue
        r, c = w.shape[0] // k, w.shape[1] // k
        off = np.ones(w.shape, bool)
        for j in range(k):
            off[j * r:(j + 1) * r, j * c:(j + 1) * c] = False
        if not np.any(w[off]):
            return k
    return 1


def towers(coefs) -> int:
    """How many MLPs `merge_mlps` merged into these layers (1: an ordinary MLP): every hidden
    layer k blocks on its diagonal, the first layer's columns and the last's rows k groups."""
    if len(coefs) < 3:
        return 1
    k = diagonal_blocks(np.asarray(coefs[1]))
    if k == 1 or any(diagonal_blocks(np.asarray(w)) % k for w in coefs[1:-1]):
        return 1
    if np.asarray(coefs[0]).shape[1] % k or np.asarray(coefs[-1]).shape[0] % k:
        return 1
    return k


def tower(coefs, intercepts, k: int, j: int):
    """Member j of k merged MLPs: its weights (the last layer's already divided by k) and
    its hidden biases."""
    cs, bs = [], []
    for li, w in enumerate(coefs):
        w = np.asarray(w)
        r, c = w.shape[0] // k, w.shape[1] // k
        if li == 0:
            cs.append(w[:, j * c:(j + 1) * c])
        elif li < len(coefs) - 1:
            cs.append(w[j * r:(j + 1) * r, j * c:(j + 1) * c])
        else:
            cs.append(w[j * r:(j + 1) * r, :])
        if li < len(coefs) - 1:
            b = np.asarray(intercepts[li])
            bs.append(b[j * (b.shape[0] // k):(j + 1) * (b.shape[0] // k)])
    return cs, bs


def merge_mlps(models):
    """Average of several MLPs with the same layer sizes as one wider MLP (exact):
    first layers side by side, hidden layers block-diagonal, output layers stacked / n."""
    n = len(models)
    if n == 1:
        return models[0]
    L = len(models[0][0])
    coefs, inter = [], []
    for li in range(L):
        Ws = [np.asarray(m[0][li]) for m in models]
        bs = [np.asarray(m[1][li]) for m in models]
        if li == 0:
            W = np.hstack(Ws)
            b = np.concatenate(bs)
        elif li < L - 1:
            W = np.zeros((sum(w.shape[0] for w in Ws), sum(w.shape[1] for w in Ws)))
            r = c = 0
            for w in Ws:
                W[r:r + w.shape[0], c:c + w.shape[1]] = w
                r += w.shape[0]
                c += w.shape[1]
            b = np.concatenate(bs)
        else:
            W = np.vstack(Ws) / n
            b = np.mean(bs, axis=0)
        coefs.append(W)
        inter.append(b)
    return coefs, inter


def quantile_regressor_graph(n_features, log_mask, mean, scale, coefs, intercepts, y_mean, y_scale,
                             offsets, link="expm1", mean_offsets=None, mean_scale=1.0, **prep) -> onnx.ModelProto:
    """MLP on a transformed target t: p_q = inverse_link(y_mean + y_scale * mlp(z) + offsets[q]).

    link "expm1": t = log1p(y); link "square": t = sqrt(y) (p = max(., 0)^2).
    `mean_offsets` (equally likely residuals, e.g. their quantiles at (k + 0.5) / K) add a last
    column, the expectation: the average of inverse_link(prediction + each of them), Duan's
    smearing estimate, times `mean_scale` (a calibration factor). One MatMul picks the quantile
    columns and averages the rest."""
    gb = GraphBuilder(n_features)
    z = gb.preprocess(gb.input_name, log_mask, mean, scale, **prep)
    y = gb.mlp(z, coefs, intercepts)                                 # [batch, 1]
    y = gb.op("Add", [gb.op("Mul", [y, gb.const(y_scale, name="ys")]), gb.const(y_mean, name="ym")])
    offs = _all_offsets(offsets, mean_offsets)
    y = gb.op("Add", [y, gb.const(offs[None, :], name="offs")])      # [batch, q (+ K)]
    if link == "expm1":
        out = gb.expm1_pos(y)
    else:
        pos = gb.op("Max", [y, gb.const(0.0, name="zero")])
        out = gb.op("Mul", [pos, pos])
    if mean_offsets is not None:
        out = gb.op("MatMul", [out, gb.const(_pick_and_average(len(offsets), len(mean_offsets), mean_scale),
                                                  name="pick")])
    gb.output(out, "spend_90d", len(offsets) + (mean_offsets is not None))
    return gb.model("purchasing_power", "spend over the next 90 days, roubles: p10, p50, p90"
                    + ("" if mean_offsets is None else ", mean"))


def _all_offsets(offsets, mean_offsets):
    return np.concatenate([np.asarray(offsets, float), [] if mean_offsets is None else np.asarray(mean_offsets, float)])


def _pick_and_average(q: int, k: int, scale: float = 1.0) -> np.ndarray:
    """[q + k, q + 1]: the first q columns as they are, then `scale` x the mean of the other k."""
    m = np.zeros((q + k, q + 1))
    m[np.arange(q), np.arange(q)] = 1.0
    m[q:, q] = scale / k
    return m


def np_quantile_regressor(X, log_mask, mean, scale, coefs, intercepts, y_mean, y_scale, offsets, link="expm1",
                          mean_offsets=None, mean_scale=1.0, **prep):
    y = np_mlp(np_preprocess(X, log_mask, mean, scale, **prep), coefs, intercepts) * y_scale + y_mean
    y = y + _all_offsets(offsets, mean_offsets)[None, :]
    out = np.maximum(np.expm1(y), 0.0) if link == "expm1" else np.maximum(y, 0.0) ** 2
    return out if mean_offsets is None else out @ _pick_and_average(len(offsets), len(mean_offsets), mean_scale)


def classifier_graph(n_features, log_mask, mean, scale, coefs, intercepts, n_out, **prep) -> onnx.ModelProto:
    gb = GraphBuilder(n_features)
    z = gb.preprocess(gb.input_name, log_mask, mean, scale, **prep)
    p = gb.op("Sigmoid", [gb.mlp(z, coefs, intercepts)])
    gb.output(p, "probability", n_out)
    return gb.model("category_propensity", "probability of any purchase in each group within 30 days")


def np_classifier(X, log_mask, mean, scale, coefs, intercepts, **prep):
    return np_sigmoid(np_mlp(np_preprocess(X, log_mask, mean, scale, **prep), coefs, intercepts))


def demand_graph(n_features, log_mask, mean, scale, coefs, intercepts, y_mean, y_scale,
                 base_cols, offsets_rev, offsets_txn, rel=None, y_lo=None, y_hi=None, units=None,
                 zclip=None, out_units=(1.0, 1.0)) -> onnx.ModelProto:
    """MLP predicts (scaled) log1p(target) - log1p(base) for 8 revenue + 8 txn horizons.

    base_cols = (index of the revenue level column, index of the txn level column) in the input.
    offsets_* = [8, 3] log-space offsets (p10, p50, p90) per horizon.
    Outputs revenue / transactions [batch, 24]: h1_p10, h1_p50, h1_p90, ..., h8_p90.
    y_lo / y_hi [16]: the log deviations are clipped to this range (the training range).
    units / out_units: revenue is modelled in units of a typical ticket (inputs divided, outputs
    multiplied back).
    """
    gb = GraphBuilder(n_features)
    x = gb.input_name
    z = gb.preprocess(x, log_mask, mean, scale, rel, units, zclip)
    y = gb.mlp(z, coefs, intercepts)                                   # [batch, 16]
    y = gb.op("Add", [gb.op("Mul", [y, gb.const(np.asarray(y_scale)[None, :], name="ys")]),
                      gb.const(np.asarray(y_mean)[None, :], name="ym")])
    if y_lo is not None:
        y = gb.op("Max", [y, gb.const(np.asarray(y_lo)[None, :], name="ylo")])
        y = gb.op("Min", [y, gb.const(np.asarray(y_hi)[None, :], name="yhi")])
    for k, (name, col, offs) in enumerate((("revenue", base_cols[0], offsets_rev),
                                           ("transactions", base_cols[1], offsets_txn))):
        unit = float(out_units[k])
        E = np.zeros((16, 24))
        for h in range(8):
            E[8 * k + h, 3 * h:3 * h + 3] = 1.0
        base = gb.log1p_col(x, col, unit)
        o = gb.op("Add", [gb.op("MatMul", [y, gb.const(E, name="E")]),
                          gb.const(np.asarray(offs).reshape(1, 24), name="offs")])
        o = gb.expm1_pos(gb.op("Add", [o, base]))
        if unit != 1.0:
            o = gb.op("Mul", [o, gb.const(unit, name="unit")])
        gb.output(o, name, 24)
    return gb.model("demand_forecast", "weekly revenue and transactions, horizons 1-8, p10/p50/p90")


def np_demand(X, log_mask, mean, scale, coefs, intercepts, y_mean, y_scale, base_cols, offsets_rev, offsets_txn,
              rel=None, y_lo=None, y_hi=None, units=None, zclip=None, out_units=(1.0, 1.0)):
    X = np.asarray(X, dtype=np.float64)
    y = np_mlp(np_preprocess(X, log_mask, mean, scale, rel, units, zclip), coefs, intercepts) * y_scale + y_mean
    if y_lo is not None:
        y = np.minimum(np.maximum(y, y_lo), y_hi)
    outs = []
    for k, (col, offs) in enumerate(((base_cols[0], offsets_rev), (base_cols[1], offsets_txn))):
        base = np.log1p(np.maximum(X[:, col] / out_units[k], 0.0))[:, None]
        yk = y[:, 8 * k:8 * k + 8]
        o = np.repeat(yk, 3, axis=1) + np.asarray(offs).reshape(1, 24) + base
        outs.append(np.maximum(np.expm1(o), 0.0) * out_units[k])
    return outs


# ---- running and checking ----------------------------------------------------------------
def run(model: onnx.ModelProto, X) -> dict:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    res = sess.run(names, {"features": np.asarray(X, dtype=np.float32)})
    return dict(zip(names, res))


def ops_used(model: onnx.ModelProto) -> set:
    return {n.op_type for n in model.graph.node}


def check(model: onnx.ModelProto, X, expected: dict, rtol=2e-3, atol=2e-3) -> dict:
    """Run with onnxruntime and compare to numpy references; raise on mismatch."""
    assert ops_used(model) <= ALLOWED_OPS, ops_used(model) - ALLOWED_OPS
    got = run(model, X)
    for k, v in expected.items():
        g = got[k]
        v = np.asarray(v)
        if g.dtype.kind == "i":
            mism = (g != v).mean()
            if mism > 0.001:   # float32 ties may flip an argmin on a boundary point
                raise AssertionError(f"{k}: {mism:.4%} of rows differ")
        elif not np.allclose(g, v, rtol=rtol, atol=atol):
            err = np.abs(g - v).max()
            raise AssertionError(f"{k}: max abs diff {err}")
    return got
