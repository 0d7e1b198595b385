#!/usr/bin/env python3
"""Every tracked shell script parses and is shellcheck-clean.

    check_shell_scripts.py --root SOURCE_DIR [--shellcheck PROGRAM] [--list] [--self-test]

The scripts are found, not listed: each file `git ls-files` names whose name ends in .sh, .bash
or .sbatch, or whose first line is a sh/bash shebang (`#!/bin/sh`, `#!/usr/bin/env bash`, ...).
A new script is covered the day it is committed (or `git add`ed). Each one must pass `bash -n`
(`sh -n` under a sh shebang) and `shellcheck -x` run from the source root, so the
`source-path=SCRIPTDIR` and `source=` directives resolve as they do for a person running
shellcheck by hand. Findings are fixed in the script, or silenced by a targeted
`# shellcheck disable=SCxxxx` with the reason beside it where the code is right.

Fails (no skip) when shellcheck is not installed (scripts/setup.sh installs it) or the source
root is not a git checkout. --self-test plants scripts in a throwaway git repository and checks
that each planted error is reported and the clean ones are not.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SUFFIXES = (".sh", ".bash", ".sbatch")
SHEBANG = re.compile(rb"^#!\s*\S*/(?:env\s+(?:-S\s+)?)?(sh|bash|dash)(?:\s|$)")


def shell_of(path):
    """'sh' or 'bash' when path is a shell script by name or shebang, else None."""
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except (IsADirectoryError, FileNotFoundError, PermissionError):
        return None
    m = SHEBANG.match(first)
    if m:
        return "bash" if m.group(1) == b"bash" else "sh"
    if path.endswith(SUFFIXES):
        return "bash"
    return None


def scripts(root):
    r = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True)
    if r.returncode != 0:
        sys.exit(f"{root}: git ls-files failed ({r.stderr.decode().strip()}): the list of "
                 "scripts comes from git, run this from a git checkout")
    out = []
    for name in sorted(r.stdout.decode().split("\0")):
        if not name or os.path.islink(os.path.join(root, name)):
            continue
        sh = shell_of(os.path.join(root, name))
        if sh:
            out.append((name, sh))
    return out


def problems(root, shellcheck):
    """(number of scripts, list of problems) for the tracked scripts under root."""
    found = scripts(root)
    out = []
    for name, sh in found:
        r = subprocess.run([sh, "-n", name], cwd=root, capture_output=True, text=True)
        if r.returncode != 0:
            out.append(f"{name}: {sh} -n: {r.stderr.strip()}")
    if found:
        r = subprocess.run([shellcheck, "-x", "--format=gcc"] + [n for n, _ in found], cwd=root,
                           capture_output=True, text=True)
        out += [line for line in r.stdout.splitlines() if line.strip()]
        if r.returncode != 0 and not r.stdout.strip():
            out.append(f"shellcheck exited {r.returncode}: {r.stderr.strip()}")
    return len(found), out


def self_test(shellcheck):
    planted = {
        # name: (content, executable?)
        "clean.sh": '#!/usr/bin/env bash\nset -euo pipefail\necho "$1"\n',
        "sourced.sh": '# shellcheck shell=bash\nx=${1:-}\nexport x\n',
        "unquoted.sh": '#!/bin/bash\nfor a in $@; do echo "$a"; done\n',          # SC2068
        "job.sbatch": '#!/bin/bash\n#SBATCH -N 1\ncd $HOME/run\n',                  # SC2164
        "tools/noext": '#!/usr/bin/env bash\nif [ $# = 0 ]; then echo "$1" fi\n',   # bash -n
        "tools/posix": '#!/bin/sh\nf() { local x=1; echo "$x"; }\nf\n',           # SC3043
        "notes.txt": "for a in $@; do echo $a; done\n",                              # not a script
        "tool.py": "#!/usr/bin/env python3\nprint('x $@')\n",                        # not a script
    }
    want = ["unquoted.sh:2:", "job.sbatch:3:", "tools/noext: bash -n", "tools/posix:2:"]
    with tempfile.TemporaryDirectory() as d:
        for name, text in planted.items():
            os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        # An untracked script is not the repository's: it is left alone.
        with open(os.path.join(d, "untracked.sh"), "w") as f:
            f.write('#!/bin/bash\necho $1\n')
        subprocess.run(["git", "init", "-q", d], check=True)
        subprocess.run(["git", "-C", d, "add"] + list(planted), check=True)
        listed = [n for n, _ in scripts(d)]
        n, found = problems(d, shellcheck)
    ok = True
    expect_listed = ["clean.sh", "job.sbatch", "sourced.sh", "tools/noext", "tools/posix",
                     "unquoted.sh"]
    if listed != expect_listed:
        print(f"self-test: scripts found {listed}, expected {expect_listed}", file=sys.stderr)
        ok = False
    for w in want:
        if not any(f.startswith(w) for f in found):
            print(f"self-test: not reported: {w}", file=sys.stderr)
            ok = False
    for f in found:
        if f.startswith(("clean.sh", "sourced.sh", "notes.txt", "tool.py", "untracked.sh")):
            print(f"self-test: a clean or non-script file was flagged: {f}", file=sys.stderr)
            ok = False
    # No shellcheck: a failure, not a pass.
    r = subprocess.run([sys.executable, __file__, "--root", os.path.dirname(__file__),
                        "--shellcheck", "/nonexistent/shellcheck"], capture_output=True, text=True)
    if r.returncode == 0:
        print("self-test: a missing shellcheck was not a failure", file=sys.stderr)
        ok = False
    print("self-test: " + ("every planted error caught" if ok else f"FAILED: {found}"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the source tree (a git checkout)")
    ap.add_argument("--shellcheck", default="shellcheck")
    ap.add_argument("--list", action="store_true", help="print the scripts found and stop")
    ap.add_argument("--self-test", action="store_true",
                    help="check the check on planted scripts in a throwaway repository")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    if a.list:
        for name, sh in scripts(root):
            print(f"{sh}\t{name}")
        return 0
    shellcheck = shutil.which(a.shellcheck)
    if not shellcheck:
        print(f"{a.shellcheck}: not found; apt-get install shellcheck (scripts/setup.sh does)",
              file=sys.stderr)
        return 1
    if a.self_test:
        return self_test(shellcheck)
    n, out = problems(root, shellcheck)
    for p in out:
        print(p)
    print(f"{n} shell scripts, {len(out)} problems", file=sys.stderr)
    return 1 if out or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
