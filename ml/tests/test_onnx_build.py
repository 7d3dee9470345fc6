"""Each hand-built ONNX graph reproduces its numpy reference on random weights."""
import numpy as np
import pytest

from lyra_ml import onnx_build as ob

RNG = np.random.default_rng(0)


def raw_features(n, f):
    X = RNG.gamma(1.0, 50.0, (n, f))
    X[:, 0] = RNG.normal(0, 1, n)        # a signed column (never log-transformed)
    X[:, 1] = RNG.random(n)              # a share
    return X.astype(np.float32)


def mlp_weights(sizes):
    coefs = [RNG.normal(0, 0.3, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    inter = [RNG.normal(0, 0.1, b) for b in sizes[1:]]
    return coefs, inter


def prep(f):
    log_mask = np.array([False, False] + [True] * (f - 2))
    return log_mask, RNG.normal(0, 1, f), RNG.uniform(0.5, 2, f)


def test_kmeans_graph():
    f, k = 5, 8
    X = raw_features(200, f)
    lm, mu, sc = prep(f)
    C = RNG.normal(0, 1, (k, f))
    m = ob.kmeans_graph(f, lm, mu, sc, C, [f"s{i}" for i in range(k)])
    seg, dist = ob.np_kmeans(X, lm, mu, sc, C)
    got = ob.check(m, X, {"segment": seg, "distance": dist}, rtol=1e-4, atol=1e-4)
    assert got["segment"].dtype == np.int64 and got["segment"].shape == (200, 1)
    assert ob.ops_used(m) <= ob.ALLOWED_OPS


def test_quantile_regressor_graph():
    f = 7
    X = raw_features(100, f)
    lm, mu, sc = prep(f)
    coefs, inter = mlp_weights([f, 16, 8, 1])
    args = (lm, mu, sc, coefs, inter, 8.0, 1.5, np.array([-1.0, 0.05, 0.9]))
    m = ob.quantile_regressor_graph(f, *args)
    exp = ob.np_quantile_regressor(X, *args)
    got = ob.check(m, X, {"spend_90d": exp}, rtol=1e-4, atol=1e-2)
    assert np.all(got["spend_90d"][:, 0] <= got["spend_90d"][:, 1])
    assert np.all(got["spend_90d"][:, 1] <= got["spend_90d"][:, 2])


def test_classifier_graph():
    f, g = 6, 20
    X = raw_features(50, f)
    lm, mu, sc = prep(f)
    coefs, inter = mlp_weights([f, 12, g])
    m = ob.classifier_graph(f, lm, mu, sc, coefs, inter, g)
    got = ob.check(m, X, {"probability": ob.np_classifier(X, lm, mu, sc, coefs, inter)}, rtol=1e-4, atol=1e-5)
    assert got["probability"].shape == (50, g)


def test_logistic_graph_single_layer():
    f, g = 6, 3
    X = raw_features(30, f)
    lm, mu, sc = prep(f)
    coefs, inter = mlp_weights([f, g])
    m = ob.classifier_graph(f, lm, mu, sc, coefs, inter, g)
    ob.check(m, X, {"probability": ob.np_classifier(X, lm, mu, sc, coefs, inter)}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("with_rel", [False, True])
def test_demand_graph(with_rel):
    f = 9
    X = raw_features(40, f)
    lm, mu, sc = prep(f)
    coefs, inter = mlp_weights([f, 10, 16])
    rel = [(2, np.array([0, 0, 0, 1, 1, 0, 0, 0, 0.0])), (5, np.array([0, 0, 0, 0, 0, 0, 1, 1, 0.0]))] if with_rel else None
    offs_r = np.sort(RNG.normal(0, 0.3, (8, 3)), axis=1)
    offs_t = np.sort(RNG.normal(0, 0.3, (8, 3)), axis=1)
    args = (lm, mu, sc, coefs, inter, RNG.normal(0, .1, 16), RNG.uniform(.5, 1, 16), [2, 5], offs_r, offs_t,
            rel, np.full(16, -0.5), np.full(16, 0.5))
    m = ob.demand_graph(f, *args)
    rev, txn = ob.np_demand(X, *args)
    got = ob.check(m, X, {"revenue": rev, "transactions": txn}, rtol=1e-4, atol=1e-2)
    assert got["revenue"].shape == (40, 24)
    # p10 <= p50 <= p90 within each horizon
    r = got["revenue"].reshape(40, 8, 3)
    assert np.all(np.diff(r, axis=2) >= -1e-3)


def test_batch_dimension_is_symbolic():
    f = 3
    lm, mu, sc = prep(f)
    m = ob.kmeans_graph(f, lm, mu, sc, RNG.normal(0, 1, (2, f)), ["a", "b"])
    dim = m.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "batch" and dim[1].dim_value == f
    assert m.opset_import[0].version == 17
    for n in (1, 7):
        out = ob.run(m, raw_features(n, f))
        assert out["distance"].shape == (n, 2)


def test_merge_mlps_is_the_average():
    f = 5
    X = RNG.normal(0, 1, (30, f))
    models = [mlp_weights([f, 7, 4, 1]) for _ in range(3)]
    c, b = ob.merge_mlps(models)
    avg = np.mean([ob.np_mlp(X, *m) for m in models], axis=0)
    assert np.allclose(ob.np_mlp(X, c, b), avg)


def test_merged_mlps_run_side_by_side():
    f = 6
    X = raw_features(40, f)
    lm, mu, sc = prep(f)
    models = [mlp_weights([f, 8, 4, 1]) for _ in range(3)]
    coefs, inter = ob.merge_mlps(models)
    assert ob.diagonal_blocks(coefs[1]) == 3 and ob.diagonal_blocks(coefs[0]) == 1
    assert ob.towers(coefs) == 3 and ob.towers(models[0][0]) == 1
    args = (lm, mu, sc, coefs, inter, 8.0, 1.5, np.array([-1.0, 0.05, 0.9]))
    m = ob.quantile_regressor_graph(f, *args)
    ob.check(m, X, {"spend_90d": ob.np_quantile_regressor(X, *args)}, rtol=1e-4, atol=1e-2)
    ops = [n.op_type for n in m.graph.node]
    # three members of three layers each, side by side; nothing sliced
    assert ops.count("MatMul") == 9 and "Slice" not in ops and "Concat" not in ops


def square_case(rows: int):
    f = 4
    lm, mu, sc = prep(f)
    coefs, inter = mlp_weights([f, 8, 1])
    return f, raw_features(rows, f), (lm, mu, sc, coefs, inter, 100.0, 30.0, np.array([-20.0, 0.0, 25.0]))


def test_quantile_regressor_square_link():
    f, X, args = square_case(60)
    m = ob.quantile_regressor_graph(f, *args, link="square")
    exp = ob.np_quantile_regressor(X, *args, link="square")
    got = ob.check(m, X, {"spend_90d": exp}, rtol=1e-4, atol=1e-2)
    assert np.all(got["spend_90d"] >= 0)


def test_quantile_regressor_mean_column_is_the_smearing_average():
    f, X, args = square_case(80)
    residuals = np.array([-30.0, -5.0, 0.0, 10.0, 40.0])
    kw = {"link": "square", "mean_offsets": residuals, "mean_scale": 1.07}
    m = ob.quantile_regressor_graph(f, *args, **kw)
    got = ob.check(m, X, {"spend_90d": ob.np_quantile_regressor(X, *args, **kw)}, rtol=1e-4, atol=1e-2)["spend_90d"]
    assert got.shape == (80, 4)
    # the quantile columns are those of the graph without the mean
    plain = ob.np_quantile_regressor(X, *args, link="square")
    assert np.allclose(got[:, :3], plain, rtol=1e-4, atol=1e-2)
    # the mean, by hand: 1.07 x the average of max(t + e, 0)^2 over the residuals e
    t = np.sqrt(plain[:, 1])                       # p50 = max(t + 0, 0)^2
    hand = np.array([1.07 * np.mean(np.maximum(ti + residuals, 0) ** 2) for ti in t])
    pos = t > 0                                    # where p50 clipped to 0, t is not recoverable
    assert pos.sum() > 40
    assert np.allclose(got[pos, 3], hand[pos], rtol=1e-3, atol=1e-1)
    assert np.all(got[:, 3] >= got[:, 1] - 1e-3)   # these residuals are right-skewed: mean >= median
