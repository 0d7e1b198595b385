#!/usr/bin/env python3
"""The layer check must fail, naming the file, on each kind of violation: an include crossing the
order, another module's private header, a public header including a private one, a CMake link the
document does not list, and a document edge CMake does not link. Each case mutates a fresh copy."""
import os
import shutil
import subprocess
import sys
import tempfile

src = sys.argv[1]
script = os.path.join(src, 'scripts', 'check_layers.py')


def run(root):
    p = subprocess.run([sys.executable, script, '--root', root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def prepend(path, line):
    text = open(path).read()
    open(path, 'w').write(line + '\n' + text)


def replace(path, a, b):
    text = open(path).read()
    assert a in text, (path, a)
    open(path, 'w').write(text.replace(a, b, 1))


cases = [
    ('crossing include', 'lib/skyssl/data/archive.cpp',
     lambda r: prepend(f'{r}/lib/skyssl/data/archive.cpp', '#include "skyssl/train/trainer.hpp"'),
     'data may not depend on train'),
    ('private header of another module', 'lib/skyssl/embed/cutout.cpp',
     lambda r: prepend(f'{r}/lib/skyssl/embed/cutout.cpp', '#include "skyssl/data/detail/decode.hpp"'),
     'a private header of data'),
    ('app reaching a private header', 'apps/prep/gallery.cpp',
     lambda r: prepend(f'{r}/apps/prep/gallery.cpp', '#include "kernels/serial_team.hpp"'),
     'a private header of kernels'),
    ('public header including a private one', 'include/skyssl/data/archive.hpp',
     lambda r: prepend(f'{r}/lib/skyssl/data/include/skyssl/data/archive.hpp',
                       '#include "skyssl/data/detail/decode.hpp"'),
     'public header includes private'),
    ('CMake link not in the document', 'lib/skyssl/model/CMakeLists.txt',
     lambda r: replace(f'{r}/lib/skyssl/model/CMakeLists.txt', 'DEPS skyssl::core',
                       'DEPS skyssl::core skyssl::data'),
     'which docs/architecture.md does not list'),
    ('document edge CMake does not link', 'lib/skyssl/search/CMakeLists.txt',
     lambda r: replace(f'{r}/lib/skyssl/search/CMakeLists.txt', 'skyssl::tiles', ''),
     'CMake does not link skyssl::tiles'),
]

failed = 0
with tempfile.TemporaryDirectory() as tmp:
    clean = os.path.join(tmp, 'clean')
    for d in ('lib', 'kernels', 'apps', 'docs'):
        shutil.copytree(os.path.join(src, d), os.path.join(clean, d))
    rc, out = run(clean)
    if rc != 0:
        print(f'FAIL: the unmodified tree does not pass:\n{out}')
        failed += 1
    for name, culprit, mutate, expect in cases:
        root = os.path.join(tmp, name.replace(' ', '_'))
        shutil.copytree(clean, root)
        mutate(root)
        rc, out = run(root)
        if rc == 0 or culprit not in out or expect not in out:
            print(f'FAIL: {name}: rc {rc}, expected "{culprit}" and "{expect}" in:\n{out}')
            failed += 1
        else:
            print(f'ok: {name}')
print(f'{len(cases) + 1 - failed} passed, {failed} failed')
sys.exit(1 if failed else 0)
