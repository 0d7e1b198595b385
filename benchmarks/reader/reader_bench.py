"""h5py side of benchmarks/reader: the same random batches as the C++ program.

usage: reader_bench.py ARCHIVE IDS.bin BATCH   -> prints the seconds taken (one number)
Per batch: sort the ids (h5py fancy indexing needs increasing indices), read
f["images"][sorted], then put the rows back in batch order, as a training loader would.
"""
import sys
import time

import h5py
import numpy as np

path, ids_path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = np.fromfile(ids_path, dtype=np.int64).reshape(-1, batch)
with h5py.File(path, "r") as f:
    images = f["images"]
    t0 = time.perf_counter()
    total = 0.0
    for row in ids:
        order = np.argsort(row)
        data = images[row[order]]
        out = np.empty_like(data)
        out[order] = data
        total += float(out[0, 0, 0, 0])
    print(time.perf_counter() - t0)
