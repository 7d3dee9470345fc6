"""ml/bench_onnxruntime.py, ONNX Runtime's side of `lyra bench models`: one measurement, and
the --serve loop that measures again on every line of standard input."""
import json
import pathlib
import subprocess
import sys

ML = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ML / "bench_onnxruntime.py"
MODEL = ML / "models" / "segmentation"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, str(SCRIPT), str(MODEL), "--batches", "1,8",
                           "--seconds", "0.01", *args],
                          input=stdin, capture_output=True, text=True, check=True, timeout=120)


def test_one_measurement():
    out = json.loads(run("--threads", "1").stdout)
    assert out["threads"] == 1
    assert set(out["rows_per_second"]) == {"1", "8"}
    assert all(v > 0 for v in out["rows_per_second"].values())


def test_serve_measures_once_per_line_until_stdin_closes():
    lines = run("--threads", "1", "--serve", stdin="\n\n\n").stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert set(json.loads(line)["rows_per_second"]) == {"1", "8"}


def test_serve_without_requests_prints_nothing():
    assert run("--serve", stdin="").stdout == ""
