"""Against the real thing: torchvision's (and timm's) own networks, randomly initialised with random BatchNorm
statistics, in eval mode, saved as PyTorch saves them; jaxcnn imports the file and must give the same
logits, and its export must load back into torchvision with strict=True. Skipped without torch."""

import numpy as np
import pytest

from jaxcnn import pretrained

from test_pretrained_fixtures import jaxcnn_logits, relative_error

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

SIZE = 64  # VGG's last map is then 2x2, so fc1's (C, H, W) row order matters


def _randomised(net):
    """`net` in eval mode with BatchNorm statistics and affine parameters away from their 0 / 1 defaults."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                for tensor, (low, high) in ((module.running_mean, (-0.3, 0.3)), (module.running_var, (0.5, 1.5)),
                                            (module.weight, (0.3, 1.2)), (module.bias, (-0.1, 0.1))):
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
    return net.eval()


def check(net, spec_source: str, arch: str, tmp_path, suffix: str = ".pth") -> None:
    torch.manual_seed(0)
    net = _randomised(net)
    path = tmp_path / f"{arch}{suffix}"
    if suffix == ".pth":
        torch.save(net.state_dict(), path)
    else:
        pretrained.write_state_dict(path, {k: v.numpy() for k, v in net.state_dict().items()})
    images = np.random.default_rng(0).uniform(-2, 2, size=(2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        reference = net(torch.from_numpy(images)).numpy()
    name, variables = pretrained.load_variables(f"{spec_source}:{arch}:{path}")
    assert relative_error(jaxcnn_logits(name, variables, images), reference) <= 1e-4
    exported = tmp_path / f"{arch}_exported{suffix}"
    pretrained.write_state_dict(exported, pretrained.export_state_dict(name, variables))
    state = torch.load(exported, weights_only=True) if suffix == ".pth" else {
        k: torch.from_numpy(v.copy()) for k, v in pretrained.read_state_dict(exported).items()}
    net.load_state_dict(state, strict=True)  # torchvision takes the export as it is
    with torch.no_grad():
        np.testing.assert_array_equal(net(torch.from_numpy(images)).numpy(), reference)


def test_torchvision_resnet18_pth(tmp_path):
    check(torchvision.models.resnet18(), "torchvision", "resnet18", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(set(pretrained.ARCHITECTURES) - {"resnet18"}))
def test_every_torchvision_architecture(arch, tmp_path):
    check(getattr(torchvision.models, arch)(), "torchvision", arch, tmp_path, ".safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("arch", pretrained.RESNETS)
def test_timm_resnets(arch, tmp_path):
    timm = pytest.importorskip("timm")
    check(timm.create_model(arch, pretrained=False), "timm", arch, tmp_path)
