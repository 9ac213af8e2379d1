"""tests/nn/torch_resnet.py - the PyTorch twin of tenet's CIFAR ResNets
(nn/resnet.c), with the same state_dict names, used by the fixture
generator (tests/nn/gen_fixtures.py) and scripts/safetensors_to_torch.py.

Follows the common PyTorch CIFAR implementation (conv1, bn1,
layer{1,2,3}.{i}.conv1/bn1/conv2/bn2, shortcut.0/.1, linear; option A is
F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))), plus the
pre-activation and the no-batch-norm (Fixup/SkipInit-style) variants, and
the group-norm (gn: groups = C // 16, at least 1, lowered to a divisor of C)
and layer-norm (ln: GroupNorm(1, C)) variants of the post-activation net,
their norms under the batch norms' names.

Also a deterministic, well-scaled weight fill (det_fill) for the golden
fixtures, independent of PyTorch's RNG.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("bn", "preact", "nobn", "gn", "ln")
POST_ACT = ("bn", "gn", "ln")


def norm_groups(variant, channels, group_channels=16):
    if variant == "ln":
        return 1
    groups = max(1, channels // group_channels)
    while channels % groups:
        groups -= 1
    return groups


def post_norm(variant, channels, group_channels=16):
    """The norm of a post-activation variant: BatchNorm2d or GroupNorm."""
    if variant == "bn":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(norm_groups(variant, channels, group_channels), channels)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, variant="bn", shortcut="A", group_channels=16):
        super().__init__()
        assert variant in VARIANTS and shortcut in ("A", "B")
        self.variant, self.option = variant, shortcut
        self.planes, self.stride = planes, stride
        bias = variant == "nobn"
        if variant == "preact":
            self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=bias)
        if variant in POST_ACT:
            self.bn1 = post_norm(variant, planes, group_channels)
        if variant == "preact":
            self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=bias)
        if variant in POST_ACT:
            self.bn2 = post_norm(variant, planes, group_channels)
        if variant == "nobn":
            self.scale = nn.Parameter(torch.ones(()))
        self.project = stride != 1 or in_planes != planes
        if self.project and shortcut == "B":
            layers = [nn.Conv2d(in_planes, planes, 1, stride, 0, bias=bias)]
            if variant in POST_ACT:
                layers.append(post_norm(variant, planes, group_channels))
            self.shortcut = nn.Sequential(*layers)

    def short(self, x, pre):
        if not self.project:
            return x
        if self.option == "A":
            p = self.planes // 4
            s = self.stride
            return F.pad(x[:, :, ::s, ::s], (0, 0, 0, 0, p, p))
        return self.shortcut(pre if self.variant == "preact" else x)

    def forward(self, x):
        if self.variant in POST_ACT:
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return F.relu(y + self.short(x, None))
        if self.variant == "preact":
            pre = F.relu(self.bn1(x))
            y = self.conv1(pre)
            y = self.conv2(F.relu(self.bn2(y)))
            return y + self.short(x, pre)
        y = F.relu(self.conv1(x))
        y = self.conv2(y) * self.scale
        return F.relu(y + self.short(x, None))


class CifarResNet(nn.Module):
    def __init__(self, depth=20, num_classes=10, width=16, in_channels=3, variant="bn",
                 shortcut="A", group_channels=16):
        super().__init__()
        assert (depth - 2) % 6 == 0 and depth >= 8
        n = (depth - 2) // 6
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=variant == "nobn")
        if variant in POST_ACT:
            self.bn1 = post_norm(variant, width, group_channels)
        in_planes = width
        for stage in range(3):
            planes = width << stage
            blocks = []
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride, variant, shortcut,
                                         group_channels))
                in_planes = planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        if variant == "preact":
            self.bn_final = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        y = self.conv1(x)
        if self.variant in POST_ACT:
            y = F.relu(self.bn1(y))
        elif self.variant == "nobn":
            y = F.relu(y)
        y = self.layer3(self.layer2(self.layer1(y)))
        if self.variant == "preact":
            y = F.relu(self.bn_final(y))
        y = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.linear(y)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------ deterministic fill
# value[k] = float32(offset + scale * u_k), u_k in [-1, 1) from a 32-bit hash
# of (name, k); every step is exact or correctly rounded in IEEE arithmetic,
# so it is reproducible anywhere.

def fnv1a32(name):
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def det_uniform(name, numel):
    k = np.arange(numel, dtype=np.uint64)
    z = (k * np.uint64(0x9E3779B1) + np.uint64(fnv1a32(name))) & np.uint64(0xFFFFFFFF)
    z ^= z >> np.uint64(16)
    z = (z * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    z ^= z >> np.uint64(13)
    return (z >> np.uint64(8)).astype(np.float64) * 2.0 ** -23 - 1.0


def det_fill(name, shape, offset, scale):
    u = det_uniform(name, int(np.prod(shape, dtype=np.int64)))
    return (offset + scale * u).astype(np.float32).reshape(shape)


def det_init_spec(name, shape):
    """(offset, scale) of a parameter: weights of >= 2 dims +-1/sqrt(fan_in),
    batch-norm gammas 1 +- 0.2, batch-norm betas and other biases +-0.1."""
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        return 0.0, 1.0 / math.sqrt(fan_in)
    if name.endswith(".weight"):
        return 1.0, 0.2
    return 0.0, 0.1
