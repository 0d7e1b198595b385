"""Independent reference for the golden-value tests (tests/integration/golden).

Uses only Debian's python3-torch and python3-torchvision; skyssl writes the weights and inputs
(torch::pickle_save, read here with torch.load) and reads back what this script computes.

  resnet IN OUT   IN holds cases "<name>/<key>": a skyssl ResNet state_dict (key "sd.<param>"),
                  its options (depth, width, in_channels, sdss, head_dim) and an input x. For
                  each case, a torchvision ResNet is built from torchvision's own parts, loaded
                  strictly by name (so names and shapes must be torchvision's) and run in eval
                  mode and in train mode; OUT gets "<name>/eval", "<name>/train",
                  "<name>/features" and the BN running statistics after the train pass.
  moco IN OUT     IN holds the initial query encoder, the queue, hyper-parameters and, per step,
                  both views and the shuffle-BN permutation skyssl drew. The steps are run as
                  facebookresearch/moco's builder.py orders them (restated below); OUT gets,
                  per step s: logits, loss, the query-encoder gradients, both encoders' state
                  and the queue with its pointer after the step. A step s > 0 starts from
                  skyssl's state after step s-1 when IN holds it ("step<s>/start.*").

Exit status is non-zero (and a message on stderr) on any problem: a missing torchvision is an
error, never a skip.
"""
import copy
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

STAGES = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}


def torchvision_resnet(depth, width, in_channels, sdss, head_dim):
    """torchvision's ResNet with the first-stage width, the band count, the SDSS stem and the
    MoCo v2 head swapped in through torchvision's own _make_layer (torchvision hard-codes 64).
    """
    block, layers = STAGES[depth]
    net = ResNet(block, layers, num_classes=1)
    net.inplanes = width
    # SDSS stem (Hayat et al. 2021): 7x7 stride 1 and no max-pool; else torchvision's stem.
    net.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=1 if sdss else 2, padding=3,
                          bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    if sdss:
        net.maxpool = nn.Identity()
    net.layer1 = net._make_layer(block, width, layers[0])
    net.layer2 = net._make_layer(block, 2 * width, layers[1], stride=2)
    net.layer3 = net._make_layer(block, 4 * width, layers[2], stride=2)
    net.layer4 = net._make_layer(block, 8 * width, layers[3], stride=2)
    d = 8 * width * block.expansion
    net.fc = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, head_dim))
    return net


def state_from(blob, prefix):
    return {k[len(prefix):]: v for k, v in blob.items() if k.startswith(prefix)}


def build(blob, prefix):
    net = torchvision_resnet(int(blob[prefix + "depth"]), int(blob[prefix + "width"]),
                             int(blob[prefix + "in_channels"]), bool(blob[prefix + "sdss"]),
                             int(blob[prefix + "head_dim"]))
    # strict: every skyssl name must be a torchvision name with torchvision's shape.
    net.load_state_dict(state_from(blob, prefix + "sd."), strict=True)
    return net


def resnet(blob):
    out = {}
    names = sorted({k.split("/")[0] for k in blob})
    for name in names:
        p = name + "/"
        net = build(blob, p)
        x = blob[p + "x"]
        feats = {}
        net.avgpool.register_forward_hook(lambda m, i, o: feats.__setitem__("f", o.flatten(1)))
        with torch.no_grad():
            net.eval()
            out[p + "eval"] = net(x)
            net.train()
            out[p + "train"] = net(x)
            out[p + "features"] = feats["f"]
        for k, v in net.state_dict().items():
            if k.endswith("running_mean") or k.endswith("running_var"):
                out[p + "after_train." + k] = v
    return out


def chunked(f, x, group):
    """skyssl's moco.bn_group: BN statistics per group of rows, as on len(x)/group GPUs of
    the reference implementation, each with a per-GPU batch of `group`."""
    return torch.cat([f(x[s:s + group]) for s in range(0, x.shape[0], group)])


def moco(blob):
    m, T = float(blob["m"]), float(blob["T"])
    group, steps = int(blob["bn_group"]), int(blob["steps"])
    encoder_q = build(blob, "q/")
    encoder_k = copy.deepcopy(encoder_q)  # builder.py: key encoder initialised as a copy
    for p in encoder_k.parameters():
        p.requires_grad = False
    queue = blob["queue"].clone()  # (K, dim); builder.py stores (dim, K), same rows
    ptr = 0
    opt = torch.optim.SGD(encoder_q.parameters(), lr=float(blob["lr"]),
                          momentum=float(blob["momentum"]), weight_decay=float(blob["wd"]))
    out = {}
    for s in range(steps):
        p = f"step{s}/"
        im_q, im_k, perm = blob[p + "view1"], blob[p + "view2"], blob[p + "perm"]
        if p + "start.queue" in blob:
            # Continue from skyssl's state after the previous step (test_golden_moco.cpp says
            # why); the optimiser keeps its own momentum buffers (load_state_dict copies into
            # the same parameters).
            encoder_q.load_state_dict(state_from(blob, p + "start.q."), strict=True)
            encoder_k.load_state_dict(state_from(blob, p + "start.k."), strict=True)
            queue = blob[p + "start.queue"].clone()
            ptr = int(blob[p + "start.ptr"])
        encoder_q.train()
        encoder_k.train()
        opt.zero_grad()
        # 1. queries
        q = F.normalize(chunked(encoder_q, im_q, group), dim=1)
        with torch.no_grad():
            # 2. momentum update of the key encoder, parameters only
            for pk, pq in zip(encoder_k.parameters(), encoder_q.parameters()):
                pk.data = pk.data * m + pq.data * (1.0 - m)
            # 3. shuffle BN with skyssl's permutation: row i of the shuffled batch is perm[i]
            k_shuffled = F.normalize(chunked(encoder_k, im_k[perm], group), dim=1)
            k = torch.empty_like(k_shuffled)
            k[perm] = k_shuffled  # undo the shuffle
        # 4. logits against the queue as it was before this step's enqueue
        l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
        l_neg = torch.einsum("nc,ck->nk", [q, queue.t().clone().detach()])
        logits = torch.cat([l_pos, l_neg], dim=1) / T
        labels = torch.zeros(logits.shape[0], dtype=torch.long)
        loss = F.cross_entropy(logits, labels)
        # 5. backward and SGD step (momentum + weight decay), one rank: nothing to average
        loss.backward()
        out[p + "logits"] = logits.detach()
        out[p + "loss"] = loss.detach()
        for n, w in encoder_q.named_parameters():
            out[p + "grad." + n] = w.grad.detach().clone()
        opt.step()
        # 6. enqueue at ptr, ptr advances by the batch and wraps at K
        B = k.shape[0]
        queue[ptr:ptr + B] = k
        ptr = (ptr + B) % queue.shape[0]
        for n, v in encoder_q.state_dict().items():
            out[p + "q." + n] = v.detach().clone()
        for n, v in encoder_k.state_dict().items():
            out[p + "k." + n] = v.detach().clone()
        out[p + "queue"] = queue.clone()
        out[p + "ptr"] = torch.tensor(ptr)
    return out


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("resnet", "moco"):
        sys.exit("usage: torch_reference.py resnet|moco IN OUT")
    torch.set_num_threads(1)
    blob = torch.load(sys.argv[2])
    result = resnet(blob) if sys.argv[1] == "resnet" else moco(blob)
    torch.save(result, sys.argv[3])
    print(f"torch_reference: {sys.argv[1]}: {len(result)} tensors written to {sys.argv[3]}")


if __name__ == "__main__":
    main()
