#!/usr/bin/python3
"""Runs every benchmark in benchmarks/ once, short, and prints one summary table:

  figure | ours | reference | ratio (ours / reference) | target

Each program's own output goes to OUT/<name>.log (and .json where it writes one); the table is
also written to OUT/summary.md and OUT/summary.json. Sized to finish in well under 15 minutes
on a 2-core machine; rerun on a quiet machine before quoting a figure. --results FILE rewrites
FILE (scripts/bench.sh: docs/benchmark-results.md) with the table and the machine, after a
full run without failures.

  scripts/bench.sh                   # = benchmarks/run_all.py --build build --results docs/benchmark-results.md
  benchmarks/run_all.py --only train,modes
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from machine_info import cpu_model  # noqa: E402  (scripts/ is on the path from here on)

# Figures measured before issue #13's work (the issue text, 2026-12-01, this machine).
REF_MOCO_RATIO = 1.71
REF_WATCHDOG = 1.35  # "the watchdog costs 35-43%"
REF_BUCKETER = 1.35  # "the bucketer is 35% slower than one flat all-reduce" (ResNet-50, bench_comm)
REF_WEAK = 0.666     # weak scaling 1 -> 2 ranks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("SKYSSL_BUILD_DIR", os.path.join(ROOT, "build")))
    ap.add_argument("--out", default=None, help="default BUILD/bench")
    ap.add_argument("--only", default="", help="comma list of: train,modes,comm,scaling,reader,augment,checkpoint")
    ap.add_argument("--mpiexec", default="mpiexec --oversubscribe -n {ranks}")
    ap.add_argument("--results", default=None,
                    help="rewrite this Markdown file with the table and the machine (a full run only)")
    a = ap.parse_args()
    b = a.build
    out = a.out or os.path.join(b, "bench")
    os.makedirs(out, exist_ok=True)
    only = set(x for x in a.only.split(",") if x)
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "HDF5_USE_FILE_LOCKING": "FALSE",
                "OMPI_MCA_btl_vader_single_copy_mechanism": "none", "OMP_NUM_THREADS": "1"})
    rows, failures, t_all = [], [], time.time()

    def mpi(ranks):
        return shlex.split(a.mpiexec.format(ranks=ranks))

    def run(name, cmd, timeout=300):
        t0 = time.time()
        log = os.path.join(out, name + ".log")
        print(f"[bench] {name}: {' '.join(cmd)}", flush=True)
        try:
            with open(log, "w") as f:
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                                    timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -1
        text = open(log).read()
        print(f"[bench] {name}: exit {rc}, {time.time() - t0:.0f} s", flush=True)
        if rc != 0:
            failures.append(f"{name} (exit {rc}, see {log})")
            return None
        return text

    def row(figure, ours, ref, target, fmt="{:.2f}", ratio=None):
        def f(v):
            return "-" if v is None else (fmt.format(v) if isinstance(v, (int, float)) else str(v))
        # ratio: ours / ref unless the benchmark gives a better estimate (a median over repeats)
        if ratio is None and isinstance(ours, (int, float)) and isinstance(ref, (int, float)) and ref:
            ratio = ours / ref
        rows.append({"figure": figure, "ours": ours, "reference": ref, "ratio": ratio,
                     "target": target, "ours_text": f(ours), "ref_text": f(ref),
                     "ratio_text": "-" if ratio is None else f"{ratio:.2f}"})

    def want(k):
        return not only or k in only

    exe = lambda *p: os.path.join(b, *p)
    archive = os.path.join(out, "survey.h5")
    if not os.path.exists(archive):
        if run("synth", mpi(2) + [exe("apps", "prep", "skyssl-prep"), "synth", "--out", archive,
                                  "--count", "2048", "--size", "64", "--seed", "1"]) is None:
            print("cannot synthesise the benchmark survey", file=sys.stderr)
            return 1

    if want("train"):
        js = os.path.join(out, "train_step.json")
        if run("train_step", [exe("benchmarks", "train", "bench_train_step"), "--archive", archive,
                              "--set", "train.threads=1", "--json", js]):
            j = json.load(open(js))
            row("MoCo step / plain step (bench_train_step B/C, ResNet-18 w16, batch 64)",
                j["b_over_c"], REF_MOCO_RATIO, "<= 1.45 (floor ~1.33)")
            row("real pipeline / views in memory (A/B: input hidden)", j["a_over_b"], 1.0, "~1.0")
            row("phase timers, % of a step", j["timer_pct"], None, "<= 1%", "{:.4f}")
    if want("modes"):
        js = os.path.join(out, "step_modes.json")
        if run("step_modes", mpi(2) + [exe("benchmarks", "train", "bench_step_modes"), "--archive",
                                        archive, "--set", "train.threads=1", "--json", js], timeout=420):
            j = json.load(open(js))
            row("bucketed / flat gradient all-reduce, real 2-rank step", j["bucketed_over_flat"],
                REF_BUCKETER, "default dist.grad_sync = the faster")
            row("watchdog on / off, real 2-rank step", j["watchdog_over_off"], REF_WATCHDOG, "<= 1.05")
            row("shuffle_bn local / gather, 2-rank step time", j["local_over_gather"], 1.0,
                "<= 1 where the network is the limit")
            v = j["variants"]
            row("key-path MB received per rank and step, local (gather = reference)",
                v["local, flat all-reduce"]["key_path_recv_bytes"] / 1e6,
                v["gather, flat all-reduce"]["key_path_recv_bytes"] / 1e6, "keys only", "{:.3f}")
    if want("comm"):
        t = run("comm", mpi(2) + [exe("benchmarks", "comm", "bench_comm"), "--iters", "3"],
                timeout=420)
        if t:
            for label, key in (("ResNet-50 grads, bucketer vs raw MPI_Allreduce (ms)", "ResNet-50 grads all_reduce 23.5M f32 (bucketer"),
                               ("ResNet-50 grads, watchdog path vs raw (ms)", "ResNet-50 grads all_reduce 23.5M f32 (watchdog")):
                m = re.search(re.escape(key) + r".*?\)\s+([\d.]+)\s+([\d.]+)", t)
                if m:
                    row(label, float(m.group(2)), float(m.group(1)), "~1.0 (within run-to-run noise)", "{:.1f}")
    if want("scaling"):
        sc = os.path.join(out, "scaling")
        if run("scaling", [sys.executable, os.path.join(ROOT, "benchmarks", "scaling", "scaling.py"),
                           "run", "--ranks", "1", "2", "--build", b, "--archive", archive,
                           "--out", sc, "--steps", "16"], timeout=600):
            res = json.load(open(os.path.join(sc, "scaling.json")))["results"]
            for mode in ("weak", "strong"):
                r2 = [r for r in res if r["mode"] == mode and r["ranks"] == 2]
                if r2:
                    row(f"{mode} scaling efficiency 1 -> 2 ranks ({os.cpu_count()} cores)", r2[0]["efficiency"],
                        REF_WEAK if mode == "weak" else None, ">= 0.9 on a core (GPU) per rank")
    if want("reader"):
        # The benchmark's own archives (4,096 x 3x152x152 float32: one file, then 4 files), so
        # the figures compare with docs/performance.md; MB/s and ratios are medians over the
        # repeats (the benchmark's own printout shows the best times).
        js = os.path.join(out, "reader.json")
        if run("reader", [exe("benchmarks", "reader", "bench_reader"), "--repeat", "3",
                          "--python", "/usr/bin/python3", "--json", js], timeout=420):
            for lay in json.load(open(js))["layouts"]:
                meth = lay["methods"]
                for th in (1, 2):
                    name = f"shard_reader, {th} read thread" + ("s" if th > 1 else "")
                    pread = f"POSIX pread, {th} thread" + ("s" if th > 1 else "")
                    row(f"shard reader / POSIX pread, {lay['layout']}, {th} read thread" +
                        ("s" if th > 1 else "") + " (MB/s)",
                        meth[name]["median_mb_per_s"], meth[pread]["median_mb_per_s"], ">= 0.8",
                        "{:.0f}",
                        ratio=lay[f"reader_over_pread_{th}"])
                for th in (1, 2):
                    name = f"shard_reader, {th} read thread" + ("s" if th > 1 else "")
                    if "h5py" in meth:
                        row(f"shard reader / h5py, {lay['layout']}, {th} read thread" +
                            ("s" if th > 1 else "") + " (MB/s)",
                            meth[name]["median_mb_per_s"], meth["h5py"]["median_mb_per_s"], ">= 3",
                            "{:.0f}",
                            ratio=lay[f"reader_over_h5py_{th}"])
            a100 = json.load(open(js))["gpu_images_per_s"]["A100"]
            row(f"shard reader images/s, {lay['layout']}, 2 read threads / one A100's consumption",
                meth["shard_reader, 2 read threads"]["median_images_per_s"], a100,
                ">= 1 (H200: 2x the A100)", "{:.0f}")
    if want("augment"):
        t = run("augment", [exe("benchmarks", "augment", "bench_augment"), "--iters", "5"])
        if t:
            m = re.search(r"speed-up vs libtorch\s*:\s*([\d.]+)x new outputs, ([\d.]+)x pooled", t)
            if m:
                row("fused augmentation speed-up vs LibTorch ops (pooled)", float(m.group(2)), 1.0, ">= 5")
    if want("checkpoint"):
        t = run("checkpoint", [exe("benchmarks", "checkpoint", "bench_checkpoint"), "--dir",
                               os.path.join(out, "ckpt"), "--steps", "20", "--every", "10",
                               "--reps", "1"], timeout=420)
        if t:
            m = re.search(r"a checkpoint every .*?steps\s+([\d.]+) ms/step\s+\(([-+\d.]+)%\)", t)
            n = re.search(r"no checkpoints .*?([\d.]+) ms/step", t)
            if m and n:
                row("step with a checkpoint every 10 steps / without", float(m.group(1)),
                    float(n.group(1)), "small (default: every 30 min)", "{:.1f}")

    took = time.time() - t_all
    w = max(len(r["figure"]) for r in rows) if rows else 10
    lines = [f"{'figure':<{w}} | {'ours':>9} | {'reference':>9} | {'ratio':>6} | target",
             "-" * (w + 50)]
    for r in rows:
        lines.append(f"{r['figure']:<{w}} | {r['ours_text']:>9} | {r['ref_text']:>9} | "
                     f"{r['ratio_text']:>6} | {r['target']}")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()[0]
    lines.append(f"({stamp}, {os.uname().nodename}, {os.cpu_count()} CPUs, load average {load:.1f}, "
                 f"{took / 60:.1f} min; logs in {out})")
    print("\n".join(lines))
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("| figure | ours | reference | ratio | target |\n|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['figure']} | {r['ours_text']} | {r['ref_text']} | {r['ratio_text']} | {r['target']} |\n")
        f.write(f"\n{lines[-1]}\n")
    json.dump({"date": stamp, "load": load, "minutes": took / 60, "rows": rows, "failures": failures},
              open(os.path.join(out, "summary.json"), "w"), indent=2)
    if a.results:
        if only or failures:
            print(f"[bench] {a.results} left as it was: it holds full runs only"
                  + (" (this one had failures)" if failures else f" (--only {a.only})"))
        else:
            write_results(a.results, rows)
            print(f"[bench] wrote {a.results}")
    if failures:
        print("failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


def write_results(path, rows):
    """docs/benchmark-results.md: the latest full run's table and the machine it ran on."""
    with open(path, "w") as f:
        f.write("# Benchmark results\n\n"
                "Written by `bash scripts/bench.sh` (`benchmarks/run_all.py --results`) from its "
                "latest full run; rerun it to refresh. [performance.md](performance.md) says "
                "what each benchmark compares; \"reference\" is the figure a target was set "
                "against (the code without the work the benchmark judges), or the baseline it compares against (raw MPI, POSIX reads, "
                "LibTorch ops).\n\n")
        f.write(f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs.\n\n")
        f.write("| figure | ours | reference | ratio | target |\n|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['figure']} | {r['ours_text']} | {r['ref_text']} | {r['ratio_text']} | "
                    f"{r['target']} |\n")


if __name__ == "__main__":
    sys.exit(main())
