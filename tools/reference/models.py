"""PyTorch model definitions used for reference checks and training.

Architectures (random weights are fine for engine checks):
  fer4      4-conv 48x48 FER CNN (conv-BN-ReLU blocks, max-pool, FC)
  minixcept mini-Xception (Arriaga et al.): separable convs + residual 1x1 strided convs
  fervgg    emotion v2 default: VGG-style 48x48, one full-res conv then 2 convs per stage
  vggish    VGG-style 48x48 net (3x3 conv stacks with BN, max-pool, FC with dropout)
  opzoo     small net exercising the remaining operators (Pad reflect/constant, LeakyRelu,
            ReLU6/Clip, Sigmoid, Tanh, Concat, MatMul, Mul, Sub, Div, AvgPool ceil/count_include_pad,
            standalone BatchNorm, Reshape)
torchvision: mobilenet_v2, resnet18, inception_v3 (see make_reference.py).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k=3, s=1, p=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FER4(nn.Module):
    """4 conv blocks on 48x48 grayscale, then FC. `width` scales channels."""
    def __init__(self, width=32, classes=7, dropout=0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn(1, w), nn.MaxPool2d(2),            # 24
            conv_bn(w, 2 * w), nn.MaxPool2d(2),        # 12
            conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),    # 6
            conv_bn(4 * w, 8 * w), nn.MaxPool2d(2),    # 3
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * w * 9, 256), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Linear(256, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class FERVGG(nn.Module):
    """VGG-style 48x48 net for emotion v2: one conv at full resolution (cheap: 1 input
    channel), then `convs[i]` 3x3 convs per stage at 24, 12 and 6 px, global-free FC head.
    widths (32,64,128,256), convs (1,2,2,2): ~96 M MACs per face (FER4 w32: 33 M)."""
    def __init__(self, widths=(32, 64, 128, 256), convs=(1, 2, 2, 2), classes=7, fc=256, dropout=0.4):
        super().__init__()
        layers, cin = [], 1
        for w, n in zip(widths, convs):
            for _ in range(n):
                layers.append(conv_bn(cin, w))
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin * 9, fc),
                                        nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(fc, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.main = nn.Sequential(conv_bn(cin, cout, s=stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.main(x) + self.skip(x))


class FERResNet(nn.Module):
    """Small ResNet for 48x48 faces: a 3x3 stem at full resolution, max-pool, then one basic
    block per stage at 24, 12, 6 and 3 px (strided convs), global average pool, FC."""
    def __init__(self, widths=(32, 64, 128, 256), classes=7):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, widths[0]), nn.MaxPool2d(2))
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(ResBlock(cin, w, 1 if i == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class SeparableConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pw(self.dw(x))


class XceptionBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, 2, bias=False), nn.BatchNorm2d(cout))
        self.main = nn.Sequential(SeparableConv(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                                  SeparableConv(cout, cout), nn.BatchNorm2d(cout), nn.MaxPool2d(3, 2, 1))

    def forward(self, x):
        return self.main(x) + self.residual(x)


class MiniXception(nn.Module):
    def __init__(self, classes=7, widths=(16, 32, 64, 128)):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, 8, p=0), conv_bn(8, 8, p=0))
        blocks, cin = [], 8
        for w in widths:
            blocks.append(XceptionBlock(cin, w))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv2d(cin, classes, 3, 1, 1)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class VGGish(nn.Module):
    def __init__(self, classes=7, widths=(64, 128, 256, 512), fc=1024):
        super().__init__()
        layers, cin = [], 1
        for i, w in enumerate(widths):
            for _ in range(2 if i < 2 else 3):
                layers.append(conv_bn(cin, w))
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(cin * 9, fc), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                        nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(fc, classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class OpZoo(nn.Module):
    def __init__(self, classes=7):
        super().__init__()
        self.pad = nn.ReflectionPad2d(2)
        self.c1 = nn.Conv2d(1, 8, 5, stride=2, dilation=1)
        self.bn_free = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.c3 = nn.Conv2d(16, 16, 3, stride=1, padding=1, groups=4)
        self.avg = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        self.avg2 = nn.AvgPool2d(2, 2, ceil_mode=True)
        self.proj = nn.Parameter(torch.randn(16, classes) * 0.1)

    def forward(self, x):
        x = self.c1(self.pad(x))
        x = F.leaky_relu(self.bn_free(x + 0.5), 0.2)                     # Add(const) then standalone BN
        y = torch.tanh(self.c2(F.pad(x, (1, 1, 1, 1), value=0.25)))[:, :, 1:-1, 1:-1] if False else torch.tanh(self.c2(x))
        z = torch.cat([x * torch.sigmoid(y), F.relu6(y) - x / 3.0], dim=1)  # Mul, Sigmoid, Clip, Sub, Div, Concat
        z = self.avg(F.relu(self.c3(z)))
        z = self.avg2(z)
        z = z.mean(dim=(2, 3)) if False else F.adaptive_avg_pool2d(z, 1).reshape(-1, 16)
        return z @ self.proj                                             # MatMul


class WithSoftmax(nn.Module):
    """softmax(k * net(x)). Random-weight nets give near-uniform probabilities, which would
    make a probability comparison weak; k is chosen so the logits spread (std ~4)."""
    def __init__(self, net, k=1.0):
        super().__init__()
        self.net = net
        self.k = k

    def forward(self, x):
        return F.softmax(self.net(x) * self.k, dim=1)


def randomize_bn(model, generator):
    """Random running statistics, so BN folding is actually exercised."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
