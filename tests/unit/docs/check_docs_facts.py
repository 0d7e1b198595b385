#!/usr/bin/env python3
"""Checks that every flag, config key and file named in README.md and docs/*.md exists, and
that no line of them carries a date, a time of day or a remark on machine load.

    check_docs_facts.py --root REPO [--docs FILE ...]   # the repo's docs, or the files given
    check_docs_facts.py --root REPO --self-test         # the checks must catch planted errors

Exit 0 when every fact checks out; exit 1 listing each culprit as doc:line: what is wrong.
Reads the repository's files only: nothing is built or run.

What counts as a fact (the extraction rules):

  Text scanned: inline code spans (`...`) and fenced code blocks. Prose outside them is not
  checked, except Markdown link targets.

  Flags: a token `--name` (two dashes, lower-case letters, digits, dashes) in scanned text.
    Defined flags come from the sources of every program that a CMakeLists.txt under apps/,
    benchmarks/ or kernels/ builds (add_executable): the first string of add_option /
    add_flag calls (CLI11; each comma-separated name) and `== "--name"` / strcmp comparisons
    (hand-rolled parsers), including the headers those sources include from apps/common/;
    argparse add_argument calls in the repo's .py files; `--name)` case patterns in its .sh
    files. A flag that follows a program's name on the same line (skyssl-train, bench_augment,
    scripts/example.sh, scaling.py, ...) must be one of that program's flags; any other flag
    must be defined by some program in the repo or be one of EXTERNAL_FLAGS (mpiexec, srun,
    sbatch, cmake, ctest, ...).

  Config keys: a token `section.key` in scanned text whose section is a config section
    (a [section] of configs/*.toml), unless key is a file extension (eval.json) or the
    span is Python (it names torch.: model.fc = torch.nn.Identity()). Defined keys:
    every section.key of configs/*.toml; every "section.key" string literal in lib/, apps/
    and kernels/; and section.key where those sources name key in a concatenation
    (s + ".key", p + "key", section + ".key", prefix + "key") or read it through the augment
    key reader (READER_VERBS: r.flag("key", ...)). Also checked: the first-column `key` of table rows
    under a heading that names a section (`[train]`, or section `augment`).

  Files: a token in scanned text that is a relative path whose first component is a
    top-level entry of the repository (apps/, lib/, docs/, scripts/, ...) must exist (a *
    is globbed; a token with <, { or $ is a pattern and skipped; `a.hpp/.cpp` names both
    files; a path without an extension names the files of that stem). A path under build/ or a
    program path under benchmarks/ names a build output: its folder's CMakeLists.txt must
    build a target of that name. A Markdown link to a relative path must exist, relative to
    the doc.

Docs describe the product as it is, not the history of how it got there (issue #18): no doc
line may carry a calendar date, a time of day or a remark on machine load; those belong in
CHANGELOG.md. Reported as doc:line: what, 'the phrase'. The rules:

  Calendar dates (DATES): ISO 2026-12-06, numeric 06/12/2026 or 2026/12/06, a month name with a
    day (Dec 6, 6 December) or with a year (December 2026). A bare year is not a date
    (citations: Hayat et al. 2021).
  Times of day (TIMES): hh:mm[:ss] with hh 0-23, 11 pm / 11:30 a.m., UTC/GMT.
    Dates and times are looked for in prose only: fenced code blocks and inline code spans are
    skipped, since sample log output may carry timestamps and code spans carry durations and
    coordinates (`--time-min=02:00:00`, `10:41:05.1`, `127.0.0.1:8080`).
  Load phrasing (LOAD): "shared with other", "other jobs", "other engineers", "load average",
    "at load"/"under load", "(heavily|lightly) loaded", "loaded VM/machine", "busy machine",
    "nothing else running", "idle machine", "while it/others was/were building/running",
    "not yet". Looked for everywhere, fenced blocks and code spans included: no sample output
    needs them.
"""
import argparse
import glob
import os
import re
import sys
import tomllib

