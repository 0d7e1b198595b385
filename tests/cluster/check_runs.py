"""Checks for tests/cluster/train_test.sh: placement lines, per-step losses, resume, modes.

Usage: check_runs.py WORK_DIR ONE_HOST_NAME CHECK...   (CHECK: placement losses resume modes)
Fails (exit 1) with a message naming the run and step at fault.
"""
import json
import os
import re
import sys

# The tolerance docs/distributed.md states for per-step losses of the same world size on
# another placement: the reduction runs over another transport, not another order, so a
# difference can only come from a different reduction algorithm.
REL_TOL = 1e-5
# The trainer's temporary names (train/durable_file.cpp, train/checkpoint.cpp).
HALF_WRITTEN = re.compile(r"^\.tmp-|^\..*\.tmp$")


def fail(msg):
    print(f"check_runs: FAIL: {msg}")
    sys.exit(1)


def losses(run):
    path = os.path.join(run, "metrics.jsonl")
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "loss" in r and "step" in r:
                out[r["step"]] = r["loss"]
    if not out:
        fail(f"{path} has no step records")
    return out


def placement(log):
    pat = re.compile(
        r"rank (\d+) of (\d+) on host (\S+): local rank (\d+) of (\d+) on this node, (\d+) node")
    found = {}
    with open(log) as f:
        for line in f:
            m = pat.search(line)
            if m:
                r, w, host, lr, on_node, nodes = m.groups()
                found[int(r)] = (int(w), host, int(lr), int(on_node), int(nodes))
    return found


def compare(name_a, a, name_b, b, steps):
    worst, identical = 0.0, True
    for s in steps:
        if s not in a or s not in b:
            fail(f"step {s} missing: {name_a} has {sorted(a)}, {name_b} has {sorted(b)}")
        d = abs(a[s] - b[s]) / max(abs(b[s]), 1e-12)
        identical &= a[s] == b[s]
        worst = max(worst, d)
        if d > REL_TOL:
            fail(f"step {s}: loss {a[s]!r} ({name_a}) vs {b[s]!r} ({name_b}), relative "
                 f"difference {d:.3g} > {REL_TOL}")
    print(f"check_runs: {name_a} vs {name_b}, steps {steps[0]}..{steps[-1]}: max relative "
          f"difference {worst:.3g} ({'bit-identical' if identical else 'within tolerance'})")


def nothing_half_written(run):
    for dirpath, dirs, files in os.walk(run):
        for f in files + dirs:
            if HALF_WRITTEN.search(f):
                fail(f"half-written file left: {os.path.join(dirpath, f)}")


def main():
    work, one_host_name, checks = sys.argv[1], sys.argv[2], sys.argv[3:]
    two, one = os.path.join(work, "two-hosts"), os.path.join(work, "one-host")
    if "placement" in checks:
        p2, p1 = placement(two + ".log"), placement(one + ".log")
        want2 = {0: (4, "n1", 0, 2, 2), 1: (4, "n1", 1, 2, 2),
                 2: (4, "n2", 0, 2, 2), 3: (4, "n2", 1, 2, 2)}
        if p2 != want2:
            fail(f"2-host placement lines {p2}, expected {want2}")
        want1 = {r: (4, one_host_name, r, 4, 1) for r in range(4)}
        if p1 != want1:
            fail(f"1-host placement lines {p1}, expected {want1}")
        print("check_runs: every rank reported host, local rank and node count (2 nodes / 1 node)")
    if "losses" in checks:
        compare("2 hosts x 2 ranks", losses(two), "1 host x 4 ranks", losses(one),
                list(range(1, 9)))
    if "resume" in checks:
        resumed = losses(os.path.join(work, "resumed"))
        if min(resumed) != 5:
            fail(f"the resumed run starts at step {min(resumed)}, not 5 (checkpoint at step 4)")
        compare("resumed on 1 host", resumed, "2 hosts x 2 ranks", losses(two), list(range(5, 9)))
    if "modes" in checks:
        compare("2 hosts shuffle_bn=local data.cache=memory",
                losses(os.path.join(work, "two-hosts-local-memory")), "1 host x 4 ranks",
                losses(one), list(range(1, 9)))
    for d in os.listdir(work):
        if os.path.isdir(os.path.join(work, d)):
            nothing_half_written(os.path.join(work, d))
    print("check_runs: ok")


if __name__ == "__main__":
    main()
