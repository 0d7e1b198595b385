#!/usr/bin/python3
"""Cost model of one MoCo v2 step of the DECaLS study on 1 to 256 Perlmutter GPU nodes, per
node count: compute, gradient all-reduce bytes, key all-gather bytes, shuffle-BN image bytes
under each moco.shuffle_bn mode, filesystem bytes per node with and without data.cache, and
the cache's memory per node. Prints a Markdown table (docs/performance.md holds its output) and
says where each mode stops scaling. Every input is a constant below with its source.

  benchmarks/scaling/cost_model.py [--per-gpu 256] [--arch resnet50|resnet18]
"""
import argparse

# Perlmutter GPU node (NERSC's system documentation): 4x A100, 4x Slingshot-11 NICs (25 GB/s each).
GPUS_PER_NODE = 4
NIC_GBPS = 25.0            # GB/s per NIC, one NIC per GPU
NODE_RAM_GB = 256.0
LUSTRE_AGG_GBPS = 5000.0   # "> 5 TB/s aggregate" (NERSC)
# DECaLS study (Stein et al.; ssl-legacysurvey train_ssl.sh): 3.5M galaxies, 3x152x152 float32
# in the archive, 96x96 crops, 256 images per GPU, K = 65536, 128-d keys.
N_TRAIN = 3_500_000
C, H_IN, H_CROP = 3, 152, 96
KEY_DIM, K_QUEUE = 128, 65536
# Compute: ResNet-50 training at 224 px on one A100 80GB, AMP: 2470 images/s (NVIDIA's
# published PyTorch figure); 96 px costs ~5.4x fewer FLOPs; a MoCo step costs
# ~1.33x a plain step (the key encoder's forward; bench_train_step). ResNet-18: ~2.3x fewer
# FLOPs than ResNet-50 (1.8 vs 4.1 GFLOPs at 224).
PLAIN_224 = {"resnet50": 2470.0, "resnet18": 2470.0 * 4.1 / 1.8}
PARAMS = {"resnet50": 23.5e6 + 2048 * 2048 + 2048 * 128, "resnet18": 11.2e6 + 512 * 512 + 512 * 128}
FLOP_RATIO_96 = 5.4
MOCO_FACTOR = 1.33


