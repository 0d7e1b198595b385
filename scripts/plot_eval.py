#!/usr/bin/python3
"""Plots of a skyssl-eval report (docs/evaluation.md), with Debian's python3-matplotlib.

    /usr/bin/python3 scripts/plot_eval.py RUN/eval

Reads eval.json and points.json in that directory and writes there:
  photoz_scatter.png  k-NN photo-z against spec-z, one panel per encoder
  label_curve.png     linear-probe accuracy (and the supervised baseline's, dashed) and k-NN
                      sigma_MAD against the number of labels
  pca.png             2-D PCA of each encoder's features, coloured by class (or redshift)
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["ssl", "random_init", "pixels", "supervised"]


def encoders(d):
    names = [e for e in ORDER if e in d] + [e for e in d if e not in ORDER and e != "trivial"]
    return names


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: plot_eval.py EVAL_DIR (the directory holding eval.json and points.json)")
    out = argv[1]
    try:
        with open(os.path.join(out, "eval.json")) as f:
            report = json.load(f)
        with open(os.path.join(out, "points.json")) as f:
            points = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"plot_eval.py: {e}")
    written = []

    pz = points.get("photo_z")
    if pz and "z_true" in pz:
        names = [e for e in encoders(pz) if e != "z_true"]
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
        zt = pz["z_true"]
        hi = max(zt) * 1.05
        for ax, e in zip(axes[0], names):
            m = report["photo_z"][e]
            ax.scatter(zt, pz[e]["z_knn"], s=3, alpha=0.5)
            ax.plot([0, hi], [0, hi], "k--", lw=0.8)
            ax.set_xlim(0, hi)
            ax.set_ylim(0, hi)
            ax.set_title(f"{e}: sigma_MAD {m['sigma_mad']:.4f}")
            ax.set_xlabel("spec-z")
        axes[0][0].set_ylabel("photo-z (k-NN)")
        fig.tight_layout()
        fig.savefig(os.path.join(out, "photoz_scatter.png"), dpi=110)
        written.append("photoz_scatter.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    drew = False
    if "morphology" in report:
        for e in encoders(report["morphology"]):
            c = [p for p in report["morphology"][e]["curve"] if "accuracy" in p]
            # The supervised baseline is a classifier trained on the labels, not a probe of
            # frozen features: dashed.
            style = "s--" if e == "supervised" else "o-"
            axes[0].plot([p["labels"] for p in c], [p["accuracy"] for p in c], style, label=e)
            drew = True
        axes[0].set_title("morphology: linear probe (supervised: trained)")
        axes[0].set_ylabel("accuracy")
    if "photo_z" in report:
        for e in encoders(report["photo_z"]):
            c = report["photo_z"][e]["curve"]
            axes[1].plot([p["labels"] for p in c], [p["sigma_mad"] for p in c], "o-", label=e)
            drew = True
        axes[1].set_title("photo-z: k-NN")
        axes[1].set_ylabel("sigma_MAD")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("training labels")
        if ax.lines:
            ax.legend()
    if drew:
        fig.tight_layout()
        fig.savefig(os.path.join(out, "label_curve.png"), dpi=110)
        written.append("label_curve.png")

    pca = points.get("pca")
    if pca:
        names = encoders(pca)
        fields = points.get("pca_fields", {})
        colour = fields.get("class") or fields.get("z")
        label = "class" if "class" in fields else "z"
        fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 4), squeeze=False)
        for ax, e in zip(axes[0], names):
            x, y = pca[e]["x"], pca[e]["y"]
            c = None
            if colour:
                c = [v if v is not None else float("nan") for v in colour[: len(x)]]
            sc = ax.scatter(x, y, c=c, s=3, cmap="coolwarm" if label == "class" else "viridis")
            ax.set_title(f"{e}: PCA, colour = {label}")
        if colour:
            fig.colorbar(sc, ax=axes[0].tolist())
        fig.savefig(os.path.join(out, "pca.png"), dpi=110)
        written.append("pca.png")
    print("plot_eval.py: wrote " + ", ".join(os.path.join(out, w) for w in written))


if __name__ == "__main__":
    main(sys.argv)
