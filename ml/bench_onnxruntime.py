"""ONNX Runtime's side of `lyra bench models`: rows per second of one model at given batch
sizes, on the same model.onnx and the same input rows as model-svc's side.

    python ml/bench_onnxruntime.py MODEL_DIR --batches 1,64,1024 --threads 1 [--seconds 1.0] [--serve]

The input is sample.json's rows, repeated to fill each batch (the Rust side does the same).
--threads 1 sets intra_op_num_threads = inter_op_num_threads = 1 (one core, like tract's
single-threaded plan); --threads 0 leaves ONNX Runtime's default (all cores). Prints one JSON
object: {"onnxruntime": version, "threads": n, "rows_per_second": {"1": …, "64": …}}.

--serve keeps the session loaded and measures again, printing one such line, each time a
line arrives on standard input (until it closes): `lyra bench models` alternates rounds of
tract and ONNX Runtime this way, so that both sides of a ratio see the same machine.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort


def measure(session, name, outputs, rows, batches, seconds) -> dict:
    """Rows per second at each batch size: 20 warm-up runs, then runs for `seconds` (at
    least 10)."""
    result = {}
    for batch in batches:
        x = np.ascontiguousarray(np.resize(rows, (batch, rows.shape[1])))
        feed = {name: x}
        for _ in range(20):
            session.run(outputs, feed)
        runs, started = 0, time.perf_counter()
        while True:
            session.run(outputs, feed)
            runs += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds and runs >= 10:
                break
        result[str(batch)] = batch * runs / elapsed
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=pathlib.Path)
    parser.add_argument("--batches", default="1,64,1024")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()

    contract = json.loads((args.model_dir / "contract.json").read_text())
    sample = json.loads((args.model_dir / "sample.json").read_text())
    rows = np.array([[np.nan if v is None else v for v in r] for r in sample["input"]],
                    dtype=np.float32)
    options = ort.SessionOptions()
    if args.threads > 0:
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = args.threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(args.model_dir / "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    name = contract["input"]["name"]
    outputs = [o["name"] for o in contract["outputs"]]
    batches = [int(b) for b in args.batches.split(",")]

    def report():
        rps = measure(session, name, outputs, rows, batches, args.seconds)
        print(json.dumps({"onnxruntime": ort.__version__, "threads": args.threads,
                          "rows_per_second": rps}), flush=True)

    if not args.serve:
        report()
        return
    for _ in sys.stdin:
        report()


if __name__ == "__main__":
    main()
