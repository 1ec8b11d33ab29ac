#!/usr/bin/env python3
"""axonseg beside PyTorch on the network's shapes, one table of medians.

Runs axonseg_peak, then the axonseg Google Benchmark programs (medians of --repetitions), then
times the same cases in PyTorch with the same thread count and memory format (channels_last_3d),
and prints: case, axonseg ms, PyTorch ms, axonseg/PyTorch, GFLOP/s or GB/s, fraction of peak.
Writes everything, raw benchmark JSON included, to bench/results/compare_<date>.json.

    tools/.venv/bin/python bench/compare_torch.py --build build [--threads 2] [--repetitions 5]
    tools/.venv/bin/python bench/compare_torch.py --build build --unet   # the whole network

PyTorch is timed as a training step would call it: forward under torch.no_grad(), backward with
torch.autograd.grad on a recorded forward (retain_graph, so only the backward is timed), bf16 as
bf16 tensors (autocast would add a cast per call). The norm is nnU-Net's pair of separate ops,
F.instance_norm then an in-place F.leaky_relu. The case table mirrors bench/bench_conv3d.cpp and
bench/bench_norm.cpp by name.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ["bench_conv3d", "bench_norm", "bench_memory_pool"]

# name -> (kind, c_in, c_out, size, stride); size is the input cube's side.
CONV_CASES = {
    "conv3d_1to32_128": ("conv", 1, 32, 128, 1),
    "conv3d_32to32_128": ("conv", 32, 32, 128, 1),
    "conv3d_32to64_s2_128": ("conv", 32, 64, 128, 2),
    "conv3d_64to64_64": ("conv", 64, 64, 64, 1),
    "conv3d_320to320_8": ("conv", 320, 320, 8, 1),
    "conv_transpose3d_64to32_64": ("transpose", 64, 32, 64, 2),
}
NORM_CASES = {"instance_norm_leaky_relu_32_128": (32, 128)}
PASSES = ["forward_f32", "backward_f32", "forward_bf16"]


def run_axonseg(exe, repetitions, env, pattern):
    """Medians of one Google Benchmark program: {"case/pass": entry}, and the raw JSON."""
    out = subprocess.run(
        [str(exe), "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
         "--benchmark_report_aggregates_only=true", f"--benchmark_filter={pattern}"],
        check=True, capture_output=True, text=True, env=env).stdout
    if not out.strip():  # --filter matched none of this program's benchmarks
        return {}, None
    raw = json.loads(out)
    medians = {}
    for b in raw["benchmarks"]:
        if b.get("aggregate_name") == "median":
            # "conv3d_1to32_128/forward_f32/min_time:0.200/real_time" -> the case and pass
            parts = b["run_name"].split("/")
            key = "/".join(p for p in parts if not p.startswith(("min_time:", "real_time")))
            medians[key] = b
    return medians, raw


def time_torch(fn, repetitions, min_time):
    """Median over repetitions of the mean time per call (ms), each repetition calling fn until
    min_time seconds have passed, as Google Benchmark does; one warm-up call first."""
    fn()
    per_call = []
    for _ in range(repetitions):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        per_call.append(elapsed / calls * 1e3)
    return statistics.median(per_call)


def torch_cases(torch, repetitions, min_time, pattern):
    """PyTorch's median ms for the cases of CONV_CASES and NORM_CASES whose name matches."""
    F = torch.nn.functional
    cl = torch.channels_last_3d
    gen = torch.Generator().manual_seed(0)

    def rand(*shape, dtype=torch.float32, fmt=torch.contiguous_format, grad=False):
        t = (torch.rand(*shape, generator=gen) * 2 - 1).to(dtype).contiguous(memory_format=fmt)
        return t.requires_grad_(grad)

    times = {}
    for name, (kind, ci, co, s, stride) in CONV_CASES.items():
        if not re.search(pattern, name):
            continue
        for dtype, tag in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
            wants_grad = dtype == torch.float32
            x = rand(1, ci, s, s, s, dtype=dtype, fmt=cl, grad=wants_grad and ci > 1)
            if kind == "conv":
                w = rand(co, ci, 3, 3, 3, dtype=dtype, fmt=cl, grad=wants_grad)
                b = rand(co, dtype=dtype, grad=wants_grad)
                params = [w, b]
                op = lambda x=x, w=w, b=b: F.conv3d(x, w, b, stride=stride, padding=1)
            else:
                w = rand(ci, co, 2, 2, 2, dtype=dtype, fmt=cl, grad=wants_grad)
                params = [w]
                op = lambda x=x, w=w: F.conv_transpose3d(x, w, stride=2)
            with torch.no_grad():
                times[f"{name}/forward_{tag}"] = time_torch(op, repetitions, min_time)
            if wants_grad:
                y = op()
                dy = rand(*y.shape, fmt=cl)
                inputs = ([x] if x.requires_grad else []) + params
                times[f"{name}/backward_f32"] = time_torch(
                    lambda: torch.autograd.grad(y, inputs, dy, retain_graph=True),
                    repetitions, min_time)
                del y, dy
            del x, w, params, op

    for name, (c, s) in NORM_CASES.items():
        if not re.search(pattern, name):
            continue
        for dtype, tag in [(torch.float32, "f32"), (torch.bfloat16, "bf16")]:
            wants_grad = dtype == torch.float32
            x = rand(1, c, s, s, s, dtype=dtype, fmt=cl, grad=wants_grad)
            g = rand(c, dtype=dtype, grad=wants_grad)
            b = rand(c, dtype=dtype, grad=wants_grad)
            op = lambda x=x, g=g, b=b: F.leaky_relu(
                F.instance_norm(x, weight=g, bias=b, eps=1e-5), 0.01, inplace=True)
            with torch.no_grad():
                times[f"{name}/forward_{tag}"] = time_torch(op, repetitions, min_time)
            if wants_grad:
                y = op()
                dy = rand(*y.shape, fmt=cl)
                times[f"{name}/backward_f32"] = time_torch(
                    lambda: torch.autograd.grad(y, [x, g, b], dy, retain_graph=True),
                    repetitions, min_time)
                del y, dy
            del x, g, b, op
    return times


