#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/<target>/corpus (committed; rerun to regenerate).

Small valid inputs of each format, so that libFuzzer starts from files that parse and mutates
them into ones that lie. Standard library only."""
import gzip
import json
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (len(text) + 8) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def fits(bitpix, axes, data, extra=(), primary_empty=False):
    def cards(lines):
        h = b"".join(l.ljust(80).encode() for l in lines + ["END"])
        return h + b" " * ((2880 - len(h) % 2880) % 2880)

    def pad(b):
        return b + b"\0" * ((2880 - len(b) % 2880) % 2880)

    img = [f"BITPIX  = {bitpix:>20}", f"NAXIS   = {len(axes):>20}"]
    img += [f"NAXIS{k + 1:<3}= {a:>20}" for k, a in enumerate(axes)] + list(extra)
    if primary_empty:
        prim = cards(["SIMPLE  =                    T", "BITPIX  =                    8",
                      "NAXIS   =                    0", "EXTEND  =                    T"])
        ext = cards(["XTENSION= 'IMAGE   '"] + img + ["PCOUNT  =                    0",
                                                     "GCOUNT  =                    1"])
        return prim + ext + pad(data)
    return cards(["SIMPLE  =                    T"] + img) + pad(data)


def main():
    f32 = struct.pack(">12f", *[float(i) for i in range(12)])
    # safetensors
    put("safetensors", "two_tensors", safetensors(
        {"w": ("F32", [2, 3], struct.pack("<6f", *range(6))), "n": ("I64", [2], struct.pack("<2q", 7, -1))},
        {"format": "skyssl-checkpoint"}))
    put("safetensors", "scalar_bf16_bool", safetensors(
        {"s": ("F64", [], struct.pack("<d", 1.5)), "b": ("BF16", [1, 2], b"\x80\x3f\x00\x40"),
         "m": ("BOOL", [3], b"\x01\x00\x01"), "e": ("F32", [0, 4], b"")}))
    # checkpoint: name, MANIFEST.json, state.json, config.toml, state.safetensors
    state = json.dumps({"format": 1, "global_step": 40, "epoch": 2, "step": 4, "world": 2, "seed": 5,
                        "bn_group": 8, "lr": {"peak": 0.3, "warmup_steps": 10, "total_steps": 100}})
    config = '[train]\nepochs = 3\nseed = 5\n[model]\narch = "resnet18"\n'
    tensors = safetensors({"queue.ptr": ("I64", [1], struct.pack("<q", 3)),
                           "queue.keys": ("F32", [2, 2], struct.pack("<4f", 1, 0, 0, 1))},
                          {"format": "skyssl-checkpoint"})
    files = {"state.json": state.encode(), "config.toml": config.encode(), "state.safetensors": tensors}
    manifest = json.dumps({"format": 1, "files": {k: {"bytes": len(v), "crc32": zlib.crc32(v)}
                                                  for k, v in files.items()}})
    cut = b"\n--8<--\n"
    body = cut.join([b"ckpt-40", manifest.encode(), files["state.json"], files["config.toml"], tensors])
    put("checkpoint", "valid_manifest", b"M" + body)
    put("checkpoint", "recomputed_crcs", b"R" + body)
    put("checkpoint", "long_step_name", b"R" + cut.join([b"ckpt-" + b"9" * 30, b"", files["state.json"],
                                                         files["config.toml"], tensors]))
    # FITS
    put("fits", "float_2d.fits", fits(-32, [4, 3], f32))
    put("fits", "int16_cube_bscale.fits", fits(16, [2, 2, 3], struct.pack(">12h", *range(12)),
                                             ["BSCALE  =                  0.5", "BZERO   =                100.0"]))
    put("fits", "extension_image.fits", fits(-64, [3, 2], struct.pack(">6d", *range(6)), primary_empty=True))
    put("fits", "float_2d.fits.gz", gzip.compress(fits(-32, [4, 3], f32), mtime=0))
    put("fits", "uint8_blank.fits", fits(8, [2, 2], b"\x01\x02\x03\xff", ["BLANK   =                  255"]))
    # catalogue CSV
    put("catalog_csv", "from_fits.csv", "id,ra,dec,z_spec,ebv,nobs\nobj0,10.5,1.25,0.1,0.02,3\n"
                                       "obj1,10.6,1.5,0.2,0.03,4\n")
    put("catalog_csv", "sdss_ids_quoted.csv", 'objid,name,ra\n# comment\n1237648720693755918,"NGC 1, ""a""",10.5\n'
                                             '\n9223372036854775807,"two\nlines",-inf\n')
    put("catalog_csv", "crlf_spaces.csv", "id , r\r\n 1 , nan\r\n2,1e3\r\n")
    # Structure-aware generators: any bytes are a recipe; a few fixed random ones to start.
    rng = random.Random(19)
    for target in ("archive", "embedding"):
        for n in (16, 64, 256, 1024):
            put(target, f"random_{n}", bytes(rng.randrange(256) for _ in range(n)))


if __name__ == "__main__":
    main()