EXTERNAL_FLAGS = {
    # mpiexec / OpenMPI, srun / sbatch / squeue / scontrol (Slurm)
    "--oversubscribe", "--bind-to", "--map-by", "--mca", "--ntasks-per-node", "--gpus-per-node",
    "--gpus-per-task", "--gpu-bind", "--cpus-per-task", "--nodes", "--ntasks", "--time",
    "--qos", "--account", "--constraint", "--dependency", "--signal", "--requeue", "--parsable",
    "--job-name", "--output", "--array", "--me", "--format", "--export", "--mpi",
    # cmake / ctest / git / apt / pip / python / shell tools
    "--build", "--target", "--preset", "--install", "--prefix", "--output-on-failure",
    "--show-only", "--print-labels", "--repeat", "--timeout", "--parallel", "--fresh",
    "--no-install-recommends", "--version", "--help", "--user", "--break-system-packages",
    "--depth", "--recursive", "--list", "--follow", "--show", "--stat",
    # srun / sbatch / sacct
    "--kill-on-bad-exit", "--cpu-bind", "--time-min", "--open-mode", "--duplicates", "--wait",
    "--mail-type", "--mail-user", "--no-requeue",
    # shifter / podman-hpc (NERSC containers), curl, OpenMPI's mpirun
    "--module", "--image", "--data-binary", "--hostfile",
}
# The augment section's key reader (kernels/augment_config_from.cpp): r.flag("stretch", ...).
READER_VERBS = ["r.flag", "r.integer", "r.number", "r.pair", "r.bands"]
EXTENSIONS = {
    "json", "jsonl", "toml", "py", "sh", "h5", "hdf5", "md", "png", "pt", "cpp", "hpp", "txt",
    "csv", "fits", "sbatch", "safetensors", "log", "yaml", "yml", "out", "err", "gz", "npy",
}


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def tracked_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".") or x == ".ci"]
        dirs[:] = [x for x in dirs if not (d == root and (x.startswith("build") or x == "example"))]
        out += [os.path.join(d, f) for f in files]
    return out


