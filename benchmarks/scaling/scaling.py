#!/usr/bin/python3
"""Weak and strong scaling of skyssl-train: short training runs over a list of rank counts,
reported as CSV, JSON and PNG plots (images/s, efficiency, where the step time goes).

  weak:   a fixed batch per rank (global batch = ranks x --local-batch)
  strong: a fixed global batch (--global-batch), split over the ranks

Every run uses the same step shape: moco.bn_group is the smallest per-rank batch of the study,
and moco.K holds 16 global batches. Images/s is the median over a run's metrics records after
the first (which holds start-up); phase times are the trainer's (metrics "phases").

  # locally (mpiexec), both studies at 1 and 2 ranks, into build/scaling:
  benchmarks/scaling/scaling.py run --ranks 1 2
  # inside a Slurm job (jobscripts/perlmutter/scaling.sbatch): the job script launches each run
  # with its site's launcher, asking this driver for the overrides, then reports:
  benchmarks/scaling/scaling.py sets --mode weak --ranks 8 --local-batch 256
  benchmarks/scaling/scaling.py report --out DIR [--ranks-per-node 4]
  # on 2 emulated hosts x 2 ranks (root; scripts/cluster.sh), links shaped to 100 and 400 Mbit/s:
  benchmarks/scaling/scaling.py run --hosts 2 --bandwidths 100mbit 400mbit --local-batch 16
  # the collectives alone (bench_comm) on the same shaped links:
  benchmarks/scaling/scaling.py run --hosts 2 --comm-only --bandwidths 200mbit 1gbit

Run directories are OUT/<mode>-r<ranks>; outputs OUT/scaling.csv, OUT/scaling.json,
OUT/scaling_<mode>.png.
"""
import argparse
import csv
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHASES = ["read_wait", "to_device", "query_forward", "key_path", "loss", "backward",
          "grad_sync", "optimizer", "enqueue", "checkpoint", "other"]


def fail(msg):
    print(f"scaling.py: {msg}", file=sys.stderr)
    sys.exit(1)


def run_sets(mode, ranks, local_batch, global_batch, min_local, steps, log_every):
    """The config overrides of one run (a list of section.key=value)."""
    if mode == "weak":
        g = ranks * local_batch
    elif mode == "strong":
        g = global_batch
        if g % ranks:
            fail(f"--global-batch {g} does not split over {ranks} ranks (strong scaling)")
    else:
        fail(f"--mode must be weak or strong, got '{mode}'")
    local = g // ranks
    group = min(min_local, local)
    if local % group:
        fail(f"per-rank batch {local} is not a multiple of the BN group {group}")
    return [f"train.global_batch={g}", f"moco.bn_group={group}", f"moco.K={16 * g}",
            f"train.max_steps={steps}", f"train.log_every={log_every}", "train_eval.enabled=false",
            "checkpoint.every_steps=0", "checkpoint.every_minutes=0"]


def min_local_batch(mode, ranks_list, local_batch, global_batch):
    if mode == "weak":
        return local_batch
    return global_batch // max(ranks_list)


