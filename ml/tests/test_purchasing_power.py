import numpy as np
import pandas as pd

from lyra_ml.purchasing_power import split_half_noise


def test_split_half_noise_by_hand():
    # halves (10, 30) and (20, 20): differences -20 and 0 -> RMS sqrt(200)
    hd = pd.DataFrame({"label_spend_45": [10.0, 20.0]})
    n = split_half_noise(hd, np.array([40.0, 40.0]), bg_rmse=100.0)
    assert np.isclose(n["split_half_rmse"], np.sqrt(200.0))
    assert np.isclose(n["goal_rmse"], 90.0)
    assert np.isclose(n["reducible_share_to_remove"], (100.0 ** 2 - 90.0 ** 2) / (100.0 ** 2 - 200.0))


def test_split_half_noise_needs_the_half_label():
    assert split_half_noise(pd.DataFrame({"x": [1.0]}), np.array([1.0]), 1.0) is None
