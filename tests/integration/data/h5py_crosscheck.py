"""h5py side of the data integration test (tests/integration/data).

  write-layouts DIR   write archives in the published layouts of both studies, h5py-made:
                      DIR/decals.h5 (images (N,3,H,W) float32, ra dec ebv psfsize_g/r/z z_spec,
                      no attributes) and DIR/sdss.h5 (images (N,5,H,W) float16, ObjID ra dec
                      e_bv specz_redshift ...), values a known function of the row.
  check-synth FILE N S   assert that a skyssl-prep synth archive reads in h5py as documented.
"""
import sys

import h5py
import numpy as np


def pixels(n, c, h, w):
    i, ch, y, x = np.meshgrid(np.arange(n), np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    return (i * 1000 + ch * 100 + y * 10 + x).astype(np.float32)


def write_layouts(d):
    n = 6
    with h5py.File(f"{d}/decals.h5", "w") as f:
        f["images"] = pixels(n, 3, 16, 16)
        f["ra"] = np.linspace(10, 11, n)
        f["dec"] = np.linspace(-5, -4, n)
        f["ebv"] = (0.01 * np.arange(n)).astype(np.float32)
        for k, b in enumerate("grz"):
            f[f"psfsize_{b}"] = (1.0 + 0.1 * k + 0.01 * np.arange(n)).astype(np.float32)
        f["z_spec"] = (0.05 * np.arange(n)).astype(np.float32)
        f["brickid"] = np.arange(n, dtype=np.int32)
    with h5py.File(f"{d}/sdss.h5", "w") as f:
        # float16 keeps these small integers exact (< 2048): id*1000 would not, so scale down.
        img = (pixels(n, 5, 8, 8) / 1000.0).astype(np.float16)
        f["images"] = img
        f["ObjID"] = np.arange(n, dtype=np.int64) + 1237650000000000000
        f["ra"] = np.linspace(150, 151, n)
        f["dec"] = np.linspace(2, 3, n)
        f["e_bv"] = (0.02 * np.arange(n)).astype(np.float32)
        f["specObjID"] = np.arange(n, dtype=np.int64)
        f["specz_redshift"] = (0.03 * np.arange(n)).astype(np.float32)
        f["specz_redshift_err"] = np.full(n, 1e-4, dtype=np.float32)
        np.save(f"{d}/sdss_expected.npy", img.astype(np.float32))


def check_synth(path, n, s):
    n, s = int(n), int(s)
    with h5py.File(path, "r") as f:
        img = f["images"]
        assert img.shape == (n, 3, s, s), img.shape
        assert img.dtype == np.float32, img.dtype
        bands = [b.decode() if isinstance(b, bytes) else b for b in f.attrs["bands"]]
        assert bands == ["g", "r", "z"], bands
        assert abs(float(f.attrs["pixel_scale"]) - 0.262) < 1e-12
        for name in ["ra", "dec", "ebv", "z_spec", "morphology", "psfsize_g", "psfsize_r", "psfsize_z", "objid"]:
            assert f[name].shape == (n,), name
        assert f["morphology"].dtype == np.int32
        assert set(np.unique(f["morphology"][:])) <= {0, 1}
        assert np.all(f["objid"][:] == np.arange(n))
        assert np.isfinite(img[:]).all()
        assert 0.8 < float(np.median(f["psfsize_g"][:])) < 2.5
        # Galaxies are bright in the middle of the stamp.
        centre = img[:, 1, s // 2 - 2:s // 2 + 2, s // 2 - 2:s // 2 + 2].mean()
        edge = img[:, 1, :3, :3].mean()
        assert centre > 5 * abs(edge) + 1e-3, (centre, edge)
    print("h5py check ok")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "write-layouts":
        write_layouts(sys.argv[2])
    elif cmd == "check-synth":
        check_synth(*sys.argv[2:5])
    else:
        raise SystemExit(f"unknown command {cmd}")
