"""The network whose feature maps define content and style, from any of three places:

    WORKDIR                      a jaxcnn training run of a VGG-family model (its best checkpoint), normalised
                                 with its dataset's statistics
    torchvision:vgg19:PATH       ImageNet weights imported by `jaxcnn.pretrained` (ImageNet normalisation)
    random:MODEL                 a randomly initialised VGG: for testing the plumbing only, its results are meaningless
"""

import dataclasses

import jax
import jax.numpy as jnp

from jaxcnn import errors, models, pretrained
from jaxcnn.data import get_dataset_spec
from jaxcnn.style import features as features_lib
from jaxcnn.train.workdir import load_trained

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RANDOM_WARNING = ("a randomly initialised VGG gives meaningless style transfer: its features encode no learned content "
                  "or style; use a trained run's workdir or ImageNet weights (torchvision:vgg19:PATH)")


@dataclasses.dataclass(frozen=True)
class StyleNetwork:
    description: str
    variables: dict
    mean: tuple
    std: tuple
    trained: bool

    @property
    def family(self) -> str:
        return features_lib.family(self.variables["params"])

    @property
    def channels(self) -> int:
        return features_lib.input_channels(self.variables)

    def features(self, images, names) -> dict:
        """Feature maps of `images` [B, H, W, channels] in [0, 1] (normalised here as the network was trained)."""
        x = (images - jnp.asarray(self.mean, jnp.float32)) / jnp.asarray(self.std, jnp.float32)
        return features_lib.feature_maps(self.variables, x, names)


def load_network(spec: str) -> StyleNetwork:
    """The network `spec` names (see the module docstring); a one-line error for anything else."""
    if spec.startswith("random:"):
        name = spec.removeprefix("random:")
        model_spec = models.get_spec(name)
        model = models.get_model(name, num_classes=10)
        shape = (1, *model_spec.input_shape)
        variables = models.init_variables(model, jax.random.PRNGKey(0), jnp.zeros(shape, jnp.float32), train=False)
        channels = model_spec.input_shape[-1]
        network = StyleNetwork(f"{name}, randomly initialised", dict(variables), (0.5,) * channels,
                               (0.25,) * channels, trained=False)
    elif pretrained.is_spec(spec):
        name, variables = pretrained.load_variables(spec)
        network = StyleNetwork(f"{name} with weights {spec}", variables, IMAGENET_MEAN, IMAGENET_STD, trained=True)
    else:
        run = load_trained(spec, flag="--vgg_from")
        dataset = get_dataset_spec(run.plan.config.dataset)
        network = StyleNetwork(f"{run.plan.config.model} trained on {run.plan.config.dataset} ({run.source} "
                               f"checkpoint, step {run.step}, {run.workdir})", run.variables, dataset.mean,
                               dataset.std, trained=True)
    network.family  # noqa: B018 (a one-line error now for a network that is not a VGG)
    return network


def check_layers(network: StyleNetwork, content_layers, style_layers) -> tuple[tuple, tuple]:
    """The layers to use (the family's defaults where none are given), checked to exist."""
    defaults = features_lib.DEFAULT_LAYERS[network.family]
    content_layers, style_layers = tuple(content_layers or defaults["content"]), tuple(style_layers or defaults["style"])
    names = {layer.name for layer in features_lib.feature_layers(network.variables["params"])}
    missing = sorted(set(content_layers + style_layers) - names)
    if missing:
        raise errors.ConfigError(f"--content_layers / --style_layers: no layer {', '.join(missing)} in {network.description}; "
                                 f"it has {', '.join(sorted(names))}")
    return content_layers, style_layers
