import os

import pytest

from lyra_ml.train import staged


def test_a_run_that_fails_leaves_the_previous_models_as_they_were(tmp_path):
    out = tmp_path / "models"
    (out / "demand_forecast").mkdir(parents=True)
    (out / "demand_forecast" / "model.onnx").write_text("old")
    with pytest.raises(RuntimeError):
        with staged(str(out)) as scratch:
            os.makedirs(os.path.join(scratch, "demand_forecast"))
            with open(os.path.join(scratch, "demand_forecast", "model.onnx"), "w") as f:
                f.write("half")
            raise RuntimeError("training failed")
    assert (out / "demand_forecast" / "model.onnx").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["models"], "no scratch directory left behind"


def test_a_run_that_succeeds_replaces_what_it_wrote_and_keeps_the_rest(tmp_path):
    out = tmp_path / "models"
    for name in ("demand_forecast", "segmentation"):
        (out / name).mkdir(parents=True)
        (out / name / "model.onnx").write_text("old")
    (out / "demand_forecast" / "stale.json").write_text("old")
    with staged(str(out)) as scratch:
        os.makedirs(os.path.join(scratch, "demand_forecast"))
        with open(os.path.join(scratch, "demand_forecast", "model.onnx"), "w") as f:
            f.write("new")
    assert (out / "demand_forecast" / "model.onnx").read_text() == "new"
    assert not (out / "demand_forecast" / "stale.json").exists()
    assert (out / "segmentation" / "model.onnx").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["models"]
