import numpy as np

from lyra_ml.nets import fit_average, fit_mlp
from lyra_ml.onnx_build import np_mlp


def test_the_merged_network_predicts_the_members_average():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 5))
    y = np.column_stack([Z[:, 0] * 2 - Z[:, 1], np.abs(Z[:, 2])])
    cfg = {"hidden_layer_sizes": (8, 4), "alpha": 1e-3}
    coefs, intercepts, epochs = fit_average(Z, y, cfg, [1, 2, 3])
    members = [fit_mlp(Z, y, cfg, s) for s in (1, 2, 3)]
    assert epochs == [m.n_iter_ for m in members]
    mean = np.mean([m.predict(Z) for m in members], axis=0)
    np.testing.assert_allclose(np_mlp(Z, coefs, intercepts), mean, rtol=1e-9, atol=1e-9)
    assert coefs[0].shape == (5, 24)       # first layers side by side
