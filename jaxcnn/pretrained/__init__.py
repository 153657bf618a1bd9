"""Networks other frameworks trained, in jaxcnn: torchvision's ResNet-18..152 and VGG-11..19 (with and without
BatchNorm) and timm's ResNets, from .safetensors (NumPy alone) or .pth (torch, `weights_only`) files whose
published SHA-256 is checked; and jaxcnn variables back out as a torchvision-loadable state_dict.

    name, variables = pretrained.load_variables("torchvision:resnet18:resnet18-f37072fd.pth")
    model = models.get_model(name, num_classes=1000)          # then model.apply(variables, images)
    state_dict = pretrained.export_state_dict("resnet18", variables)
    pretrained.write_state_dict("resnet18.safetensors", state_dict)   # torchvision's load_state_dict takes it

Training starts from such weights with `--init_from=torchvision:resnet18:PATH` (`jaxcnn.train`).
"""

from jaxcnn.pretrained.checksums import TORCHVISION_FILES, TORCHVISION_URL, sha256_of, verify
from jaxcnn.pretrained.convert import export_state_dict, import_state_dict
from jaxcnn.pretrained.files import read_state_dict, write_state_dict
from jaxcnn.pretrained.mapping import ARCHITECTURES, RESNETS, VGGS
from jaxcnn.pretrained.safetensors_format import WeightsFileError, read_safetensors, write_safetensors
from jaxcnn.pretrained.sources import (SOURCES, PretrainedWeights, WeightsSpec, cached_path, is_spec, load,
                                       load_variables, parse_spec)

__all__ = [
    "ARCHITECTURES", "RESNETS", "SOURCES", "TORCHVISION_FILES", "TORCHVISION_URL", "VGGS", "PretrainedWeights",
    "WeightsFileError", "WeightsSpec", "cached_path", "export_state_dict", "import_state_dict", "is_spec", "load",
    "load_variables", "parse_spec", "read_safetensors", "read_state_dict", "sha256_of", "verify",
    "write_safetensors", "write_state_dict",
]
