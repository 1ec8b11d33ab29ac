#!/usr/bin/env python3
"""The whole D-LMBmap network beside PyTorch: bench/bench_unet.cpp's cases with nnU-Net 1.7.1's own
Generic_UNet, each case in a fresh process, then one table of medians with axonseg/PyTorch ratios.

    tools/.venv/bin/python bench/compare_torch.py --build build --unet [--threads 2]
    tools/.venv/bin/python bench/torch_unet.py CASE [--threads 2] [--repetitions 3]  # one PyTorch case

Network: Generic_UNet(1 channel, 32 base features capped at 320, 2 classes, 5 poolings by 2, kernels
3^3, convolutional pooling and upsampling, InstanceNorm3d(eps 1e-5, affine), LeakyReLU(1e-2), deep
supervision, InitWeights_He(1e-2)) as tools/fixtures/make_unet_fixture.py builds it, channels_last_3d,
on one (1,1,128,128,128) patch. The cases:
  forward_f32   do_ds = False under torch.no_grad()
  forward_bf16  the same with the model and input cast to bfloat16 (a bf16 model is PyTorch's faster
                bf16 inference; autocast would cast the weights on every call)
  step_f32      forward, MultipleOutputLoss2(DC_and_CE_loss) with nnU-Net's deep-supervision weights,
                backward, Adam(lr 3e-4, weight decay 3e-5, AMSGrad), zero_grad(set_to_none)
  step_bf16     the same with the forward under torch.autocast('cpu', dtype=torch.bfloat16) and the
                loss on the outputs cast to float32 (fp32 master weights, as axonseg's Bf16Mixed)
Timing: two untimed warm-up calls (as bench_unet, whose weight cache fills on the second), then
the median of --repetitions calls. Peak memory: the resident
high-water mark (VmHWM) reset just before the model is built (/proc/self/clear_refs, "5") minus the
resident size then, so the torch import does not count; bench_unet measures the same way.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ["forward_f32", "forward_bf16", "step_f32", "step_bf16"]
BENCH_PREFIX = "unet_dlmbmap_128/"
SIZE = 128
# The issue's goals: seconds per call, and the fp32 step's peak memory at most half of PyTorch's.
GOAL_SECONDS = {"forward_f32": 2.2, "forward_bf16": 1.2, "step_f32": 7.0, "step_bf16": 4.0}


def proc_status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {key} in /proc/self/status")


def reset_rss_peak_mib():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return proc_status_mib("VmRSS:")


def run_torch_case(case, threads, repetitions):
    """Times one case in this process: {"times_ms", "median_ms", "peak_rss_MiB"}."""
    import torch
    from torch import nn
    sys.path.insert(0, str(ROOT / "tools" / "fixtures"))
    from make_unet_fixture import ds_targets, ds_weights
    from nnunet.network_architecture.generic_UNet import Generic_UNet
    from nnunet.network_architecture.initialization import InitWeights_He
    from nnunet.training.loss_functions.deep_supervision import MultipleOutputLoss2
    from nnunet.training.loss_functions.dice_loss import DC_and_CE_loss

    torch.set_num_threads(threads)
    rss_before = reset_rss_peak_mib()
    pools, kernels = [(2, 2, 2)] * 5, [(3, 3, 3)] * 6
    torch.manual_seed(1)
    net = Generic_UNet(
        1, 32, 2, len(pools), num_conv_per_stage=2, feat_map_mul_on_downscale=2, conv_op=nn.Conv3d,
        norm_op=nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
        dropout_op=nn.Dropout3d, dropout_op_kwargs={"p": 0, "inplace": True},
        nonlin=nn.LeakyReLU, nonlin_kwargs={"negative_slope": 1e-2, "inplace": True},
        deep_supervision=True, dropout_in_localization=False, final_nonlin=lambda x: x,
        weightInitializer=InitWeights_He(1e-2), pool_op_kernel_sizes=pools, conv_kernel_sizes=kernels,
        upscale_logits=False, convolutional_pooling=True, convolutional_upsampling=True,
        max_num_features=320)
    cl = torch.channels_last_3d
    net = net.to(memory_format=cl)
    gen = torch.Generator().manual_seed(2)
    x = (torch.rand(1, 1, SIZE, SIZE, SIZE, generator=gen) * 2 - 1).contiguous(memory_format=cl)

    if case.startswith("forward"):
        net.eval()
        net.do_ds = False
        if case == "forward_bf16":
            net = net.to(torch.bfloat16)
            x = x.to(torch.bfloat16)

        def call():
            with torch.no_grad():
                return net(x)
    else:
        net.train()
        target = (torch.rand(1, 1, SIZE, SIZE, SIZE, generator=gen) > 0.6).to(torch.int64)
        targets = [t.float() for t in ds_targets(target, pools)]
        loss_fn = MultipleOutputLoss2(
            DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False}, {}), ds_weights(len(pools)))
        opt = torch.optim.Adam(net.parameters(), lr=3e-4, weight_decay=3e-5, amsgrad=True)
        bf16 = case == "step_bf16"

        def call():
            opt.zero_grad(set_to_none=True)
            if bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = net(x)
                out = [o.float() for o in out]
            else:
                out = net(x)
            loss = loss_fn(out, targets)
            del out
            loss.backward()
            opt.step()
            return loss.item()

    for _ in range(2):  # warm-up
        call()
    times = []
    for _ in range(repetitions):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"times_ms": times, "median_ms": statistics.median(times),
            "peak_rss_MiB": proc_status_mib("VmHWM:") - rss_before}


def axonseg_case(exe, case, repetitions, env):
    """One bench_unet case in a fresh process: its median entry (real_time in ms, counters)."""
    out = subprocess.run(
        [str(exe), "--benchmark_format=json", f"--benchmark_repetitions={repetitions}",
         f"--benchmark_filter=^{BENCH_PREFIX}{case}/"],
        check=True, capture_output=True, text=True, env=env).stdout
    raw = json.loads(out)
    times = [b["real_time"] for b in raw["benchmarks"] if b.get("run_type") == "iteration"]
    entry = next(b for b in raw["benchmarks"] if b.get("aggregate_name") == "median")
    return {"times_ms": times, "median_ms": entry["real_time"], "peak_rss_MiB": entry["peak_rss_MiB"],
            "pool_peak_MiB": entry["pool_peak_MiB"], "pool_working_MiB": entry["pool_working_MiB"]}, raw


def torch_case(case, threads, repetitions):
    """run_torch_case in a fresh Python process."""
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), case, "--threads", str(threads),
         "--repetitions", str(repetitions)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def goals(rows):
    by = {r["case"]: r for r in rows}
    out = []
    for case, seconds in GOAL_SECONDS.items():
        r = by.get(case)
        if not r:
            continue
        out.append((f"{case}: <= {seconds} s ({r['axonseg_ms'] / 1e3:.2f} s)", r["axonseg_ms"] <= seconds * 1e3))
        if r["torch_ms"]:
            out.append((f"{case}: ahead of PyTorch (ratio {r['ratio']:.2f})", r["ratio"] < 1.0))
    r = by.get("step_f32")
    if r and r["torch_peak_MiB"]:
        out.append((f"step_f32: peak memory <= half of PyTorch's ({r['axonseg_peak_MiB']:.0f} vs "
                    f"{r['torch_peak_MiB']:.0f} MiB)", r["axonseg_peak_MiB"] <= 0.5 * r["torch_peak_MiB"]))
    return out


def compare(build, threads, repetitions=3, no_torch=False, out=None, machine=None):
    """Runs every case on both sides, prints the table and goals, writes bench/results/unet_<date>.json."""
    exe = Path(build) / "bench" / "bench_unet"
    if not exe.exists():
        sys.exit(f"torch_unet: {exe} is not built (make bench_unet)")
    load_start = os.getloadavg()
    if load_start[0] > 1:
        print(f"torch_unet: load average {load_start[0]:.2f}: other work shares the cores, timings will be low",
              file=sys.stderr)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    peak_exe, peak_json = Path(build) / "bench" / "axonseg_peak", ROOT / "bench" / "results" / "tmp" / "peak.json"
    if "AXONSEG_PEAK_JSON" not in env:  # bench_support measures the machine's peak otherwise, per process
        peak_json.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(peak_exe), "--json", str(peak_json)], check=True, env=env, capture_output=True)
        env["AXONSEG_PEAK_JSON"] = str(peak_json)

    rows, raw = [], {}
    for case in CASES:
        print(f"axonseg {case} ...", file=sys.stderr, flush=True)
        a, raw[case] = axonseg_case(exe, case, repetitions, env)
        t = None
        if not no_torch:
            print(f"PyTorch {case} ...", file=sys.stderr, flush=True)
            t = torch_case(case, threads, repetitions)
        rows.append({"case": case, "axonseg_ms": a["median_ms"], "torch_ms": t and t["median_ms"],
                     "ratio": t and a["median_ms"] / t["median_ms"],
                     "axonseg_peak_MiB": a["peak_rss_MiB"], "torch_peak_MiB": t and t["peak_rss_MiB"],
                     "peak_ratio": t and a["peak_rss_MiB"] / t["peak_rss_MiB"],
                     "axonseg_pool_peak_MiB": a["pool_peak_MiB"], "axonseg_times_ms": a["times_ms"],
                     "torch_times_ms": t and t["times_ms"]})

    print(f"\n{'case':14} {'axonseg s':>10} {'PyTorch s':>10} {'ratio':>6} {'axonseg MiB':>12} "
          f"{'PyTorch MiB':>12} {'ratio':>6}")
    for r in rows:
        def col(v, fmt, width):
            return format(v, fmt).rjust(width) if v is not None else "-".rjust(width)
        print(f"{r['case']:14} {r['axonseg_ms'] / 1e3:10.2f} {col(r['torch_ms'] and r['torch_ms'] / 1e3, '.2f', 10)} "
              f"{col(r['ratio'], '.2f', 6)} {r['axonseg_peak_MiB']:12.0f} {col(r['torch_peak_MiB'], '.0f', 12)} "
              f"{col(r['peak_ratio'], '.2f', 6)}")
    checks = goals(rows)
    print("\ngoals:")
    for text, met in checks:
        print(f"  [{'met' if met else 'NOT met'}] {text}")

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    now = datetime.datetime.now(datetime.timezone.utc)
    torch_version = None
    if not no_torch:
        torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                       capture_output=True, text=True).stdout.strip()
    result = {"date": now.isoformat(timespec="seconds"), "commit": commit, "working_tree_dirty": dirty != "",
              "machine": machine or {"logical_cpus": os.cpu_count()}, "threads": threads,
              "repetitions": repetitions, "torch_version": torch_version, "load_avg_start": load_start,
              "load_avg_end": os.getloadavg(), "rows": rows,
              "goals": [{"goal": t, "met": m} for t, m in checks], "axonseg_raw": raw}
    out = Path(out) if out else ROOT / "bench" / "results" / f"unet_{now:%Y%m%dT%H%MZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description="one PyTorch case of the whole network (see the module doc)")
    ap.add_argument("case", choices=CASES)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repetitions", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps(run_torch_case(args.case, args.threads, args.repetitions)))


if __name__ == "__main__":
    main()
