#!/usr/bin/env python3
"""spack/perlmutter/spack.yaml parses as a Spack environment and names only packages recorded
in spack_builtin_packages.txt (each read from Spack's builtin repository). Offline: Spack itself
is not needed.   python3 spack_env_test.py SOURCE_DIR"""
import os
import re
import sys

import yaml

src = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
env_path = os.path.join(src, "spack", "perlmutter", "spack.yaml")
known = set()
for line in open(os.path.join(here, "spack_builtin_packages.txt")):
    if line.strip() and not line.startswith("#"):
        known.add(line.split()[0])


def spec_name(spec):
    """The package of a spec string: 'openblas threads=openmp' -> openblas."""
    m = re.match(r"\s*([a-z0-9][a-z0-9_-]*)", spec)
    if not m:
        raise SystemExit(f"FAIL: {env_path}: cannot read a package name from spec '{spec}'")
    return m.group(1)


def names_in(env):
    """Every package name the environment refers to: specs, packages: keys, require: values."""
    spack = env.get("spack")
    if not isinstance(spack, dict) or not spack.get("specs"):
        raise SystemExit(f"FAIL: {env_path}: no spack: specs: list")
    names = {spec_name(s): "specs" for s in spack["specs"]}
    for pkg, conf in (spack.get("packages") or {}).items():
        if pkg == "all":
            continue
        names.setdefault(pkg, "packages")
        req = (conf or {}).get("require")
        for r in req if isinstance(req, list) else [req] if req else []:
            if isinstance(r, str) and not r.startswith(("%", "@", "+", "~")):
                names.setdefault(spec_name(r), f"packages:{pkg}:require")
    return names


def unknown(names):
    return sorted(f"{n} (in {where})" for n, where in names.items() if n not in known)


env = yaml.safe_load(open(env_path))
names = names_in(env)
# The check must be able to fail: a made-up name is caught.
probe = names_in({"spack": {"specs": ["no-such-package-skyssl +x"]}})
assert unknown(probe) == ["no-such-package-skyssl (in specs)"], unknown(probe)
bad = unknown(names)
if bad:
    raise SystemExit(f"FAIL: {env_path} names packages not verified in Spack's builtin repository: "
                     f"{', '.join(bad)}; check each in Spack's source and record it in "
                     f"tests/unit/configure/spack_builtin_packages.txt")
for must in ("faiss", "fmt", "cli11", "tomlplusplus", "nlohmann-json", "libpng", "cfitsio", "doctest"):
    if must not in names:
        raise SystemExit(f"FAIL: {env_path} lacks {must}, which the Cray environment does not provide")
print(f"PASS: {env_path} parses; {len(names)} package names, all in Spack's builtin repository: "
      f"{', '.join(sorted(names))}")
