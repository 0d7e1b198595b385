#!/usr/bin/env python3
"""scripts/example_table.py on two planted runs: each cell is the mean and range of the runs,
the header names the machine and the seeds, and a missing run is refused naming it.

    test_example_table.py --root REPO --tmp DIR
"""
import argparse
import json
import os
import subprocess
import sys


def plant(run, seed, top1, accuracy):
    os.makedirs(os.path.join(run, "eval"), exist_ok=True)
    with open(os.path.join(run, "config.toml"), "w") as f:
        f.write(f"[train]\nepochs = 48\nseed = {seed}\nthreads = 0\n")
    report = {
        "meta": {"morphology_test": 1024, "photo_z_test": 1024},
        "morphology": {"ssl": {"accuracy": accuracy, "knn_accuracy": 0.97},
                       "pixels": {"accuracy": 0.898}},
        "photo_z": {"ssl": {"sigma_mad": 0.031, "head_sigma_mad": 0.030}},
        "self_retrieval": {"ssl": {"top1": top1, "chance": 1 / 1024, "count": 1024}},
    }
    with open(os.path.join(run, "eval", "eval.json"), "w") as f:
        json.dump(report, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    script = os.path.join(a.root, "scripts", "example_table.py")
    runs = [os.path.join(a.tmp, f"run-seed{s}") for s in (1, 2, 3)]
    for run, seed, top1, acc in zip(runs, (1, 2, 3), (0.117, 0.155, 0.130), (0.990, 0.987, 0.985)):
        plant(run, seed, top1, acc)
    out_file = os.path.join(a.tmp, "table.md")
    r = subprocess.run([sys.executable, script, *runs, "--out", out_file], capture_output=True,
                       text=True)
    failures = []
    if r.returncode != 0:
        failures.append(f"exit {r.returncode}: {r.stderr}")
    text = r.stdout
    want = [
        "logical CPUs; 2 ranks, train.threads = 0",
        "Runs: 3 (train.seed = 1, 2, 3); each cell: mean (lowest-highest)",
        "| ssl (MoCo v2, 48 epochs) | 0.987 (0.985-0.990) | 0.970 (0.970-0.970) |",
        "| 0.134 (0.117-0.155) |",
        "| pixels (centre crop, PCA 256) | 0.898 (0.898-0.898) | - |",
    ]
    failures += [f"missing: {w!r}" for w in want if w not in text]
    if "random_init" in text:
        failures.append("a row for an encoder no run has (random_init)")
    if not os.path.exists(out_file) or open(out_file).read() != text:
        failures.append("--out file differs from what was printed")
    bad = subprocess.run([sys.executable, script, os.path.join(a.tmp, "no-such-run")],
                         capture_output=True, text=True)
    if bad.returncode == 0 or "no-such-run" not in bad.stderr:
        failures.append(f"a missing run was not refused by name: {bad.returncode} {bad.stderr!r}")
    for f in failures:
        print(f)
    print(text if failures else "example_table.py: OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
