#!/usr/bin/env python3
"""The example's evaluation table, written from the runs' eval.json (scripts/example.sh calls it).

    example_table.py RUN_DIR [RUN_DIR ...] [--out FILE]

One run: each cell is that run's figure. Several runs (one per train.seed): each cell is the
mean and, in brackets, the lowest and highest figure over the runs, so the table states the
variation between seeds rather than one run's draw. The lines above the table name the machine
it ran on (CPU model, logical CPUs), the ranks and threads, the epochs and the seeds, so a figure
can be compared with the machine that produced it.
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import cpu_model  # noqa: E402  (beside this script)

ENCODERS = [
    ("ssl", "ssl (MoCo v2, {epochs} epochs)"),
    ("random_init", "random_init (same ResNet)"),
    ("pixels", "pixels (centre crop, PCA 256)"),
    ("supervised", "supervised (same ResNet trained from scratch on the labels)"),
    ("trivial", "trivial (majority class / median z)"),
]
COLUMNS = [
    ("morphology, linear probe", "morphology", "accuracy", "{:.3f}"),
    ("morphology, k-NN", "morphology", "knn_accuracy", "{:.3f}"),
    ("photo-z sigma_MAD, k-NN", "photo_z", "sigma_mad", "{:.4f}"),
    ("photo-z sigma_MAD, 180-bin head", "photo_z", "head_sigma_mad", "{:.4f}"),
    ("self-retrieval top-1", "self_retrieval", "top1", "{:.3f}"),
]


def load_run(run_dir):
    run = pathlib.Path(run_dir)
    try:
        report = json.loads((run / "eval" / "eval.json").read_text())
        config = tomllib.loads((run / "config.toml").read_text())
    except (OSError, ValueError) as e:
        sys.exit(f"example_table.py: cannot read the run in '{run}': {e}")
    return report, config


def figure(report, task, encoder, metric):
    v = report.get(task, {}).get(encoder, {}).get(metric)
    return None if v is None else float(v)


def cell(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt.format(values[0])
    return "{} ({}-{})".format(
        fmt.format(statistics.mean(values)), fmt.format(min(values)), fmt.format(max(values))
    )


def table(runs):
    reports = [r for r, _ in runs]
    configs = [c for _, c in runs]
    train = configs[0].get("train", {})
    seeds = [str(c.get("train", {}).get("seed", "?")) for c in configs]
    threads = train.get("threads", 0)
    ranks = os.environ.get("SKYSSL_EXAMPLE_RANKS", "2")
    meta = reports[0].get("meta", {})
    machine = cpu_model(platform.processor() or "unknown CPU")
    lines = [
        f"Machine: {machine}, {os.cpu_count()} logical CPUs; {ranks} ranks, "
        f"train.threads = {threads}"
        + (" (LibTorch's default)" if threads == 0 else "")
        + f"; {train.get('epochs', '?')} epochs.",
        f"Runs: {len(runs)} (train.seed = {', '.join(seeds)})"
        + ("; each cell: mean (lowest-highest) over the runs." if len(runs) > 1 else "."),
        f"Morphology on {meta.get('morphology_test', '?')} test galaxies, photo-z on "
        f"{meta.get('photo_z_test', '?')}, self-retrieval among "
        f"{reports[0].get('self_retrieval', {}).get('ssl', {}).get('count', '?')} galaxies.",
        "",
        "| encoder | " + " | ".join(c[0] for c in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for key, name in ENCODERS:
        if not any(key in r.get(t, {}) for r in reports for t in ("morphology", "photo_z")):
            continue
        cells = [cell([figure(r, t, key, m) for r in reports], f) for _, t, m, f in COLUMNS]
        lines.append(f"| {name.format(epochs=train.get('epochs', '?'))} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run directories (each with config.toml and eval/eval.json)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()
    text = table([load_run(r) for r in args.runs])
    if args.out:
        pathlib.Path(args.out).write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
