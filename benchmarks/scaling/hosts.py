"""`scaling.py run --hosts N`: skyssl-train on N emulated hosts (scripts/cluster.sh: network
namespaces on a bridge, root only) with the hosts' links shaped by tc (netem rate + delay; tbf, rate only, on kernels without netem), one
run per bandwidth plus one unshaped. Per step it measures the bytes each host sends (eth0
counters sampled at every metrics record; the slope over the run, so start-up traffic is not
counted) and the trainer's grad_sync and key_path phases; communication time at a bandwidth is
the phase time minus the same phase unshaped (what the link adds). Both are compared with
cost_model.comm_prediction for the same model, batch and placement.

Only the network is separate: the hosts share this machine's cores, so the unshaped phase
times are compute and scheduling, which the subtraction removes.
"""
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

import cost_model

# A SIGTERM (a timeout, a job's end) must still run the teardown in `finally`.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

PREFIX = "skyc-bench"


def cluster(root, *args, capture=False):
    env = dict(os.environ, CLUSTER_PREFIX=PREFIX)
    return subprocess.run(["bash", os.path.join(root, "scripts", "cluster.sh"), *args], env=env,
                          check=True, text=True,
                          stdout=subprocess.PIPE if capture else None).stdout


def tx_bytes(host):
    out = subprocess.run(["ip", "-n", f"{PREFIX}-{host}", "-s", "-j", "link", "show", "eth0"],
                         check=True, text=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)[0]["stats64"]["tx"]["bytes"]


def rate_bytes_per_s(rate):
    """tc rate syntax (100mbit, 1gbit, 500kbit) -> bytes/s."""
    units = {"gbit": 1e9, "mbit": 1e6, "kbit": 1e3, "bit": 1.0}
    for u, f in units.items():
        if rate.endswith(u):
            return float(rate[: -len(u)]) * f / 8
    raise SystemExit(f"scaling.py: --bandwidths takes tc rates like 100mbit or 1gbit, not '{rate}'")