def comm_prediction(grad_bytes, ranks, ranks_per_node, link_bytes_per_s, key_bytes_per_rank,
                    image_bytes_per_rank=0, shuffle_gather=False, latency_s=0.0,
                    algorithm="nccl"):
    """One step's communication for one node's link, bytes out of the node and seconds, for the
    gradients and the key path (the key all-gather and, with shuffle_bn = "gather", the key
    encoder's images). R ranks, P per node, N = R / P nodes, placed node by node; G gradient
    bytes, b bytes per rank and all-gather. Which algorithm crosses the node boundary decides the
    bytes, so `algorithm` names the library's choice:
      "nccl"             NCCL's rings (Perlmutter): each ring crosses a node's link once each way
                         and carries what one ring member sends: all-reduce 2 (R-1)/R x G,
                         all-gather (R-1) b; each ring step pays the link's latency.
      "mpi"              OpenMPI's blocking collectives (the CPU path, dist.timeout_s = 0), as
                         measured on emulated hosts (docs/performance.md): all-reduce one
                         reduction across the nodes, 2 (N-1)/N x G; all-gather every rank's
                         block to every rank of the other nodes, P (R-P) b. Both move their
                         bytes across the link one direction at a time: twice the time of a
                         ring, which sends and receives at once.
      "mpi_nonblocking"  OpenMPI's non-blocking calls (libnbc; the watchdog's, dist.timeout_s > 0):
                         all-reduce a ring over the ranks, 2 (R-1)/R x G; all-gather as "mpi".
    Used by `scaling.py run --hosts` to compare with emulated hosts."""
    r = ranks
    p = max(1, ranks_per_node)
    n = r // p
    if n <= 1:
        return {"grad_bytes_out": 0.0, "grad_s": 0.0, "key_bytes_out": 0.0, "key_s": 0.0}
    gathers = [key_bytes_per_rank] + ([image_bytes_per_rank] if shuffle_gather else [])
    serial = 1.0  # 2: the bytes cross the link one direction at a time (see "mpi")
    if algorithm == "nccl":
        grad_out, grad_steps = 2 * (r - 1) / r * grad_bytes, 2 * (r - 1)
        blocks, gather_steps = r - 1, r - 1
    elif algorithm in ("mpi", "mpi_nonblocking"):
        if algorithm == "mpi":
            grad_out, grad_steps = 2 * (n - 1) / n * grad_bytes, 2 * (n - 1)
        else:
            grad_out, grad_steps = 2 * (r - 1) / r * grad_bytes, 2 * (r - 1)
        blocks, gather_steps = p * (r - p), max(1, (r - 1).bit_length())
        serial = 2.0 if algorithm == "mpi" else 1.0
    else:
        raise ValueError(f"comm_prediction: unknown algorithm '{algorithm}'")
    key_out = sum(blocks * b for b in gathers)
    return {"grad_bytes_out": grad_out,
            "grad_s": serial * grad_out / link_bytes_per_s + grad_steps * latency_s,
            "key_bytes_out": key_out,
            "key_s": serial * key_out / link_bytes_per_s + len(gathers) * gather_steps * latency_s}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--per-gpu", type=int, default=256, help="images per GPU and step")
    ap.add_argument("--arch", choices=sorted(PARAMS), default="resnet50")
    a = ap.parse_args()
    b = a.per_gpu
    ips_gpu = PLAIN_224[a.arch] * FLOP_RATIO_96 / MOCO_FACTOR  # MoCo images/s per GPU, upper bound
    t_comp = b / ips_gpu  # s per step
    grad_mb = PARAMS[a.arch] * 4 / 1e6
    img_in = C * H_IN * H_IN * 4   # bytes per archive row
    img_crop = C * H_CROP * H_CROP * 4
    print(f"{a.arch}, {b} images per GPU, compute {1e3 * t_comp:.1f} ms per step "
          f"({ips_gpu:.0f} MoCo images/s per GPU, an upper bound from the A100 anchor), "
          f"gradients {grad_mb:.0f} MB\n")
    print("| nodes | GPUs | global batch | fits K? | grad all-reduce MB/GPU (ms) | key all-gather MB/GPU (ms) "
          "| shuffle gather: images MB/GPU (ms) | local: images | FS read GB/s/node none (local) "
          "| cache GB/node | cache exchange MB/GPU (ms) |")
    print("|" + "---|" * 11)
    stop = {}
    for nodes in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        R = nodes * GPUS_PER_NODE
        G = R * b
        fits = K_QUEUE % G == 0
        ring = 2 * (R - 1) / R * grad_mb                    # ring all-reduce, per GPU
        t_ring = ring / 1e3 / NIC_GBPS if nodes > 1 else 0.0
        keys = (R - 1) * b * KEY_DIM * 4 / 1e6              # received per GPU
        t_keys = keys / 1e3 / NIC_GBPS
        gath = (R - 1) * b * img_crop / 1e6
        t_gath = gath / 1e3 / NIC_GBPS
        fs_none = GPUS_PER_NODE * b * img_in / t_comp / 1e9  # GB/s per node to keep up
        fs_local = fs_none * (1 + (R - 1) / R)               # + the key samples outside its slice
        cache_gb = N_TRAIN * img_in / nodes / 1e9
        xch = 2 * b * img_in * (R - 1) / R / 1e6             # own slice + local's keys, per GPU
        t_xch = xch / 1e3 / NIC_GBPS
        fs_agg = fs_none * nodes
        print(f"| {nodes} | {R} | {G} | {'yes' if fits else 'no'} | {ring:.0f} ({1e3 * t_ring:.1f}) | "
              f"{keys:.1f} ({1e3 * t_keys:.2f}) | {gath:.0f} ({1e3 * t_gath:.0f}) | 0 | "
              f"{fs_none:.1f} ({fs_local:.1f}) | "
              f"{cache_gb:.0f}{' (> RAM)' if cache_gb > 0.8 * NODE_RAM_GB else ''} | {xch:.0f} ({1e3 * t_xch:.1f}) |")
        if "gather" not in stop and t_gath > 0.25 * t_comp:
            stop["gather"] = nodes
        if "keys" not in stop and t_keys > 0.1 * t_comp:
            stop["keys"] = nodes
        if "queue" not in stop and not fits:
            stop["queue"] = nodes
        if "lustre" not in stop and fs_agg > LUSTRE_AGG_GBPS:
            stop["lustre"] = nodes
    print()
    print(f"- shuffle_bn = gather: the image all-gather passes 25% of the compute time at "
          f"{stop.get('gather', '>256')} node(s) and grows with the node count;")
    print(f"- the key all-gather (every mode) passes 10% of the compute time at {stop.get('keys', '>256')} nodes;")
    print(f"- K = {K_QUEUE} no longer holds whole global batches of {b} per GPU from {stop.get('queue', '>256')} nodes "
          f"(fewer images per GPU or a longer queue);")
    print(f"- without the cache the aggregate read rate passes Lustre's 5 TB/s at {stop.get('lustre', '>256')} nodes; "
          f"the per-node client bandwidth (not published) binds earlier.")


if __name__ == "__main__":
    main()
