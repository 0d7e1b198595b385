"""Loads skyssl-export's files into Debian's torchvision ResNet, independently of skyssl.

  torchvision_check.py BACKBONE.safetensors HEAD.safetensors STATE_DICT.pt IN.pt OUT.pt

The safetensors files are parsed here by hand (8-byte little-endian header length, JSON
header, raw little-endian bytes: no safetensors package), the state_dict file with torch.load.
Each goes into torchvision.models.<arch>() with load_state_dict(strict=True): the backbone with
fc = Identity, the head file with MoCo's fc = Linear-ReLU-Linear. IN.pt (torch::pickle_save
from the test) holds the input batch "x"; OUT.pt gets, computed in eval mode, "backbone" (from
the backbone file), "head_features" and "head" (from the head file) and "state_dict" (from
the state_dict file). Exits non-zero with a message on any problem: a missing torchvision is a
failure, never a skip.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(blob[base + begin:base + end], dtype=DTYPES[info["dtype"]])
        tensors[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return tensors, meta


def torchvision_net(meta):
    arch = meta["skyssl_arch"]
    if meta.get("stem") != "standard" or int(meta["in_channels"]) != 3 or int(meta["width"]) != 64:
        raise SystemExit(f"this check wants a plain torchvision {arch}, got metadata {meta}")
    return getattr(torchvision.models, arch)(weights=None)


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: torchvision_check.py BACKBONE HEAD STATE_DICT IN OUT")
    torch.set_num_threads(1)
    backbone_file, head_file, sd_file, in_file, out_file = sys.argv[1:6]
    x = torch.load(in_file)["x"]
    out = {}

    sd, meta = read_safetensors(backbone_file)
    net = torchvision_net(meta)
    net.fc = nn.Identity()
    net.load_state_dict(sd, strict=True)
    net.eval()
    with torch.no_grad():
        out["backbone"] = net(x)

    sd, meta = read_safetensors(head_file)
    net = torchvision_net(meta)
    d = net.fc.in_features
    net.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, int(meta["head_dim"])))
    net.load_state_dict(sd, strict=True)
    net.eval()
    with torch.no_grad():
        out["head"] = net(x)
        out["head_features"] = nn.Sequential(*list(net.children())[:-1])(x).flatten(1)

    sd = torch.load(sd_file)
    net = torchvision_net(meta)
    net.fc = nn.Identity()
    net.load_state_dict(dict(sd), strict=True)
    net.eval()
    with torch.no_grad():
        out["state_dict"] = net(x)
    torch.save(out, out_file)


if __name__ == "__main__":
    main()