class Repo:
    """What the repository defines: programs and their flags, config keys, top-level names."""

    def __init__(self, root):
        self.root = root
        self.files = tracked_files(root)
        self.top = {e for e in os.listdir(root) if not e.startswith(".") or e == ".ci"}
        self.top -= {"build", "example"}
        self.targets = {}  # folder (relative) -> {target names}
        self.program_flags = {}  # program name -> {flags}
        self._programs()
        self._scripts()
        self.all_flags = set().union(*self.program_flags.values()) if self.program_flags else set()
        self._keys()

    def rel(self, p):
        return os.path.relpath(p, self.root)

    def _source_flags(self, paths, seen=None):
        seen = set() if seen is None else seen
        flags = set()
        for p in paths:
            if p in seen or not os.path.isfile(p):
                continue
            seen.add(p)
            text = read(p)
            for m in re.finditer(r"add_(?:option|flag)\(\s*\"([^\"]+)\"", text):
                names = (n.strip().lstrip("!") for n in m.group(1).split(","))
                flags |= {n for n in names if n.startswith("--")}
            flags |= set(re.findall(r"==\s*\"(--[a-z0-9-]+)\"", text))
            flags |= set(re.findall(r"strcmp\([^,]+,\s*\"(--[a-z0-9-]+)\"\)", text))
            for inc in re.findall(r"#include \"(apps/common/[^\"]+)\"", text):
                flags |= self._source_flags([os.path.join(self.root, inc)], seen)
        return flags

    def _programs(self):
        for cm in self.files:
            if os.path.basename(cm) != "CMakeLists.txt":
                continue
            rel = self.rel(cm)
            if not rel.split(os.sep)[0] in ("apps", "benchmarks", "kernels", "tests"):
                continue
            d = os.path.dirname(cm)
            # add_executable(NAME src...) and the apps' skyssl_app(NAME SOURCES src... LIBS ...)
            pattern = r"(?:add_executable|skyssl_app)\(\s*([\w.-]+)\s+([^)]*)\)"
            for m in re.finditer(pattern, read(cm)):
                name = m.group(1)
                srcs = m.group(2).split("LIBS")[0].replace("SOURCES", " ").split()
                self.targets.setdefault(self.rel(d), set()).add(name)
                if rel.startswith("tests"):
                    continue
                paths = [os.path.join(d, s) for s in srcs if not s.startswith("$")]
                self.program_flags.setdefault(name, set()).update(self._source_flags(paths))

    def _scripts(self):
        for p in self.files:
            rel = self.rel(p)
            if rel.startswith("tests" + os.sep):
                continue
            if p.endswith(".py"):
                text = read(p)
                flags = set()
                for m in re.finditer(r"add_argument\(([^)]*)\)", text):
                    flags |= set(re.findall(r"\"(--[a-z0-9-]+)\"", m.group(1)))
                # Sub-commands' flags count for the script (scaling.py run --ranks ...).
                self.program_flags[os.path.basename(p)] = flags
            elif p.endswith(".sh") or p.endswith(".sbatch"):
                text = read(p)
                flags = set(re.findall(r"^\s*(--[a-z0-9-]+)(?:\|[^)]*)?\)", text, re.M))
                flags |= set(re.findall(r"\[\[ \$\{?1[:-]*\}? == (--[a-z0-9-]+) \]\]", text))
                self.program_flags[os.path.basename(p)] = flags
        # A script that hands "$@" to a Python script or a program takes that one's flags too.
        for p in self.files:
            if p.endswith(".sh"):
                for line in read(p).replace("\\\n", " ").splitlines():
                    if '"$@"' not in line:
                        continue
                    for callee in re.findall(r"[\w.-]+", line):
                        if callee in self.program_flags and callee != os.path.basename(p):
                            self.program_flags[os.path.basename(p)] |= self.program_flags[callee]

    def _keys(self):
        self.keys = set()
        self.sections = set()
        for p in glob.glob(os.path.join(self.root, "configs", "*.toml")):
            for section, table in tomllib.loads(read(p)).items():
                self.sections.add(section)
                if isinstance(table, dict):
                    self.keys |= {f"{section}.{k}" for k in table}
        concat = set()
        for p in self.files:
            rel = self.rel(p)
            if rel.split(os.sep)[0] not in ("lib", "apps", "kernels") or not re.search(
                    r"\.(cpp|hpp|in)$", p):
                continue
            text = read(p)
            for s, k in re.findall(r"\"([a-z_]+)\.([A-Za-z_][A-Za-z0-9_]*)\"", text):
                if s in self.sections:
                    self.keys.add(f"{s}.{k}")
            concat |= set(re.findall(
                r"(?:get_\w+|has|require\w*|check\w*)\([^\"()]*\+\s*\"\.?([A-Za-z_][A-Za-z0-9_]*)\.?\"",
                text))
            concat |= set(re.findall(
                r"\b(?:p|s|section|prefix)\s*\+\s*\"\.?([A-Za-z_][A-Za-z0-9_]*)\.?\"", text))
            concat |= set(re.findall(r"\b(?:" + "|".join(READER_VERBS) + r")\(\"([a-z_][a-z0-9_]*)\"", text))
        self.concat_keys = concat

    def key_defined(self, key):
        section, name = key.split(".", 1)
        return key in self.keys or (section in self.sections and name in self.concat_keys)


FENCE = re.compile(r"^\s*```")
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def scanned(text):
    """(line number, code text, whole line) for each fenced line and each inline code span."""
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            yield n, line, line
        else:
            for m in SPAN.finditer(line):
                yield n, m.group(1), line


