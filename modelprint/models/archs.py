"""Native PyTorch architectures for small image classifiers (no torchvision).

Every entry of :data:`ARCHS` is a factory ``(*, in_channels, num_classes, image_size) -> nn.Module`` that
works for any channel count, any square input size (8x8 and up) and any class count. All models share
one contract, which the fine-tuning attacks (FTLL / RTLL) and the fingerprint schemes rely on:

* ``model.features`` maps normalised ``(N, C, H, W)`` inputs to the penultimate representation
  (``model.embed(x)`` returns it flattened to ``(N, D)``);
* ``model.classifier`` is an ``nn.Linear(D, num_classes)`` and is applied last in ``forward``, so
  ``forward(x) == model.classifier(model.embed(x))`` are the logits ``(N, num_classes)``.

Convolutional nets end in adaptive average pooling, so the head never depends on the input size, and
pooling steps are planned from ``image_size``: a pooling layer that would shrink a map that is already
1x1 is replaced by ``nn.Identity``. Batch norm is the standard ``nn.BatchNorm2d`` (note: in training
mode it needs more than one value per channel, i.e. batches of at least 2 once the map is 1x1).
Initialisation is deterministic under ``torch.manual_seed``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch
from torch import nn

from modelprint.registry import Registry

__all__ = [
    "ARCHS",
    "MLP",
    "VGG",
    "DenseNet",
    "LeNet5",
    "MobileNetV2",
    "ResNet",
    "SmallCNN",
    "WideResNet",
    "arch_names",
    "build_arch",
]

ARCHS: Registry[nn.Module] = Registry("architecture", group="modelprint.architectures")


def _positive(name: str, value: object) -> int:
    """``value`` as a positive int, or a ValueError naming the argument."""
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if isinstance(value, bool) or number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def _pool(size: int, pool: nn.Module) -> tuple[nn.Module, int]:
    """``pool`` (kernel 2, stride 2) and the map size after it; Identity once the map is 1x1."""
    if size >= 2:
        return pool, size // 2
    return nn.Identity(), size


def _conv_bn_relu(c_in: int, c_out: int, *, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class _Net(nn.Module):
    """Common skeleton: ``features`` -> flatten -> ``classifier`` (an ``nn.Linear``, applied last)."""

    features: nn.Module
    classifier: nn.Linear

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.in_channels = _positive("in_channels", in_channels)
        self.num_classes = _positive("num_classes", num_classes)
        self.image_size = _positive("image_size", image_size)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation ``(N, classifier.in_features)``."""
        return torch.flatten(self.features(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


# --------------------------------------------------------------------------------------------- MLP / LeNet


class MLP(_Net):
    """Multi-layer perceptron: flatten -> hidden layers with ReLU -> linear classifier."""

    def __init__(
        self, *, in_channels: int, num_classes: int, image_size: int, hidden: Sequence[int] = (256, 128)
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        layers: list[nn.Module] = [nn.Flatten()]
        width = self.in_channels * self.image_size * self.image_size
        for h in hidden:
            layers += [nn.Linear(width, _positive("hidden width", h)), nn.ReLU(inplace=True)]
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, self.num_classes)


class LeNet5(_Net):
    """LeNet-5 (LeCun et al., "Gradient-based learning applied to document recognition", Proc. IEEE 1998).

    Modernised as usual: ReLU and max-pooling instead of scaled tanh and subsampling, and a plain linear
    output layer. Convolutions are unpadded ("valid", as in the paper) only where the map entering the
    120-unit layer stays at least 5x5 (so 28x28 and 32x32 inputs give the classic 16x5x5 map); smaller
    inputs use padded convolutions. An adaptive average pool to 5x5 fixes the flattened size at 400.
    """

    def __init__(self, *, in_channels: int, num_classes: int, image_size: int) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        size = self.image_size
        pad1 = 0 if size >= 32 else 2
        size = size - 4 + 2 * pad1
        pool1, size = _pool(size, nn.MaxPool2d(2))
        pad2 = 0 if size >= 14 else 2
        size = size - 4 + 2 * pad2
        pool2, size = _pool(size, nn.MaxPool2d(2))
        self.features = nn.Sequential(
            nn.Conv2d(self.in_channels, 6, 5, padding=pad1),
            nn.ReLU(inplace=True),
            pool1,
            nn.Conv2d(6, 16, 5, padding=pad2),
            nn.ReLU(inplace=True),
            pool2,
            nn.AdaptiveAvgPool2d(5),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(84, self.num_classes)
        self._init_weights()


# ------------------------------------------------------------------------------------------------ SmallCNN


class SmallCNN(_Net):
    """A small VGG-like conv net: ``len(widths)`` blocks of conv3x3-BN-ReLU + max-pool, widths ``w, 2w, 4w``
    by default, then global average pooling and a linear classifier. ``cnn-s/m/l`` differ only in width."""

    def __init__(
        self, *, in_channels: int, num_classes: int, image_size: int, width: int = 16, blocks: int = 3
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        width = _positive("width", width)
        layers: list[nn.Module] = []
        c_in, size = self.in_channels, self.image_size
        for i in range(_positive("blocks", blocks)):
            c_out = width * 2**i
            pool, size = _pool(size, nn.MaxPool2d(2))
            layers += [*_conv_bn_relu(c_in, c_out), pool]
            c_in = c_out
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, self.num_classes)
        self._init_weights()


# -------------------------------------------------------------------------------------------------- ResNet


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(_Net):
    """CIFAR-style ResNet with basic blocks (He et al., "Deep residual learning for image recognition",
    CVPR 2016): a 3x3 stem without max-pool, stages of ``blocks[i]`` blocks with width ``width * 2**i``,
    the first block of every stage after the first downsampling by stride 2 (skipped once the map is 1x1)."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        blocks: Sequence[int] = (2, 2, 2, 2),
        width: int = 64,
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        width = _positive("width", width)
        layers: list[nn.Module] = _conv_bn_relu(self.in_channels, width)
        c_in, size = width, self.image_size
        for i, n in enumerate(blocks):
            c_out = width * 2**i
            for j in range(_positive("blocks per stage", n)):
                stride = 2 if i > 0 and j == 0 and size >= 2 else 1
                size = (size + 1) // 2 if stride == 2 else size
                layers.append(BasicBlock(c_in, c_out, stride))
                c_in = c_out
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, self.num_classes)
        self._init_weights()


class _PreActBlock(nn.Module):
    """Pre-activation wide basic block (BN-ReLU-conv x2, dropout omitted)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(x))
        shortcut = self.shortcut(out) if not isinstance(self.shortcut, nn.Identity) else x
        out = self.conv1(out)
        out = self.conv2(self.relu(self.bn2(out)))
        return out + shortcut


class WideResNet(_Net):
    """Wide ResNet WRN-depth-k (Zagoruyko & Komodakis, "Wide residual networks", BMVC 2016), built on the
    pre-activation ResNet of He et al. 2016: 3 stages of ``(depth - 4) / 6`` blocks, widths 16k/32k/64k."""

    def __init__(
        self, *, in_channels: int, num_classes: int, image_size: int, depth: int = 16, widen: int = 2
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        if (depth - 4) % 6 or depth < 10:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1, got {depth}")
        n = (depth - 4) // 6
        widen = _positive("widen", widen)
        layers: list[nn.Module] = [nn.Conv2d(self.in_channels, 16, 3, padding=1, bias=False)]
        c_in, size = 16, self.image_size
        for i in range(3):
            c_out = 16 * widen * 2**i
            for j in range(n):
                stride = 2 if i > 0 and j == 0 and size >= 2 else 1
                size = (size + 1) // 2 if stride == 2 else size
                layers.append(_PreActBlock(c_in, c_out, stride))
                c_in = c_out
        layers += [nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, self.num_classes)
        self._init_weights()


# ----------------------------------------------------------------------------------------------------- VGG

_VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(_Net):
    """VGG with batch norm (Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
    recognition", ICLR 2015), CIFAR-style: the three large FC layers are replaced by global average pooling
    and one linear classifier. Channel widths are the paper's divided by ``width_div`` (the registered
    ``vgg*-bn`` entries use ``width_div=8``, i.e. 8..64 channels, to stay CPU-friendly; ``width_div=1`` is
    the full-width net). Max-pools are skipped once the map is 1x1."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        cfg: str | Sequence[int | str] = "vgg11",
        width_div: int = 8,
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        if isinstance(cfg, str):
            if cfg not in _VGG_CFGS:
                raise ValueError(f"unknown VGG config {cfg!r}; known: {', '.join(sorted(_VGG_CFGS))}")
            cfg = _VGG_CFGS[cfg]
        width_div = _positive("width_div", width_div)
        layers: list[nn.Module] = []
        c_in, size = self.in_channels, self.image_size
        for v in cfg:
            if v == "M":
                pool, size = _pool(size, nn.MaxPool2d(2))
                layers.append(pool)
            else:
                c_out = max(1, operator.index(v) // width_div)
                layers += _conv_bn_relu(c_in, c_out)
                c_in = c_out
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, self.num_classes)
        self._init_weights()


# ----------------------------------------------------------------------------------------------- MobileNet


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never dropping below 90% (MobileNetV2 code)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise, linear 1x1 projection; residual if shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(c_in, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.residual else out


# (expansion t, channels c, repeats n, stride s): the paper's first six stages, shortened to 1-2 blocks each;
# with the stride-1 stem, inputs are downsampled 4 times (28 -> 14 -> 7 -> 4 -> 2).
_MOBILENET_CFG: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 2, 2),
    (6, 64, 2, 2),
    (6, 96, 1, 1),
    (6, 160, 1, 2),
)


class MobileNetV2(_Net):
    """MobileNetV2-style net (Sandler et al., "MobileNetV2: Inverted residuals and linear bottlenecks",
    CVPR 2018): inverted residual blocks with ReLU6, a stride-1 3x3 stem for small inputs, a shortened
    schedule (one or two blocks per stage) and channels scaled by ``width_mult`` (0.5 registered)."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        width_mult: float = 0.5,
        last_channels: int = 256,
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        c_in = _make_divisible(32 * width_mult)
        layers: list[nn.Module] = [
            nn.Conv2d(self.in_channels, c_in, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU6(inplace=True),
        ]
        size = self.image_size
        for t, c, n, s in _MOBILENET_CFG:
            c_out = _make_divisible(c * width_mult)
            for j in range(n):
                stride = s if j == 0 and size >= 2 else 1
                size = (size + 1) // 2 if stride == 2 else size
                layers.append(InvertedResidual(c_in, c_out, stride, t))
                c_in = c_out
        last = _positive("last_channels", last_channels)
        layers += [
            nn.Conv2d(c_in, last, 1, bias=False),
            nn.BatchNorm2d(last),
            nn.ReLU6(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, self.num_classes)
        self._init_weights()


# ------------------------------------------------------------------------------------------------ DenseNet


class _DenseLayer(nn.Module):
    """BN-ReLU-conv3x3 producing ``growth`` maps, concatenated to its input."""

    def __init__(self, c_in: int, growth: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c_in)
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(c_in, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv(self.relu(self.bn(x)))], 1)


class DenseNet(_Net):
    """Small DenseNet (Huang et al., "Densely connected convolutional networks", CVPR 2017): a 3x3 stem of
    ``2 * growth`` maps, dense blocks of BN-ReLU-conv3x3 layers, and transitions (BN-ReLU-conv1x1 with
    compression, 2x2 average pool skipped once the map is 1x1) between blocks."""

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        image_size: int,
        growth: int = 12,
        blocks: Sequence[int] = (4, 4, 4),
        compression: float = 0.5,
    ) -> None:
        super().__init__(in_channels=in_channels, num_classes=num_classes, image_size=image_size)
        growth = _positive("growth", growth)
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        c = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(self.in_channels, c, 3, padding=1, bias=False)]
        size = self.image_size
        for i, n in enumerate(blocks):
            for _ in range(_positive("layers per block", n)):
                layers.append(_DenseLayer(c, growth))
                c += growth
            if i < len(blocks) - 1:
                c_out = max(1, int(c * compression))
                pool, size = _pool(size, nn.AvgPool2d(2))
                layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c_out, 1, bias=False), pool]
                c = c_out
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, self.num_classes)
        self._init_weights()


