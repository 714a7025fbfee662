"""Evaluator networks. Each ``forward(x)`` takes float images in [-1, 1] and returns ``(logits, features)`` where
``features`` is the penultimate layer (what FCD, precision/recall and the RLS class features use)."""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError


class MNISTCNN(nn.Module):
    """RLS supplementary Table 8 (the Bures library's ``mnist_cnn``): Conv 32 k5 ReLU -> MaxPool 2 -> Conv 64 k5 ReLU
    -> MaxPool 2 -> Flatten (4·4·64 = 1024) -> Dense ``hidden`` (1024) ReLU -> Dropout 0.5 -> Dense classes.
    Features: the ``hidden``-d ReLU layer (before dropout). Valid padding, as the table's 24x24 / 8x8 sizes."""

    input_size = 28

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32, hidden: int = 1024,
                 dropout: float = 0.5):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 5)
        self.conv2 = nn.Conv2d(width, 2 * width, 5)
        self.fc = nn.Linear(2 * width * 16, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, num_classes)
        self.feature_dim = hidden

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        features = F.relu(self.fc(h.flatten(1)))
        return self.out(self.dropout(features)), features


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:  # option B: 1x1 projection
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class CIFARResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016), depth 6k+2 (ResNet-56: k = 9; the RLS paper's evaluator, 93.77%):
    3x3 conv 16 -> three stages of k basic blocks (16, 32, 64 channels; stride 2 between stages) -> global average
    pooling (the 64-d features) -> linear. ``width`` scales the channels (16 by default)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, depth: int = 56, width: int = 16):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"CIFAR ResNet depth must be 6k+2 >= 8 (20, 32, 44, 56, 110), got {depth}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        layers, cin = [], width
        for stage, mult in enumerate((1, 2, 4)):
            for b in range(blocks):
                layers.append(_BasicBlock(cin, width * mult, 2 if (stage > 0 and b == 0) else 1))
                cin = width * mult
        self.layers = nn.Sequential(*layers)
        self.out = nn.Linear(cin, num_classes)
        self.feature_dim = cin

    def forward(self, x):
        features = self.layers(self.stem(x)).mean((2, 3))
        return self.out(features), features


class AttributeCNN(nn.Module):
    """A multi-label attribute classifier for 64x64 faces: ``blocks`` x (3x3 conv stride 2, BN, ReLU) with widths
    32, 64, 128, 256, ... -> global average pooling (features) -> one logit per attribute. Dia-GAN used a VGG16
    (REFERENCE 2.10); this smaller net reaches its >= 95% per-attribute accuracy on most attributes."""

    def __init__(self, num_classes: int = 8, in_channels: int = 3, width: int = 32, blocks: int = 4):
        super().__init__()
        layers, cin = [], in_channels
        for b in range(blocks):
            cout = width * 2 ** b
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                       nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(cin, num_classes)
        self.feature_dim = cin

    def forward(self, x):
        features = self.body(x).mean((2, 3))
        return self.out(features), features


ARCHITECTURES = {"mnist_cnn": MNISTCNN, "cifar_resnet": CIFARResNet, "attribute_cnn": AttributeCNN}
