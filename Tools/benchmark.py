#!/usr/bin/env python3
"""Benchmarks onnx-run against onnxruntime side by side.

For each model and thread count it alternates rounds: one `onnx-run bench --json` process, then
one onnxruntime process (CPU execution provider, default graph optimizations) on the same inputs,
ROUNDS times, and reports the median of each side's per-round medians, the ratio
onnx-run / onnxruntime, and the geometric mean of the ratios; the same for load time (parse +
optimize + plan vs session creation) and peak RSS. Ratios, not absolute times, are what count: the
machine is shared and noisy.

    .venv/bin/python Tools/benchmark.py [--only NAME...] [--threads 1 2] [--rounds 3] [--runs 10]
        [--min-round-ms 1000] [--markdown docs/benchmarks.md]

Models (the set of issue 6): the nine zoo architectures with real weights (Generated/zoo, made by
Tools/make_zoo_weighted_suite.py), and from Generated/models (Tools/make_transformer_suite.py,
`--large` for the base sizes) a BERT-base encoder at sequence 128, a GPT-2-small-sized (124M)
decoder, MobileNetV2 and a YOLO-style detector at 640×640. Inputs are the test-data inputs of each
case. `--suite DIR` benchmarks every case of one folder instead.
"""
import argparse
import json
import math
import pathlib
import platform
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ONNX_RUN = ROOT / ".build" / "release" / "onnx-run"
DEFAULT_MODELS = ["bert_base", "gpt2_base", "mobilenet_v2", "yolo_640"]

ORT_SCRIPT = r"""
import json, resource, sys, time
import numpy as np, onnx, onnxruntime as ort
from onnx import numpy_helper
model, threads, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
inputs = sys.argv[5:]
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
start = time.perf_counter()
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
load_ms = (time.perf_counter() - start) * 1000
feeds = {}
for info, path in zip(session.get_inputs(), inputs):
    feeds[info.name] = numpy_helper.to_array(onnx.load_tensor(path))
times = []
for i in range(warmup + runs):
    start = time.perf_counter()
    session.run(None, feeds)
    if i >= warmup:
        times.append((time.perf_counter() - start) * 1000)
times.sort()
print(json.dumps({"median_ms": float(np.median(times)), "min_ms": times[0], "load_ms": load_ms,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_onnx_run(case, threads, runs, warmup):
    inputs = sorted(str(p) for p in (case / "test_data_set_0").glob("input_*.pb"))
    command = [str(ONNX_RUN), "bench", str(case / "model.onnx"), *inputs, "--threads", str(threads),
               "--runs", str(runs), "--warmup", str(warmup), "--json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_onnxruntime(case, threads, runs, warmup):
    inputs = sorted(str(p) for p in (case / "test_data_set_0").glob("input_*.pb"))
    command = [sys.executable, "-c", ORT_SCRIPT, str(case / "model.onnx"), str(threads), str(runs), str(warmup), *inputs]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", help="benchmark every test case in this folder instead of the default model set")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per model and thread count")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-round-ms", type=float, default=1000,
                        help="raise the runs per round of fast models until a round's timed runs take about this long "
                             "(a median over 10 runs of a 4 ms model is mostly noise on a shared machine)")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="benchmark only the models whose folder name contains one of these strings")
    args = parser.parse_args()
    if not ONNX_RUN.exists():
        sys.exit("build first: swift build -c release --product onnx-run")
    if args.suite:
        cases = sorted(p for p in pathlib.Path(args.suite).iterdir() if (p / "model.onnx").exists())
    else:
        zoo = ROOT / "Generated" / "zoo"
        cases = sorted(p for p in zoo.iterdir() if (p / "model.onnx").exists()) if zoo.exists() else []
        for name in DEFAULT_MODELS:
            case = ROOT / "Generated" / "models" / name
            if (case / "model.onnx").exists():
                cases.append(case)
            else:
                print(f"note: {case} is missing; generate it with Tools/make_transformer_suite.py Generated/models --large", file=sys.stderr)
        if not cases:
            sys.exit("no models: run Tools/make_zoo_weighted_suite.py Generated/zoo and Tools/make_transformer_suite.py Generated/models --large")

    if args.only:
        cases = [c for c in cases if any(name in c.name for name in args.only)]
        if not cases:
            sys.exit(f"no model matches {' '.join(args.only)}")

    rows = []
    for threads in args.threads:
        for case in cases:
            ours, theirs = [], []
            runs = args.runs
            for round_index in range(args.rounds):
                print(f"[{case.name} threads={threads}] round {round_index + 1}/{args.rounds}, {runs} runs", file=sys.stderr)
                ours.append(run_onnx_run(case, threads, runs, args.warmup))
                theirs.append(run_onnxruntime(case, threads, runs, args.warmup))
                if round_index == 0:
                    # Both sides get the same number of runs, sized by the slower one's first round.
                    slower_ms = max(ours[0]["median_ms"], theirs[0]["median_ms"])
                    runs = max(args.runs, math.ceil(args.min_round_ms / slower_ms))
            def med(results, key):
                return statistics.median(r[key] for r in results)
            rows.append({"model": case.name, "threads": threads,
                         "ours_ms": med(ours, "median_ms"), "ort_ms": med(theirs, "median_ms"),
                         "ours_load": med(ours, "load_ms"), "ort_load": med(theirs, "load_ms"),
                         "ours_rss": med(ours, "peak_rss_mb"), "ort_rss": med(theirs, "peak_rss_mb")})

    lines = ["| model | threads | onnx-run ms | onnxruntime ms | ratio | load ms (ours / ort) | peak RSS MB (ours / ort) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threads']} | {r['ours_ms']:.1f} | {r['ort_ms']:.1f} | {r['ours_ms'] / r['ort_ms']:.2f} | "
                     f"{r['ours_load']:.0f} / {r['ort_load']:.0f} | {r['ours_rss']:.0f} / {r['ort_rss']:.0f} |")
    summary = []
    for threads in args.threads:
        subset = [r for r in rows if r["threads"] == threads]
        # Three decimals for the latency mean: the target is 1.0, and 0.996 and 1.004 both round to 1.00.
        summary.append(f"threads={threads}: geometric mean latency ratio {geometric_mean([r['ours_ms'] / r['ort_ms'] for r in subset]):.3f}, "
                       f"load ratio {geometric_mean([r['ours_load'] / r['ort_load'] for r in subset]):.2f}, "
                       f"RSS ratio {geometric_mean([r['ours_rss'] / r['ort_rss'] for r in subset]):.2f}, "
                       f"worst latency ratio {max(r['ours_ms'] / r['ort_ms'] for r in subset):.2f}")
    text = "\n".join(lines + [""] + summary)
    print(text)
    if args.markdown:
        machine = f"{platform.processor() or platform.machine()}, {platform.system()} {platform.release()}"
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), machine)
        header = (f"# Benchmarks: onnx-run vs onnxruntime\n\nMeasured by `Tools/benchmark.py` on {cpu} "
                  f"({len(args.threads)} thread counts, {args.rounds} alternating rounds of at least {args.runs} runs and about {args.min_round_ms / 1000:g} s each); "
                  "ratios below 1 mean onnx-run is faster.\n\n")
        pathlib.Path(args.markdown).write_text(header + text + "\n")


if __name__ == "__main__":
    main()
