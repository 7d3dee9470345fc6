import json
import os

import pytest

from lyra_ml import report
from lyra_ml.train import earlier_results, staged


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


def test_a_run_of_some_models_keeps_the_others_in_the_summary(tmp_path):
    goal = {"metric": "ari_bootstrap_mean", "target": ">= 0.8", "value": 0.93, "met": True}
    seg = tmp_path / "models" / "segmentation"
    seg.mkdir(parents=True)
    (seg / "model.onnx").write_bytes(b"x" * 2048)
    (seg / "contract.json").write_text(json.dumps({"metrics": {"goals": [goal]},
                                                   "training": {"cutoff": "2026-05-04"}}))
    earlier, sizes = earlier_results(str(tmp_path / "models"), ["segmentation", "demand_forecast"])
    assert list(earlier) == ["segmentation"] and sizes == {"segmentation": 2048}, "no demand model was there"
    pp_goal = {"metric": "rmse", "target": "<= 0.9 x bgnbd_gg", "value": 42683.0, "met": False}
    now = {"purchasing_power": ({"metrics": {"goals": [pp_goal]}, "seconds": 247.0}, {})}
    report.write_summary(str(tmp_path), {**earlier, **now}, {**sizes, "purchasing_power": 70994}, [],
                         "2026-08-03", "2026-05-04")
    text = (tmp_path / "summary.md").read_text()
    assert "| segmentation | ari_bootstrap_mean | >= 0.8 | 0.9300 |" in text
    assert "| purchasing_power | rmse |" in text
    assert "| segmentation | [segmentation.md](segmentation.md) | 2 KiB | not retrained in this run (cut-off 2026-05-04) |" in text
    assert "| purchasing_power | [purchasing_power.md](purchasing_power.md) | 69 KiB | 247 s |" in text
