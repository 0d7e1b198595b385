#!/usr/bin/env python3
"""Holds skyssl's module boundaries: the layer order drawn in docs/architecture.md, the includes of
every library and app source, and the module dependencies declared in CMake must agree.

  python3 scripts/check_layers.py [--root DIR]

Rules (a violation prints one line naming the file and exits 1):
  1. The ```layers block of docs/architecture.md lists each module and the modules it builds on
     directly ("search: embed tiles"); it must have no cycle and name every module in the tree
     (lib/skyssl/<m>/ and kernels/).
  2. A library source may include another module's header only if that module is below it: in the
     transitive closure of its dependencies. apps/ may include any module.
  3. Only public headers cross a module boundary: "skyssl/<m>/x.hpp" must exist under
     lib/skyssl/<m>/include/, "kernels/x.hpp" under kernels/include/. A module's public header
     never includes its own private headers (detail/ or beside the sources).
  4. Each module's skyssl_module(<m> ... DEPS ... PRIVATE_DEPS ...) names exactly the skyssl::
     modules the document lists for it.
tests/ and benchmarks/ are white-box and not checked.
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(root):
    path = os.path.join(root, 'docs', 'architecture.md')
    text = open(path).read()
    m = re.search(r'```layers\n(.*?)```', text, re.S)
    if not m:
        sys.exit(f'{path}: no ```layers block')
    deps = {}
    for n, line in enumerate(m.group(1).splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        name, _, rest = line.partition(':')
        deps[name.strip()] = rest.split()
    return path, deps


def closure(deps, m, seen=None):
    seen = set() if seen is None else seen
    for d in deps.get(m, []):
        if d not in seen:
            seen.add(d)
            closure(deps, d, seen)
    return seen


def module_dirs(root):
    out = {}
    lib = os.path.join(root, 'lib', 'skyssl')
    for m in sorted(os.listdir(lib)):
        if os.path.isdir(os.path.join(lib, m)):
            out[m] = os.path.join(lib, m)
    out['kernels'] = os.path.join(root, 'kernels')
    return out


def header_module(spelling):
    parts = spelling.split('/')
    if parts[0] == 'skyssl' and len(parts) >= 3:
        return parts[1], os.path.join('lib', 'skyssl', parts[1], 'include', spelling)
    if parts[0] == 'kernels' and len(parts) >= 2:
        return 'kernels', os.path.join('kernels', 'include', spelling)
    if parts[0] in ('apps', 'tests', 'benchmarks'):
        return parts[0], None
    return None, None


def sources(d):
    for base, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if x != 'check']  # kernels/check: a standalone program
        for f in files:
            if f.endswith(('.cpp', '.hpp', '.h', '.cu', '.in')):
                yield os.path.join(base, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--root', default=os.path.join(os.path.dirname(__file__), '..'))
    root = os.path.abspath(ap.parse_args().root)
    doc, deps = read_layers(root)
    bad = []
    mods = module_dirs(root)
    for m in mods:
        if m not in deps:
            bad.append(f'{doc}: module {m} is missing from the layers block')
    for m, ds in deps.items():
        for d in ds:
            if d not in deps:
                bad.append(f'{doc}: {m} builds on {d}, which the layers block does not list')
        if m in closure(deps, m):
            bad.append(f'{doc}: {m} depends on itself (a cycle)')

    def check_file(path, m, allowed):
        rel = os.path.relpath(path, root)
        own_root = os.path.join(mods[m], 'include') if m in mods else None
        is_public = own_root is not None and os.path.abspath(path).startswith(own_root + os.sep)
        for inc in INCLUDE.findall(open(path, errors='replace').read()):
            target, public_path = header_module(inc)
            if target is None:
                continue
            if target in ('tests', 'benchmarks') or (target == 'apps' and m != 'apps'):
                bad.append(f'{rel}: includes "{inc}" ({target}/ is not a library)')
                continue
            if target == 'apps':
                continue
            if target == m:
                if is_public and not os.path.exists(os.path.join(root, public_path)):
                    bad.append(f'{rel}: public header includes private "{inc}"')
                continue
            if allowed is not None and target not in allowed:
                bad.append(f'{rel}: includes "{inc}": {m} may not depend on {target} '
                           f'(layers: {m} builds on {" ".join(sorted(allowed)) or "nothing"})')
            elif not os.path.exists(os.path.join(root, public_path)):
                bad.append(f'{rel}: includes "{inc}", a private header of {target}')

    for m, d in mods.items():
        allowed = closure(deps, m) if m in deps else set()
        for path in sources(d):
            check_file(path, m, allowed)
    for path in sources(os.path.join(root, 'apps')):
        check_file(path, 'apps', None)

    # 4. CMake dependencies against the document.
    call = re.compile(r'skyssl_module\(\s*(\w+)(.*?)\)\s*$', re.S | re.M)
    for m, d in mods.items():
        cm = os.path.join(d, 'CMakeLists.txt')
        if not os.path.exists(cm):
            bad.append(f'{os.path.relpath(d, root)}: no CMakeLists.txt')
            continue
        text = re.sub(r'#.*', '', open(cm).read())
        found = [c for c in call.finditer(text) if c.group(1) == m]
        if not found:
            bad.append(f'{os.path.relpath(cm, root)}: no skyssl_module({m} ...)')
            continue
        declared = set(re.findall(r'skyssl::(\w+)', found[0].group(2)))
        want = set(deps.get(m, []))
        for x in sorted(declared - want):
            bad.append(f'{os.path.relpath(cm, root)}: {m} links skyssl::{x}, which '
                       f'docs/architecture.md does not list under {m}')
        for x in sorted(want - declared):
            bad.append(f'{os.path.relpath(cm, root)}: docs/architecture.md says {m} builds on '
                       f'{x}, but CMake does not link skyssl::{x}')
    for line in bad:
        print(f'layer check: {line}')
    if bad:
        print(f'layer check: {len(bad)} violation(s)')
        return 1
    print(f'layer check: {len(mods)} modules, order of docs/architecture.md holds')
    return 0


if __name__ == '__main__':
    sys.exit(main())