def gradient_bytes(run_dir):
    """Bytes of the gradients all-reduced per step: the query encoder's parameters (float32),
    counted in the run's weights.pt (a TorchScript archive) with Debian's python3-torch."""
    code = ("import sys, torch; m = torch.jit.load(sys.argv[1]); "
            "print(sum(p.numel() for p in m.parameters()))")
    out = subprocess.run(["/usr/bin/python3", "-c", code, os.path.join(run_dir, "weights.pt")],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if out.returncode != 0:
        raise SystemExit(f"scaling.py: cannot count the parameters in {run_dir}/weights.pt "
                         f"(python3-torch): {out.stderr.strip()[-300:]}")
    return 4 * int(out.stdout.strip())


def one_run(root, train, archive, out, name, hosts, per_host, steps, sets):
    run_dir = os.path.join(out, name)
    subprocess.run(["rm", "-rf", run_dir], check=True)
    hostfile = f"/run/skyssl-cluster-{PREFIX}/hostfile"
    cmd = ["exec", "n1", "mpirun", "--hostfile", hostfile, "-n", str(hosts * per_host),
           "--map-by", "slot", train, "--preset", "example", "--run-dir", run_dir,
           "--resume", "never", "--set", f"data.path={archive}"]
    for s in sets:
        cmd += ["--set", s]
    samples = []  # (step, bytes sent by all hosts)
    done = threading.Event()

    def sample():
        seen = 0
        path = os.path.join(run_dir, "metrics.jsonl")
        while not done.is_set():
            try:
                with open(path) as f:
                    steps_now = [json.loads(x)["step"] for x in f if '"loss"' in x]
            except (OSError, ValueError):
                steps_now = []
            if steps_now and steps_now[-1] > seen:
                seen = steps_now[-1]
                samples.append((seen, sum(tx_bytes(f"n{h}") for h in range(1, hosts + 1))))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    t0 = time.time()
    with open(run_dir + ".log", "w") as log:
        env = dict(os.environ, CLUSTER_PREFIX=PREFIX)
        rc = subprocess.run(["bash", os.path.join(root, "scripts", "cluster.sh"), *cmd],
                            stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    done.set()
    t.join()
    if rc != 0:
        sys.stderr.write(open(run_dir + ".log").read()[-3000:])
        raise SystemExit(f"scaling.py: run {name} failed (exit {rc}); log {run_dir}.log")
    recs = [json.loads(x) for x in open(os.path.join(run_dir, "metrics.jsonl")) if '"loss"' in x]
    use = [r for r in recs if r["step"] > 2]  # the first steps hold start-up
    phase = {p: statistics.median(r["phases"][p] for r in use) for p in ("grad_sync", "key_path")}
    usable = [s for s in samples if s[0] >= 2]
    if len(usable) < 2:
        raise SystemExit(f"scaling.py: too few byte samples in run {name} ({samples})")
    (s0, b0), (s1, b1) = usable[0], usable[-1]
    per_step = (b1 - b0) / (s1 - s0) / hosts  # bytes each host sends per step
    print(f"{name}: {time.time() - t0:.0f} s, {per_step / 1e6:.2f} MB sent per host and step, "
          f"grad_sync {phase['grad_sync'] * 1e3:.0f} ms, key_path {phase['key_path'] * 1e3:.0f} ms",
          flush=True)
    return {"name": name, "bytes_per_host_step": per_step, "phases": phase}


def run(a, root, train, archive, out):
    hosts, per_host = a.hosts, a.ranks_per_host
    if hosts < 2:
        raise SystemExit("scaling.py: --hosts needs at least 2 hosts (one host sends nothing)")
    ranks = hosts * per_host
    g = ranks * a.local_batch
    sets = [f"train.global_batch={g}", f"moco.bn_group={a.local_batch}", f"moco.K={8 * g}",
            f"train.max_steps={a.steps}", "train.log_every=1", "train_eval.enabled=false",
            "checkpoint.every_steps=0", "checkpoint.every_minutes=0", "train.threads=1"] + a.set
    cluster(root, "up", str(hosts), str(per_host))
    try:
        results = [one_run(root, train, archive, out, "hosts-unshaped", hosts, per_host,
                           a.steps, sets)]
        for bw in a.bandwidths:
            kind = cluster(root, "shape", bw, a.delay, capture=True).strip()
            results.append(one_run(root, train, archive, out, f"hosts-{bw}", hosts, per_host,
                                   a.steps, sets))
            results[-1].update(rate=bw, qdisc=kind)
        cluster(root, "shape", "off")
    finally:
        cluster(root, "down")
    # The model's view of the same step: parameters from the config, keys and images per rank.
    cfg = open(os.path.join(out, "hosts-unshaped", "config.toml")).read()
    grad_bytes = gradient_bytes(os.path.join(out, "hosts-unshaped"))
    base = results[0]["phases"]
    rows = []
    for r in results[1:]:
        pred = cost_model.comm_prediction(
            grad_bytes=grad_bytes, ranks=ranks, ranks_per_node=per_host,
            link_bytes_per_s=rate_bytes_per_s(r["rate"]), latency_s=parse_ms(a.delay),
            key_bytes_per_rank=a.local_batch * 128 * 4,
            image_bytes_per_rank=a.local_batch * image_bytes(cfg),
            shuffle_gather="shuffle_bn = \"gather\"" in cfg,
            algorithm="mpi_nonblocking" if watchdog_on(cfg) else "mpi")
        meas = {p: max(0.0, r["phases"][p] - base[p]) for p in ("grad_sync", "key_path")}
        rows.append({"rate": r["rate"], "delay": a.delay, "qdisc": r["qdisc"], "pred": pred, "measured_s": meas,
                     "measured_bytes": r["bytes_per_host_step"],
                     "unshaped_bytes": results[0]["bytes_per_host_step"]})
    with open(os.path.join(out, "hosts.json"), "w") as f:
        json.dump({"hosts": hosts, "ranks_per_host": per_host, "local_batch": a.local_batch,
                   "gradient_bytes": grad_bytes,
                   "runs": results, "comparison": rows}, f, indent=2)
    print(f"\n| link | bytes/host/step predicted | measured | ratio | grad all-reduce s predicted "
          f"| measured | ratio | key path s predicted | measured | ratio |")
    print("|" + "---|" * 10)
    for r in rows:
        p, m = r["pred"], r["measured_s"]

        def ratio(x, y):
            return f"{x / y:.2f}" if y > 0 else "n/a"
        pb = p["grad_bytes_out"] + p["key_bytes_out"]
        print(f"| {r['rate']} ({r['qdisc']}), {r['delay']} | {pb / 1e6:.2f} MB | {r['measured_bytes'] / 1e6:.2f} MB "
              f"| {ratio(pb, r['measured_bytes'])} | {p['grad_s']:.3f} | {m['grad_sync']:.3f} "
              f"| {ratio(p['grad_s'], m['grad_sync'])} | {p['key_s']:.3f} | {m['key_path']:.3f} "
              f"| {ratio(p['key_s'], m['key_path'])} |")
    print(f"wrote {out}/hosts.json")


def watchdog_on(cfg_toml):
    """True when the run's dist.timeout_s > 0: its collectives are non-blocking (libnbc)."""
    m = re.search(r"^\s*timeout_s\s*=\s*([0-9.eE+-]+)", cfg_toml, re.M)
    return bool(m) and float(m.group(1)) > 0


def parse_ms(delay):
    if delay.endswith("ms"):
        return float(delay[:-2]) / 1e3
    if delay.endswith("us"):
        return float(delay[:-2]) / 1e6
    if delay.endswith("s"):
        return float(delay[:-1])
    raise SystemExit(f"scaling.py: --delay takes tc times like 1ms, not '{delay}'")


def image_bytes(cfg_toml):
    """Bytes of one cropped view: bands x crop x crop float32 (the shuffle-BN gather moves them)."""
    crop, bands = 48, 3
    for line in cfg_toml.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "crop":
            crop = int(v.split("#")[0])
    return bands * crop * crop * 4




def bench_rows(text):
    """{operation: (raw ms, ours ms)} from bench_comm's table."""
    rows = {}
    for line in text.splitlines():
        parts = line.rsplit(None, 3)
        if len(parts) == 4 and parts[3].endswith("%"):
            try:
                rows[parts[0].strip()] = (float(parts[1]), float(parts[2]))
            except ValueError:
                pass
    return rows


def run_comm(a, root, build, out):
    """--comm-only: the collectives alone (bench_comm) instead of training steps: one
    gradient-sized all-reduce and the key all-gather, per bandwidth, against the model."""
    bench = os.path.join(build, "benchmarks", "comm", "bench_comm")
    if not os.access(bench, os.X_OK):
        raise SystemExit(f"scaling.py: {bench} is not built (cmake --build {build} --target "
                         "bench_comm)")
    hosts, per_host, iters = a.hosts, a.ranks_per_host, a.iters
    ranks = hosts * per_host
    hostfile = f"/run/skyssl-cluster-{PREFIX}/hostfile"
    # Calls per run (bench_comm: one warm-up of raw and ours, then `iters` of each, for the
    # plain and the watchdog row; the all-gather runs 10x the iterations).
    grad_calls, key_calls = 2 * (2 + 2 * iters), 2 * (2 + 20 * iters)

    def bench_run(name, extra):
        cmd = ["exec", "n1", "mpirun", "--hostfile", hostfile, "-n", str(ranks), "--map-by",
               "slot", bench, "--iters", str(iters), "--skip-bucketer"] + extra
        before = sum(tx_bytes(f"n{h}") for h in range(1, hosts + 1))
        text = cluster(root, *cmd, capture=True)
        sent = sum(tx_bytes(f"n{h}") for h in range(1, hosts + 1)) - before
        with open(os.path.join(out, name + ".log"), "w") as f:
            f.write(text)
        return bench_rows(text), sent / hosts

    key_bytes = a.keys_per_rank * 128 * 4
    cluster(root, "up", str(hosts), str(per_host))
    results = []
    try:
        for bw in ["unshaped"] + a.bandwidths:
            kind = "none"
            if bw != "unshaped":
                kind = cluster(root, "shape", bw, a.delay, capture=True).strip()
            g_rows, g_sent = bench_run(f"comm-{bw}-grads", ["--grad-floats", str(a.grad_floats),
                                                            "--keys-per-rank", "0"])
            k_rows, k_sent = bench_run(f"comm-{bw}-keys", ["--grad-floats", "-1",
                                                           "--keys-per-rank",
                                                           str(a.keys_per_rank)])
            g = next(v for k, v in g_rows.items() if k.endswith("(all_reduce_sum)"))
            k = next(v for k, v in k_rows.items() if k.endswith("(all_gather)"))
            results.append({"rate": bw, "qdisc": kind, "grad_ms": g, "key_ms": k,
                            "grad_bytes_per_call": g_sent / grad_calls,
                            "key_bytes_per_call": k_sent / key_calls})
            print(f"{bw}: all-reduce {g[1]:.1f} ms (raw {g[0]:.1f}), "
                  f"{results[-1]['grad_bytes_per_call'] / 1e6:.2f} MB per host; all-gather "
                  f"{k[1]:.2f} ms, {results[-1]['key_bytes_per_call'] / 1e6:.3f} MB per host",
                  flush=True)
        if len(a.bandwidths):
            cluster(root, "shape", "off")
    finally:
        cluster(root, "down")
    print(f"\n{hosts} hosts x {per_host} ranks; all-reduce of {a.grad_floats} float32 "
          f"({4 * a.grad_floats / 1e6:.1f} MB), all-gather of {a.keys_per_rank}x128 float32 per "
          "rank; bytes are what each host sends per call (eth0), times the slowest rank's median")
    # The benchmark's calls per run: every row times raw MPI and ours, a warm-up and `iters`
    # each; the watchdog row's "ours" is a non-blocking call (libnbc), all the others blocking.
    nonblocking = (1 + iters) / (2 * (2 + 2 * iters))
    print("\nmodel: \"mpi\" for OpenMPI's blocking calls and \"mpi_nonblocking\" for the watchdog's, "
          f"mixed as the benchmark calls them ({100 * nonblocking:.0f}% non-blocking); \"nccl\" is "
          "the ring model of the Perlmutter table, shown for its bytes. Times: the blocking row.")
    print("\n| link | all-reduce MB/host nccl | mpi | measured | mpi/measured | all-reduce ms mpi | "
          "measured | ratio | all-gather MB/host nccl | mpi | measured | mpi/measured | "
          "all-gather ms mpi | measured | ratio |")
    print("|" + "---|" * 15)
    for r in results[1:]:
        def predict(algorithm):
            return cost_model.comm_prediction(
                grad_bytes=4 * a.grad_floats, ranks=ranks, ranks_per_node=per_host,
                link_bytes_per_s=rate_bytes_per_s(r["rate"]), latency_s=parse_ms(a.delay),
                key_bytes_per_rank=key_bytes, algorithm=algorithm)
        ring, blocking, nonblk = predict("nccl"), predict("mpi"), predict("mpi_nonblocking")
        mixed = {k: (1 - nonblocking) * blocking[k] + nonblocking * nonblk[k] for k in blocking}
        r["pred"] = {"nccl": ring, "mpi": blocking, "mpi_nonblocking": nonblk, "mixed": mixed}
        gm, km = r["grad_ms"][1] / 1e3, r["key_ms"][1] / 1e3
        gb, kb = r["grad_bytes_per_call"], r["key_bytes_per_call"]
        print(f"| {r['rate']} ({r['qdisc']}) | {ring['grad_bytes_out'] / 1e6:.2f} | "
              f"{mixed['grad_bytes_out'] / 1e6:.2f} | {gb / 1e6:.2f} | "
              f"{mixed['grad_bytes_out'] / gb:.2f} | {1e3 * blocking['grad_s']:.0f} | "
              f"{1e3 * gm:.0f} | {blocking['grad_s'] / gm:.2f} | "
              f"{ring['key_bytes_out'] / 1e6:.3f} | {mixed['key_bytes_out'] / 1e6:.3f} | "
              f"{kb / 1e6:.3f} | {mixed['key_bytes_out'] / kb:.2f} | "
              f"{1e3 * blocking['key_s']:.1f} | {1e3 * km:.1f} | {blocking['key_s'] / km:.2f} |")
    u = results[0]
    print(f"\nunshaped links: all-reduce {u['grad_ms'][1]:.1f} ms, all-gather {u['key_ms'][1]:.2f} ms")
    with open(os.path.join(out, "hosts_comm.json"), "w") as f:
        json.dump({"hosts": hosts, "ranks_per_host": per_host, "grad_floats": a.grad_floats,
                   "keys_per_rank": a.keys_per_rank, "iters": iters, "results": results}, f,
                  indent=2)
    print(f"wrote {out}/hosts_comm.json")
