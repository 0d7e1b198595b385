"""h5py side of benchmarks/reader: the same random batches as the C++ program.

usage: bench_reader.py FILES.txt IDS.bin BATCH   -> prints the seconds taken (one number)
FILES.txt: one "path rows" per line, the archive's files in order (global id = row in the
concatenation). Per batch: sort the ids, read f["images"][sorted rows] from each file they
fall in (h5py fancy indexing needs increasing indices), then put the rows back in batch
order, as a training loader would.
"""
import sys
import time

import h5py
import numpy as np

list_path, ids_path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
files, firsts = [], []
first = 0
for line in open(list_path):
    path, rows = line.rsplit(" ", 1)
    files.append(h5py.File(path, "r"))
    firsts.append(first)
    first += int(rows)
firsts = np.array(firsts + [first])
ids = np.fromfile(ids_path, dtype=np.int64).reshape(-1, batch)
images = [f["images"] for f in files]
t0 = time.perf_counter()
total = 0.0
for row in ids:
    order = np.argsort(row)
    rows = row[order]
    which = np.searchsorted(firsts, rows, side="right") - 1
    parts = []
    for i in np.unique(which):
        parts.append(images[i][rows[which == i] - firsts[i]])
    data = np.concatenate(parts)
    out = np.empty_like(data)
    out[order] = data
    total += float(out[0, 0, 0, 0])
print(time.perf_counter() - t0)