# ---------------------------------------------------------------------------------------------- registry


@ARCHS.register("mlp")
def mlp(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """MLP: flatten -> 256 -> 128 (ReLU) -> linear classifier."""
    return MLP(in_channels=in_channels, num_classes=num_classes, image_size=image_size)


@ARCHS.register("lenet")
def lenet(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling."""
    return LeNet5(in_channels=in_channels, num_classes=num_classes, image_size=image_size)


@ARCHS.register("cnn-s")
def cnn_s(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Small conv net, 3 conv-BN-ReLU-pool blocks of 16/32/64 channels."""
    return SmallCNN(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=16)


@ARCHS.register("cnn-m")
def cnn_m(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Small conv net, 3 conv-BN-ReLU-pool blocks of 32/64/128 channels."""
    return SmallCNN(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=32)


@ARCHS.register("cnn-l")
def cnn_l(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Small conv net, 3 conv-BN-ReLU-pool blocks of 64/128/256 channels."""
    return SmallCNN(in_channels=in_channels, num_classes=num_classes, image_size=image_size, width=64)


@ARCHS.register("resnet8")
def resnet8(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-8 (He et al. 2016), CIFAR-style: 3 stages x 1 basic block, widths 16/32/64."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(1, 1, 1), width=16
    )


@ARCHS.register("resnet14")
def resnet14(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-14 (He et al. 2016), CIFAR-style: 3 stages x 2 basic blocks, widths 16/32/64."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(2, 2, 2), width=16
    )


@ARCHS.register("resnet20")
def resnet20(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-20 (He et al. 2016, the CIFAR family): 3 stages x 3 basic blocks, widths 16/32/64."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(3, 3, 3), width=16
    )


@ARCHS.register("vgg13-bn")
def vgg13_bn(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """VGG-13 with batch norm (Simonyan & Zisserman 2015), widths divided by 8 (8..64 channels)."""
    return VGG(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, cfg="vgg13", width_div=8
    )


@ARCHS.register("resnet18")
def resnet18(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-18 (He et al. 2016), CIFAR-style: 4 stages x 2 basic blocks, widths 64..512 (standard)."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(2, 2, 2, 2), width=64
    )


@ARCHS.register("resnet18-s")
def resnet18_s(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-18 (He et al. 2016) at a quarter of the width: widths 16..128, CPU-friendly."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(2, 2, 2, 2), width=16
    )


@ARCHS.register("resnet34")
def resnet34(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """ResNet-34 (He et al. 2016), CIFAR-style: 3/4/6/3 basic blocks, widths 64..512 (standard)."""
    return ResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, blocks=(3, 4, 6, 3), width=64
    )


@ARCHS.register("wrn-16-2")
def wrn_16_2(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Wide ResNet WRN-16-2 (Zagoruyko & Komodakis 2016): widths 32/64/128, 2 blocks per stage."""
    return WideResNet(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, depth=16, widen=2
    )


@ARCHS.register("vgg11-bn")
def vgg11_bn(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """VGG-11 with batch norm (Simonyan & Zisserman 2015), widths divided by 8 (8..64 channels)."""
    return VGG(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, cfg="vgg11", width_div=8
    )


@ARCHS.register("vgg16-bn")
def vgg16_bn(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """VGG-16 with batch norm (Simonyan & Zisserman 2015), widths divided by 8 (8..64 channels)."""
    return VGG(
        in_channels=in_channels, num_classes=num_classes, image_size=image_size, cfg="vgg16", width_div=8
    )


@ARCHS.register("mobilenet")
def mobilenet(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """MobileNetV2-style (Sandler et al. 2018), width 0.5, shortened schedule."""
    return MobileNetV2(in_channels=in_channels, num_classes=num_classes, image_size=image_size)


@ARCHS.register("densenet")
def densenet(*, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Small DenseNet (Huang et al. 2017): growth 12, 3 dense blocks of 4 layers."""
    return DenseNet(in_channels=in_channels, num_classes=num_classes, image_size=image_size)


def arch_names() -> list[str]:
    """Sorted names of the registered architectures."""
    return ARCHS.names()


def build_arch(name: str, *, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    """Build the architecture registered as ``name``.

    Raises ``modelprint.registry.UnknownNameError`` (a ``KeyError``) listing the known names for an unknown
    ``name``, and ``ValueError`` for a non-positive ``in_channels``, ``num_classes`` or ``image_size``.
    """
    factory = ARCHS.get(name)
    return factory(
        in_channels=_positive("in_channels", in_channels),
        num_classes=_positive("num_classes", num_classes),
        image_size=_positive("image_size", image_size),
    )
