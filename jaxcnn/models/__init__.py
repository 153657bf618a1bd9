"""Model zoo: one module per family, looked up by name.

    from jaxcnn import models
    model = models.get_model("resnet20", num_classes=10)   # a flax.linen.Module
    variables = models.init_variables(model, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    logits = model.apply(variables, images)                # (N, 10) float32

Every model is a `Classifier`: it takes NHWC float input (checked and cast to its `dtype` once, before its
`forward` runs), infers the input channels, returns float32 logits and has `num_classes` and `dtype` fields
(parameters stay float32). Models with normalisation layers are `NormalizedClassifier`s and build them from
a `norm` field (flax `ModuleDef` style, default `layers.BatchNorm`, called with `bn_momentum`), so the caller
sets, e.g., the axis to average statistics over: `get_model(name, num_classes=10,
norm=functools.partial(layers.BatchNorm, axis_name="batch"))`. `python -m jaxcnn.models --list` lists the names;
`python -m jaxcnn.models NAME --input 32x32x3` prints a per-layer table.
"""

from jaxcnn.models import airbench, lenet, resnet, resnet_cifar, simple, vgg, wide_resnet  # noqa: F401  (register)
from jaxcnn.models.airbench import AirbenchNet, whitening_kernel
from jaxcnn.models.common import Classifier, NormalizedClassifier, abstract_variables, init_variables
from jaxcnn.models.lenet import LeNet5
from jaxcnn.models.registry import ModelSpec, get_model, get_spec, list_models, register
from jaxcnn.models.resnet import ResNet
from jaxcnn.models.resnet_cifar import CifarResNet
from jaxcnn.models.simple import FourThreeCNN, Note004CNN, SequentialCNN, SimpleCNN
from jaxcnn.models.vgg import VGG, TinyVGG
from jaxcnn.models.wide_resnet import WideResNet

__all__ = [
    "AirbenchNet", "CifarResNet", "Classifier", "FourThreeCNN", "LeNet5", "ModelSpec", "NormalizedClassifier",
    "Note004CNN", "ResNet", "SequentialCNN", "SimpleCNN", "TinyVGG", "VGG", "WideResNet", "abstract_variables",
    "get_model", "get_spec", "init_variables", "list_models", "register", "whitening_kernel",
]