def program_names(repo):
    names = set(repo.program_flags)
    return sorted(names, key=len, reverse=True)


MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
         r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
DATES = [
    r"\b(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b",          # 2026-12-06
    r"\b\d{1,2}/\d{1,2}/(?:19|20)\d\d\b",                                   # 06/12/2026
    r"\b(?:19|20)\d\d/\d{1,2}/\d{1,2}\b",                                   # 2026/12/06
    r"(?<![\w/])" + MONTH + r"\.? \d{1,2}(?:st|nd|rd|th)?\b(?![.:]\d)",       # Dec 6
    r"\b\d{1,2}(?:st|nd|rd|th)? " + MONTH + r"\b",                            # 6 December
    r"(?<![\w/])" + MONTH + r",? (?:19|20)\d\d\b",                           # December 2026
]
TIMES = [
    r"(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?![\d:])",           # 23:07, 23:07:45
    r"(?i)\b(?:1[0-2]|0?[1-9])(?::[0-5]\d)? ?(?:am|pm|a\.m\.|p\.m\.)(?!\w)",  # 11 pm
    r"\b(?:UTC|GMT)\b",
]
LOAD = [
    r"shared with other", r"\bother jobs\b", r"\bother engineers", r"\bload averages?\b",
    r"\b(?:at|under) load\b", r"\b(?:heavily|lightly) loaded\b",
    r"\bloaded (?:VM|machine|host|node)\b", r"\bbusy (?:VM|machine|host|node)\b",
    r"\bnothing else (?:was |is )?running\b", r"\bidle (?:VM|machine|host)\b",
    r"\bwhile (?:it|they|others?|other \w+|the (?:VM|machine)) (?:was|were|is|are) "
    r"(?:building|running|busy|shared)\b",
    r"\bnot yet\b",
]


def history_problems(where, text):
    """Dates and times of day in prose, load phrasing anywhere (the rules in the docstring)."""
    errors = []
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        prose = "" if in_fence else SPAN.sub(" ", line)
        for kind, patterns, where_text in (("calendar date", DATES, prose),
                                           ("time of day", TIMES, prose),
                                           ("load or status phrasing", LOAD, line)):
            for pat in patterns:
                flags = 0 if kind != "load or status phrasing" else re.I
                for m in re.finditer(pat, where_text, flags):
                    errors.append(f"{where}:{n}: {kind} '{m.group(0)}': docs describe the "
                                  f"product as it is; history and loads go in CHANGELOG.md")
    return errors