def cpu_model():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def git_commit():
    r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip() != ""
    return r.stdout.strip(), dirty


def rate_of(entry):
    """(value, unit, fraction of peak) from an axonseg benchmark entry's counters."""
    if "GFLOP/s" in entry:
        return entry["GFLOP/s"], "GFLOP/s", entry.get("peak_frac")
    if "GB/s" in entry:
        return entry["GB/s"], "GB/s", entry.get("bw_frac")
    return None, "", None


def goals(rows, medians):
    """The issue's targets, each as (text, met)."""
    by = {r["name"]: r for r in rows}
    out = []
    for name, (_kind, ci, *_rest) in CONV_CASES.items():
        for p in ["forward_f32", "backward_f32"]:
            r = by.get(f"{name}/{p}")
            if not r or r["torch_ms"] is None:
                continue
            out.append((f"{name}/{p}: no slower than PyTorch (ratio {r['ratio']:.2f})",
                        r["ratio"] <= 1.0))
            if ci > 1:  # one input channel: 27 multiply-adds per output, too few to reach peak
                out.append((f"{name}/{p}: >= 60% of fp32 peak ({r['peak_frac']:.0%})",
                            r["peak_frac"] >= 0.6))
        f32, bf16 = by.get(f"{name}/forward_f32"), by.get(f"{name}/forward_bf16")
        if f32 and bf16:
            speedup = f32["axonseg_ms"] / bf16["axonseg_ms"]
            out.append((f"{name}: bf16 forward >= 1.7x fp32 forward ({speedup:.2f}x)",
                        speedup >= 1.7))
    for name in NORM_CASES:
        for p in ["forward_f32", "backward_f32"]:
            r = by.get(f"{name}/{p}")
            if not r:
                continue
            floor = by.get(f"{name}/floor_{p}")
            if floor:  # the same passes timed beside it: bandwidth here drifts with neighbours
                frac = floor["axonseg_ms"] / r["axonseg_ms"]
                out.append((f"{name}/{p}: >= 70% of memory bandwidth ({frac:.0%} of the "
                             f"streaming floor beside it, {r['peak_frac']:.0%} of axonseg_peak's)",
                             frac >= 0.7))
            if r["torch_ms"] is not None:
                out.append((f"{name}/{p}: <= 0.6x PyTorch's two ops ({r['ratio']:.2f}x)",
                            r["ratio"] <= 0.6))
    fresh, pooled = medians.get("fresh_allocation"), medians.get("pooled_tensor")
    if fresh and pooled:
        out.append((f"pool: 268 MB fresh {fresh['real_time']:.1f} ms vs reused "
                    f"{pooled['real_time']:.1f} ms", pooled["real_time"] < fresh["real_time"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exes", nargs="*", help="benchmark executables (default: found under --build)")
    ap.add_argument("--build", type=Path, help="build directory holding bench/bench_* programs")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 0))
                    or os.cpu_count())
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2,
                    help="seconds each PyTorch repetition runs at least (as MinTime in C++)")
    ap.add_argument("--peak-json", type=Path, help="axonseg_peak output to reuse")
    ap.add_argument("--filter", default=".", help="regular expression on the case names")
    ap.add_argument("--no-torch", action="store_true", help="only run the axonseg side")
    ap.add_argument("--out", type=Path,
                    help="result file (default bench/results/compare_<date>.json)")
    ap.add_argument("--unet", action="store_true",
                    help="the whole network instead of the operators: bench_unet beside nnU-Net's "
                         "Generic_UNet, one case per process, 3 repetitions (bench/torch_unet.py)")
    args = ap.parse_args()
    if args.unet:
        import torch_unet
        torch_unet.compare(args.build, args.threads, no_torch=args.no_torch, out=args.out,
                           machine={"cpu": cpu_model(), "logical_cpus": os.cpu_count()})
        return

    exes = [Path(e) for e in args.exes]
    if args.build and not exes:
        exes = [args.build / "bench" / b for b in BENCHES if (args.build / "bench" / b).exists()]
    if not exes:
        sys.exit("compare_torch: no benchmark programs (give paths or --build DIR)")

    load_start = os.getloadavg()
    if load_start[0] > 1:
        print(f"compare_torch: load average {load_start[0]:.2f}: other work shares the cores, "
              "timings will be low", file=sys.stderr)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    peak_json = args.peak_json
    if peak_json is None:
        peak_exe = (args.build or exes[0].parent.parent) / "bench" / "axonseg_peak"
        peak_json = ROOT / "bench" / "results" / "tmp" / "peak.json"
        peak_json.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(peak_exe), "--json", str(peak_json)], check=True, env=env)
    peak = json.loads(peak_json.read_text())
    env["AXONSEG_PEAK_JSON"] = str(peak_json)

    medians, raw = {}, {}
    for exe in exes:
        print(f"running {exe.name} ...", file=sys.stderr, flush=True)
        m, r = run_axonseg(exe, args.repetitions, env, args.filter)
        medians.update(m)
        if r:
            raw[exe.name] = r

    torch_ms, torch_version = {}, None
    if not args.no_torch:
        import torch
        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
        print(f"timing PyTorch {torch_version} on {args.threads} threads ...", file=sys.stderr,
              flush=True)
        torch_ms = torch_cases(torch, args.repetitions, args.min_time, args.filter)

    rows = []
    for name, e in medians.items():
        rate, unit, frac = rate_of(e)
        t = torch_ms.get(name)
        rows.append({"name": name, "axonseg_ms": e["real_time"], "torch_ms": t,
                     "ratio": e["real_time"] / t if t else None,
                     "rate": rate, "unit": unit, "peak_frac": frac})

    print(f"\n{'case':48} {'axonseg ms':>11} {'PyTorch ms':>11} {'ratio':>6} {'rate':>16} "
          f"{'of peak':>8}")
    for r in rows:
        torch_col = f"{r['torch_ms']:11.2f}" if r["torch_ms"] else f"{'-':>11}"
        ratio_col = f"{r['ratio']:6.2f}" if r["ratio"] else f"{'-':>6}"
        rate_col = f"{r['rate']:8.1f} {r['unit']:7}" if r["rate"] else f"{'-':>16}"
        frac_col = f"{r['peak_frac']:8.0%}" if r["peak_frac"] is not None else f"{'-':>8}"
        print(f"{r['name']:48} {r['axonseg_ms']:11.2f} {torch_col} {ratio_col} {rate_col} "
              f"{frac_col}")
    checks = goals(rows, medians) if torch_ms else []
    if checks:
        print("\ngoals:")
        for text, met in checks:
            print(f"  [{'met' if met else 'NOT met'}] {text}")

    commit, dirty = git_commit()
    now = datetime.datetime.now(datetime.timezone.utc)
    result = {
        "date": now.isoformat(timespec="seconds"),
        "commit": commit, "working_tree_dirty": dirty,
        "machine": {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "threads": args.threads,
                    "peak": peak},
        "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
        "torch_version": torch_version, "repetitions": args.repetitions,
        "rows": rows, "goals": [{"goal": t, "met": m} for t, m in checks],
        "axonseg_raw": raw,
    }
    out = args.out or ROOT / "bench" / "results" / f"compare_{now:%Y%m%dT%H%MZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