def read_run(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path):
        fail(f"{path} is missing: the run failed or has not run (see {run_dir}.log)")
    recs, start = [], {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            j = json.loads(line)
            if j.get("event") == "start":
                start = j
            elif "event" not in j:
                recs.append(j)
    if not recs:
        fail(f"{path} holds no step records")
    use = recs[1:] or recs
    ips = statistics.median(r["images_per_s"] for r in use)
    step = statistics.median(r["step_s"] for r in use)
    phases = {p: statistics.mean(r.get("phases", {}).get(p, 0.0) for r in use) for p in PHASES}
    return {"images_per_s": ips, "step_s": step, "phases": phases,
            "world": start.get("world"), "records": len(recs)}


def report(out, rows):
    """rows: dicts with mode, ranks, nodes, global_batch, local_batch, run_dir."""
    results = []
    for mode in ("weak", "strong"):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["ranks"])
        if not mine:
            continue
        base = None
        for r in mine:
            m = read_run(r["run_dir"])
            if m["world"] is not None and m["world"] != r["ranks"]:
                fail(f"{r['run_dir']} ran on {m['world']} ranks, expected {r['ranks']}")
            if base is None:
                base = (r["ranks"], m["images_per_s"])
            # Ideal: images/s grows with the rank count (weak and strong alike).
            eff = m["images_per_s"] / (base[1] * r["ranks"] / base[0])
            results.append({**{k: r[k] for k in ("mode", "nodes", "ranks", "global_batch",
                                                  "local_batch")},
                            "images_per_s": m["images_per_s"], "step_s": m["step_s"],
                            "efficiency": eff, "phases": m["phases"]})
    if not results:
        fail(f"no runs to report in {out}")
    with open(os.path.join(out, "scaling.json"), "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "host": os.uname().nodename, "results": results}, f, indent=2)
    with open(os.path.join(out, "scaling.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "nodes", "ranks", "global_batch", "local_batch", "images_per_s",
                    "step_s", "efficiency"] + [f"{p}_s" for p in PHASES])
        for r in results:
            w.writerow([r["mode"], r["nodes"], r["ranks"], r["global_batch"], r["local_batch"],
                        f"{r['images_per_s']:.3f}", f"{r['step_s']:.5f}",
                        f"{r['efficiency']:.4f}"] + [f"{r['phases'][p]:.5f}" for p in PHASES])
    for mode in ("weak", "strong"):
        mine = [r for r in results if r["mode"] == mode]
        if mine:
            plot(os.path.join(out, f"scaling_{mode}.png"), mode, mine)
    print(f"{'mode':<7}{'nodes':>6}{'ranks':>6}{'global':>8}{'images/s':>11}{'step s':>9}"
          f"{'eff':>8}  largest phases")
    for r in results:
        top = sorted(((v, p) for p, v in r["phases"].items()), reverse=True)[:3]
        tops = ", ".join(f"{p} {100 * v / r['step_s']:.0f}%" for v, p in top if r["step_s"] > 0)
        print(f"{r['mode']:<7}{r['nodes']:>6}{r['ranks']:>6}{r['global_batch']:>8}"
              f"{r['images_per_s']:>11.1f}{r['step_s']:>9.3f}{100 * r['efficiency']:>7.1f}%  {tops}")
    print(f"wrote {out}/scaling.csv, scaling.json, scaling_<mode>.png")
    return results


def plot(path, mode, results):
    """Two panels, PIL only (no matplotlib on the target machines): images/s against ranks with
    the ideal line, and the step's phase breakdown as stacked bars."""
    from PIL import Image, ImageDraw
    W, H, pad = 900, 420, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    ranks = [r["ranks"] for r in results]
    ips = [r["images_per_s"] for r in results]
    ideal = [ips[0] * k / ranks[0] for k in ranks]
    pw = (W - 3 * pad) // 2
    # Panel 1: images/s.
    x0, y0, x1, y1 = pad, pad, pad + pw, H - pad
    ymax = max(ideal + ips) * 1.1
    n = len(ranks)

    def px(i):
        return x0 + (x1 - x0) * (i + 0.5) / n

    def py(v):
        return y1 - (y1 - y0) * v / ymax

    d.rectangle([x0, y0, x1, y1], outline="black")
    for i, k in enumerate(ranks):
        d.text((px(i) - 6, y1 + 6), str(k), fill="black")
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        v = ymax * frac
        d.line([x0 - 4, py(v), x0, py(v)], fill="black")
        d.text((4, py(v) - 6), f"{v:.0f}", fill="black")
    for series, colour in ((ideal, (150, 150, 150)), (ips, (31, 119, 180))):
        pts = [(px(i), py(v)) for i, v in enumerate(series)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=3)
        for x, y in pts:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
    d.text((x0, 12), f"{mode} scaling: images/s (blue) vs ideal (grey)", fill="black")
    d.text(((x0 + x1) // 2 - 15, H - 22), "ranks", fill="black")
    for i, r in enumerate(results):
        d.text((px(i) - 14, py(r["images_per_s"]) - 20), f"{100 * r['efficiency']:.0f}%",
               fill=(31, 119, 180))
    # Panel 2: phases of the step, stacked, seconds per step.
    colours = [(127, 127, 127), (188, 189, 34), (31, 119, 180), (255, 127, 14), (140, 86, 75),
               (44, 160, 44), (214, 39, 40), (148, 103, 189), (227, 119, 194), (23, 190, 207),
               (200, 200, 200)]
    x0 = 2 * pad + pw
    x1 = x0 + pw
    smax = max(max(r["step_s"], sum(r["phases"].values())) for r in results) * 1.1
    d.rectangle([x0, y0, x1, y1], outline="black")
    bw = (x1 - x0) / n * 0.6
    for i, r in enumerate(results):
        cx = x0 + (x1 - x0) * (i + 0.5) / n
        y = y1
        for p, c in zip(PHASES, colours):
            h = (y1 - y0) * r["phases"][p] / smax
            if h > 0:
                d.rectangle([cx - bw / 2, y - h, cx + bw / 2, y], fill=c)
            y -= h
        d.text((cx - 6, y1 + 6), str(r["ranks"]), fill="black")
        d.text((cx - 16, y - 14), f"{1e3 * r['step_s']:.0f}ms", fill="black")
    d.text((x0, 12), "seconds per step by phase", fill="black")
    legend = Image.new("RGB", (W + 130, H), "white")
    legend.paste(img, (0, 0))
    d2 = ImageDraw.Draw(legend)
    ly = y0 + 4
    for p, c in zip(PHASES, colours):
        d2.rectangle([W + 4, ly, W + 14, ly + 10], fill=c)
        d2.text((W + 18, ly - 1), p, fill="black")
        ly += 14
    legend.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--local-batch", type=int, default=32, help="weak: images per rank")
    common.add_argument("--global-batch", type=int, default=64, help="strong: images per step")
    common.add_argument("--steps", type=int, default=24, help="steps per run")
    common.add_argument("--log-every", type=int, default=4, help="steps per metrics record")
    r = sub.add_parser("run", parents=[common], help="run the studies locally and report")
    r.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    r.add_argument("--mode", choices=["weak", "strong", "both"], default="both")
    r.add_argument("--launcher", default="mpiexec -n {ranks} --oversubscribe",
                   help="command prefix; {ranks} and {nodes} are filled in")
    r.add_argument("--build", default=os.environ.get("SKYSSL_BUILD_DIR", os.path.join(ROOT, "build")))
    r.add_argument("--archive", help="survey archive (default: a 2,048-galaxy synthetic one)")
    r.add_argument("--preset", default="example")
    r.add_argument("--set", action="append", default=[], help="extra config override")
    r.add_argument("--threads", type=int, default=1, help="train.threads per rank")
    r.add_argument("--out", default=None, help="output directory (default BUILD/scaling)")
    r.add_argument("--hosts", type=int, default=0,
                   help="run on this many emulated hosts instead (scripts/cluster.sh, root): "
                        "communication bytes and time per step at each of --bandwidths against "
                        "cost_model.py (benchmarks/scaling/hosts.py)")
    r.add_argument("--ranks-per-host", type=int, default=2)
    r.add_argument("--bandwidths", nargs="+", default=["100mbit", "400mbit"],
                   help="tc rates of the hosts' links (--hosts)")
    r.add_argument("--delay", default="0ms",
                   help="latency added to each host's link (--hosts; needs the kernel's netem)")
    r.add_argument("--comm-only", action="store_true",
                   help="--hosts: time the collectives alone (bench_comm), no training")
    r.add_argument("--grad-floats", type=int, default=4_000_000,
                   help="--comm-only: float32 values all-reduced")
    r.add_argument("--keys-per-rank", type=int, default=1024,
                   help="--comm-only: 128-d keys all-gathered per rank")
    r.add_argument("--iters", type=int, default=3, help="--comm-only: timed calls per variant")
    s = sub.add_parser("sets", parents=[common], help="print one run's config overrides")
    s.add_argument("--mode", choices=["weak", "strong"], required=True)
    s.add_argument("--ranks", type=int, required=True)
    s.add_argument("--all-ranks", type=int, nargs="+", help="the study's rank counts (strong)")
    p = sub.add_parser("report", help="collect OUT/<mode>-r<ranks> runs into CSV, JSON, PNG")
    p.add_argument("--out", required=True)
    p.add_argument("--ranks-per-node", type=int, default=0, help="nodes = ranks / this (0: 1 node)")
    a = ap.parse_args()

    if a.cmd == "sets":
        ranks_list = a.all_ranks or [a.ranks]
        ml = min_local_batch(a.mode, ranks_list, a.local_batch, a.global_batch)
        for x in run_sets(a.mode, a.ranks, a.local_batch, a.global_batch, ml, a.steps, a.log_every):
            print(x)
        return
    if a.cmd == "report":
        rows = []
        for name in sorted(os.listdir(a.out)):
            full = os.path.join(a.out, name)
            if not os.path.isdir(full) or "-r" not in name:
                continue
            mode, _, rk = name.partition("-r")
            if mode not in ("weak", "strong") or not rk.isdigit():
                continue
            cfg_path = os.path.join(full, "config.toml")
            g = lb = 0
            if os.path.exists(cfg_path):
                for line in open(cfg_path):
                    if line.startswith("global_batch"):
                        g = int(line.split("=")[1])
            ranks = int(rk)
            lb = g // ranks if g else 0
            rows.append({"mode": mode, "ranks": ranks, "run_dir": full, "global_batch": g,
                         "local_batch": lb,
                         "nodes": ranks // a.ranks_per_node if a.ranks_per_node else 1})
        report(a.out, rows)
        return

    if a.hosts and a.comm_only:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import hosts
        out = a.out or os.path.join(a.build, "scaling")
        os.makedirs(out, exist_ok=True)
        hosts.run_comm(a, ROOT, a.build, out)
        return
    train = os.path.join(a.build, "apps", "train", "skyssl-train")
    prep = os.path.join(a.build, "apps", "prep", "skyssl-prep")
    for exe in (train, prep):
        if not os.access(exe, os.X_OK):
            fail(f"{exe} is not built (cmake --build {a.build}); or pass --build")
    out = a.out or os.path.join(a.build, "scaling")
    os.makedirs(out, exist_ok=True)
    archive = a.archive
    if not archive:
        archive = os.path.join(out, "survey.h5")
        if not os.path.exists(archive):
            subprocess.run(shlex.split(a.launcher.format(ranks=2, nodes=1)) +
                           [prep, "synth", "--out", archive, "--count", "2048", "--size", "64",
                            "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    elif not os.path.exists(archive):
        fail(f"--archive {archive} does not exist")
    if a.hosts:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import hosts
        hosts.run(a, ROOT, train, archive, out)
        return
    modes = ["weak", "strong"] if a.mode == "both" else [a.mode]
    rows = []
    for mode in modes:
        ml = min_local_batch(mode, a.ranks, a.local_batch, a.global_batch)
        for ranks in a.ranks:
            run_dir = os.path.join(out, f"{mode}-r{ranks}")
            subprocess.run(["rm", "-rf", run_dir], check=True)
            sets = run_sets(mode, ranks, a.local_batch, a.global_batch, ml, a.steps, a.log_every)
            sets += [f'data.path="{archive}"', f"train.threads={a.threads}"] + a.set
            cmd = shlex.split(a.launcher.format(ranks=ranks, nodes=1)) + [
                train, "--preset", a.preset, "--run-dir", run_dir, "--resume", "never"]
            for x in sets:
                cmd += ["--set", x]
            t0 = time.time()
            with open(run_dir + ".log", "w") as log:
                rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                sys.stderr.write(open(run_dir + ".log").read()[-3000:])
                fail(f"{mode} run at {ranks} ranks failed (exit {rc}); log {run_dir}.log")
            g = int(sets[0].split("=")[1])
            print(f"{mode} {ranks} ranks: global batch {g}, {time.time() - t0:.0f} s", flush=True)
            rows.append({"mode": mode, "ranks": ranks, "nodes": 1, "run_dir": run_dir,
                         "global_batch": g, "local_batch": g // ranks})
    report(out, rows)


if __name__ == "__main__":
    main()