def check_doc(repo, path, text):
    errors = []
    names = program_names(repo)
    prog_re = re.compile(
        r"(?<![\w-])(?:[\w./-]*/)?(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")
    section_re = re.compile(
        r"(?<![\w./-])(" + "|".join(sorted(repo.sections)) + r")\.([A-Za-z_][A-Za-z0-9_]*)")
    doc_dir = os.path.dirname(path)
    where = os.path.relpath(path, repo.root) if path.startswith(repo.root) else path

    for n, code, _ in scanned(text):
        # Flags, attributed to the nearest program named before them on the line.
        progs = [(m.start(), m.group(1)) for m in prog_re.finditer(code)]
        for m in re.finditer(r"(?<![\w-])(--[a-z][a-z0-9-]*)", code):
            flag = m.group(1)
            owner = [p for s, p in progs if s < m.start()]
            if owner:
                if flag not in repo.program_flags[owner[-1]] and flag not in EXTERNAL_FLAGS - {"--preset"}:
                    errors.append(f"{where}:{n}: flag {flag} is not a flag of {owner[-1]}")
            elif flag not in repo.all_flags and flag not in EXTERNAL_FLAGS:
                errors.append(f"{where}:{n}: flag {flag} is defined by no program in the repo")
        # Config keys (not in Python: a span that names torch. is PyTorch code).
        for m in ([] if "torch." in code else section_re.finditer(code)):
            key = f"{m.group(1)}.{m.group(2)}"
            if m.group(2) in EXTENSIONS:
                continue
            if not repo.key_defined(key):
                errors.append(f"{where}:{n}: config key {key} is read nowhere")
        # Files.
        for tok in re.findall(r"[\w.*/{}<>$-]+", code):
            tok = tok.rstrip(".")
            if "/" not in tok or tok.startswith("/") or any(c in tok for c in "<{$"):
                continue
            first = tok.split("/")[0]
            if first == "build":
                parts = tok.rstrip("/").split("/")
                if len(parts) >= 3 and parts[-1] and "." not in parts[-1] and "*" not in tok:
                    folder = "/".join(parts[1:-1])
                    if parts[-1] not in repo.targets.get(folder, set()):
                        errors.append(f"{where}:{n}: {tok}: {folder}/CMakeLists.txt builds no "
                                      f"target {parts[-1]}")
                continue
            if first not in repo.top:
                continue
            full = os.path.join(repo.root, tok)
            if glob.glob(full):
                continue
            # a.hpp/.cpp names both files; a path without an extension names its stem's files.
            m = re.match(r"^(.*)\.(\w+)/\.(\w+)$", tok)
            if m and all(os.path.exists(os.path.join(repo.root, f"{m.group(1)}.{e}"))
                         for e in m.group(2, 3)):
                continue
            if "." not in os.path.basename(tok) and glob.glob(full + ".*"):
                continue
            folder, name = os.path.split(tok.rstrip("/"))
            if name in repo.targets.get(folder, set()):
                continue
            errors.append(f"{where}:{n}: file {tok} does not exist")
    # Markdown links (outside code).
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence:
            continue
        for m in LINK.finditer(SPAN.sub("", line)):
            target = m.group(1).split("#")[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(doc_dir, target))):
                errors.append(f"{where}:{n}: link target {target} does not exist")
    # Key tables under a heading that names a section.
    section = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            m = re.search(r"`\[(\w+)\]`|section `(\w+)`", line)
            section = (m.group(1) or m.group(2)) if m else None
            continue
        m = re.match(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|", line)
        if section and m and section in repo.sections:
            key = f"{section}.{m.group(1)}"
            if not repo.key_defined(key):
                errors.append(f"{where}:{n}: config key {key} (table under [{section}]) is read nowhere")
    return errors + history_problems(where, text)


WRONG_DOC = """# A doc with one planted error of each kind
Run `skyssl-train --run-dir r --no-such-flag` and set `train.no_such_key = 1`.
See `scripts/no_such_script.sh` and [the guide](no-such-guide.md).
"""
RIGHT_DOC = """# A doc whose facts all hold
Run `skyssl-train --run-dir r --set train.epochs=2` or `bash scripts/example.sh --seeds 1,2`.
See `scripts/setup.sh`, `build/apps/train/skyssl-train` and [the README](README.md).
"""

# One planted line each (and what must be reported): every date, time and load pattern.
HISTORY_WRONG = [
    ("Measured on 2026-12-06 at the old commit.", "calendar date '2026-12-06'"),
    ("Measured on 06/12/2026.", "calendar date '06/12/2026'"),
    ("Measured 2026/12/06.", "calendar date '2026/12/06'"),
    ("Rerun on Dec 6, faster.", "calendar date 'Dec 6'"),
    ("Rerun on 6 December.", "calendar date '6 December'"),
    ("As of December 2026 the reader is faster.", "calendar date 'December 2026'"),
    ("The run started at 23:07 and took 2 h.", "time of day '23:07'"),
    ("It ended at 11 pm.", "time of day '11 pm'"),
    ("Measured at 21:40:05.", "time of day '21:40:05'"),
    ("Quiet rerun (UTC evening).", "time of day 'UTC'"),
    ("On a 2-core machine shared with other work.", "load or status phrasing 'shared with other'"),
    ("Slower: other jobs ran.", "load or status phrasing 'other jobs'"),
    ("Load average 4.7 during the run.", "load or status phrasing 'Load average'"),
    ("The reader at load gives 0.8x.", "load or status phrasing 'at load'"),
    ("Measured while others were building.", "load or status phrasing 'while others were building'"),
    ("Measured while it was running other builds.", "load or status phrasing 'while it was running'"),
    ("On a busy machine the ms are pessimistic.", "load or status phrasing 'busy machine'"),
    ("The NCCL path has not yet run on a GPU.", "load or status phrasing 'not yet'"),
    ("The VM was heavily loaded.", "load or status phrasing 'heavily loaded'"),
    ("On a 2-core VM with nothing else running.", "load or status phrasing 'nothing else running'"),
    ("```\nstep 10 (the machine is shared with other builds)\n```",
     "load or status phrasing 'shared with other'"),
]
# Lines that must pass: a fenced log sample with timestamps, durations and coordinates in code
# spans, a citation year, ratios, RA/Dec, and "while" describing the product.
HISTORY_RIGHT = """# Dates, times and loads that are not history
```
2026-12-06 23:07:01 step 10 loss 6.93 (11 pm run)
```
Ask for `--time-min=02:00:00`, query `10:41:05.1` / `+12:00:30` on `127.0.0.1:8080`.
The SDSS preset follows Hayat et al. 2021; deflate's largest ratio is ~1032:1; 1:4 ranks.
Queries by RA/Dec 16 times a second; the pipeline reads batch s+1 while the step is running.
A staging slot is never busy twice; the index is loaded when it exists.
"""


def self_test(repo):
    path = os.path.join(repo.root, "planted.md")
    errors = check_doc(repo, path, WRONG_DOC)
    table_doc = "### `[train]`\n\n| key | meaning |\n|---|---|\n| `no_such_table_key` | x |\n"
    errors += check_doc(repo, path, table_doc)
    wanted = ["flag --no-such-flag is not a flag of skyssl-train", "config key train.no_such_key",
              "file scripts/no_such_script.sh", "link target no-such-guide.md",
              "config key train.no_such_table_key"]
    missed = [w for w in wanted if not any(w in e for e in errors)]
    clean = check_doc(repo, path, RIGHT_DOC)
    for m in missed:
        print(f"self-test: the planted error '{m}' was not reported", file=sys.stderr)
    for e in clean:
        print(f"self-test: a correct doc was flagged: {e}", file=sys.stderr)
    if len(errors) != len(wanted):
        print(f"self-test: {len(errors)} errors for {len(wanted)} planted: {errors}", file=sys.stderr)
    for line, want in HISTORY_WRONG:
        got = history_problems("planted.md", line + "\n")
        if len(got) != 1 or want not in got[0]:
            print(f"self-test: planted line {line!r}: wanted one report of {want}, got {got}",
                  file=sys.stderr)
            missed.append(want)
    for e in history_problems("planted.md", HISTORY_RIGHT):
        print(f"self-test: a line without history was flagged: {e}", file=sys.stderr)
        clean.append(e)
    ok = not missed and not clean and len(errors) == len(wanted)
    print("self-test: " + ("every planted error caught, the correct doc passes" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the repository")
    ap.add_argument("--docs", nargs="*", help="docs to check (default: README.md, docs/*.md)")
    ap.add_argument("--self-test", action="store_true", help="check the checks on planted errors")
    a = ap.parse_args()
    repo = Repo(os.path.abspath(a.root))
    if a.self_test:
        return self_test(repo)
    docs = a.docs or [os.path.join(repo.root, "README.md")] + sorted(
        glob.glob(os.path.join(repo.root, "docs", "*.md")))
    errors = []
    for d in docs:
        errors += check_doc(repo, os.path.abspath(d), read(d))
    for e in errors:
        print(e)
    print(f"{len(docs)} docs, {len(errors)} facts that do not hold", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
