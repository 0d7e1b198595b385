#!/usr/bin/env python3
"""Checks that ctest labels mean what the README's test section says they mean.

    check_ctest_labels.py --ctest CTEST --build BUILD --readme README.md

Reads the registered tests with `ctest --show-only=json-v1` (nothing is run) and fails, naming
each culprit, when:
  - a test carries a label the README's "## Tests" section does not document (documented: each
    back-quoted lower-case word of that section before "What the suite holds");
  - a test carries no kind label (KINDS) at all;
  - a `unit` test carries another kind label, or its command is mpiexec, srun, sh or bash
    (scripts that drive programs);
  - a test whose command is mpiexec lacks `mpi`.
"""
import argparse
import json
import os
import re
import subprocess
import sys

KINDS = {"unit", "mpi", "integration", "slurm", "cluster", "golden", "checkpoint", "fuzz",
         "browser", "gpu"}


def documented(readme):
    text = open(readme, encoding="utf-8").read()
    m = re.search(r"^## Tests\n(.*?)(?:^What the suite holds|^## )", text, re.S | re.M)
    if not m:
        sys.exit(f"{readme}: no '## Tests' section")
    return set(re.findall(r"`([a-z][a-z0-9_]*)`", m.group(1)))


def problems(tests, known):
    out = []
    for t in tests:
        name = t["name"]
        labels = set()
        for p in t.get("properties", []):
            if p["name"] == "LABELS":
                labels |= set(p["value"])
        cmd = os.path.basename((t.get("command") or [""])[0])
        for l in sorted(labels - known):
            out.append(f"{name}: label '{l}' is not documented in the README's test section")
        if not labels & KINDS:
            out.append(f"{name}: no kind label (one of {', '.join(sorted(KINDS))})")
        if "unit" in labels:
            for l in sorted((labels & KINDS) - {"unit"}):
                out.append(f"{name}: labelled unit and {l}")
            if cmd in ("mpiexec", "mpirun", "srun", "sh", "bash"):
                out.append(f"{name}: labelled unit but runs {cmd}")
        if cmd in ("mpiexec", "mpirun") and "mpi" not in labels:
            out.append(f"{name}: runs {cmd} but is not labelled mpi")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctest", default="ctest")
    ap.add_argument("--build", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--self-test", action="store_true",
                    help="check the checks on planted mislabelled tests")
    a = ap.parse_args()
    known = documented(a.readme)
    if a.self_test:
        planted = [
            {"name": "leak", "command": ["/usr/bin/mpiexec"],
             "properties": [{"name": "LABELS", "value": ["unit"]}]},
            {"name": "both", "command": ["x"],
             "properties": [{"name": "LABELS", "value": ["unit", "integration"]}]},
            {"name": "unknown", "command": ["x"],
             "properties": [{"name": "LABELS", "value": ["unit", "no_such_label"]}]},
            {"name": "kindless", "command": ["x"], "properties": []},
        ]
        found = problems(planted, known)
        want = ["leak: labelled unit but runs mpiexec", "leak: runs mpiexec but is not labelled mpi",
                "both: labelled unit and integration", "unknown: label 'no_such_label'",
                "kindless: no kind label"]
        missed = [w for w in want if not any(f.startswith(w) for f in found)]
        good = [{"name": "ok", "command": ["/usr/bin/mpiexec"],
                 "properties": [{"name": "LABELS", "value": ["mpi", "dist"]}]}]
        flagged = problems(good, known)
        for m in missed:
            print(f"self-test: not reported: {m}", file=sys.stderr)
        for f in flagged:
            print(f"self-test: a correct test was flagged: {f}", file=sys.stderr)
        ok = not missed and not flagged and len(found) == len(want)
        print("self-test: " + ("every planted mislabel caught" if ok else f"FAILED: {found}"))
        return 0 if ok else 1
    r = subprocess.run([a.ctest, "--show-only=json-v1"], cwd=a.build, capture_output=True,
                       text=True, check=True)
    tests = json.loads(r.stdout)["tests"]
    out = problems(tests, known)
    for p in out:
        print(p)
    print(f"{len(tests)} tests, {len(out)} label problems", file=sys.stderr)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
