"""The MLP regressors of purchasing power and demand (scikit-learn): one fit, or the average
of several seeds merged into one network (`onnx_build.merge_mlps`; the ONNX graph runs the
members side by side)."""
from __future__ import annotations

import warnings

from sklearn.neural_network import MLPRegressor

from .onnx_build import merge_mlps


def fit_mlp(Z, y, cfg: dict, seed: int) -> MLPRegressor:
    """ReLU MLP, Adam, early stopping on 10% of the rows; `cfg` sets the layers and alpha."""
    m = MLPRegressor(activation="relu", solver="adam", batch_size=256, learning_rate_init=1e-3,
                     max_iter=200, early_stopping=True, validation_fraction=0.1, n_iter_no_change=8,
                     random_state=seed, **cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(Z, y)
    return m


def fit_average(Z, y, cfg: dict, seeds) -> tuple[list, list, list[int]]:
    """One MLP per seed, averaged: (coefs, intercepts) of the merged network and each
    member's epochs."""
    members = [fit_mlp(Z, y, cfg, s) for s in seeds]
    coefs, intercepts = merge_mlps([(m.coefs_, m.intercepts_) for m in members])
    return coefs, intercepts, [int(m.n_iter_) for m in members]
