"""airbench94's recipe in PyTorch (Keller Jordan 2024), written from the public airbench94.py's description: the
reference that tests/recipes/test_airbench94.py holds jaxcnn's JAX port to. Float32 on CPU, NCHW as PyTorch has it.

Net: 2x2 whitening conv (bias, frozen kernel) -> GELU -> 3 x [conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN
-> GELU] -> global max -> linear (no bias) -> x 1/9; BN eps 1e-12, momentum 0.4, no trained scale; the first C_in
outputs of each 3x3 conv dirac-initialised. Optimizer: SGD(nesterov) with airbench's decoupled lr / weight decay
per group (BN biases at `bias_scaler` x lr, decay divided to match) and its triangle schedule through LambdaLR.
"""

import torch
import torch.nn.functional as F
from torch import nn


def batch_norm(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    norm.weight.requires_grad = False  # airbench trains the shift only
    return norm


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:cin])
    return conv


class ConvGroup(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1, self.norm1 = conv3x3(cin, cout), batch_norm(cout)
        self.conv2, self.norm2 = conv3x3(cout, cout), batch_norm(cout)

    def forward(self, x):
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class Airbench94(nn.Module):
    def __init__(self, widths=(64, 256, 256), num_classes: int = 10):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, bias=True)
        with torch.no_grad():
            self.whiten.bias.zero_()
        self.whiten.weight.requires_grad = False
        cins = (24, *widths[:-1])
        self.groups = nn.ModuleList(ConvGroup(cin, cout) for cin, cout in zip(cins, widths))
        self.fc = nn.Linear(widths[-1], num_classes, bias=False)

    def forward(self, x):
        x = F.gelu(self.whiten(x))
        for group in self.groups:
            x = group(x)
        return self.fc(x.amax(dim=(2, 3))) / 9


def whitening_weight(images: torch.Tensor, eps: float = 5e-4) -> torch.Tensor:
    """Whitening filters (24, 3, 2, 2) from NCHW images: eigenvectors of the 2x2 patch covariance, largest
    eigenvalue first, scaled by 1/sqrt(eigenvalue + eps), then negated copies."""
    c = images.shape[1]
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4).double()
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    filters = (eigenvectors.T.flip(0) / torch.sqrt(eigenvalues.flip(0) + eps)[:, None]).reshape(-1, c, 2, 2)
    return torch.cat([filters, -filters]).float()


def triangle(total_steps: int, start: float, peak: float, end: float) -> list[float]:
    """The lr multiplier per step: linear start -> 1 at int(peak * total) -> end at total."""
    top = int(peak * total_steps)
    up = [start + (1 - start) * i / top for i in range(top)]
    return up + [1 + (end - 1) * (i - top) / (total_steps - top) for i in range(top, total_steps + 1)]


def optimizer(net: Airbench94, hyp: dict, total_steps: int):
    """(SGD, LambdaLR) with airbench's groups: BN biases at bias_scaler x lr; decay wd / group lr, so that the
    decay per step is wd x multiplier in both groups."""
    kilostep_scale = 1024 * (1 + 1 / (1 - hyp["momentum"]))
    lr = hyp["lr"] / kilostep_scale
    wd = hyp["weight_decay"] * hyp["batch_size"] / kilostep_scale
    lr_biases = lr * hyp["bias_scaler"]
    trained = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    groups = [dict(params=[p for n, p in trained if "norm" in n], lr=lr_biases, weight_decay=wd / lr_biases),
              dict(params=[p for n, p in trained if "norm" not in n], lr=lr, weight_decay=wd / lr)]
    sgd = torch.optim.SGD(groups, momentum=hyp["momentum"], nesterov=True)
    multipliers = triangle(total_steps, *hyp["schedule"])
    return sgd, torch.optim.lr_scheduler.LambdaLR(sgd, lambda i: multipliers[i])


def train_step(net, sgd, scheduler, images, labels, label_smoothing: float) -> float:
    """One step on the batch's summed label-smoothed cross-entropy; returns the loss."""
    net.train()
    loss = F.cross_entropy(net(images), labels, label_smoothing=label_smoothing, reduction="sum")
    sgd.zero_grad(set_to_none=True)
    loss.backward()
    sgd.step()
    scheduler.step()
    return loss.item()


def lookahead(ema: dict, net: nn.Module, decay: float) -> None:
    """ema <- lerp(ema, net, 1 - decay) over the float state (parameters, BN statistics); net <- ema."""
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if value.dtype == torch.float32:
                ema[name].lerp_(value, 1 - decay)
                value.copy_(ema[name])


def tta_logits(net, images):
    """Level-2 test-time augmentation: mirror x {none, 1 px up-left, 1 px down-right}, logits 1/2, 1/4, 1/4."""
    net.eval()

    def mirror(x):
        return 0.5 * net(x) + 0.5 * net(x.flip(-1))
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    h, w = images.shape[2:]
    return 0.5 * mirror(images) + 0.25 * (mirror(padded[:, :, :h, :w]) + mirror(padded[:, :, 2:, 2:]))
