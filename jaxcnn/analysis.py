"""What a trained network does: its predictions and confusion matrix on a split, the kernels of its first
convolution, and the feature maps an image produces at every convolution (notes 001 and 002: the maps
shrink in height and width while the number of filters grows).

    predictions = analysis.predict(model, variables, images, mean=spec.mean, std=spec.std)
    matrix = analysis.confusion_matrix(labels, predictions, num_classes)      # rows: true class
    maps = analysis.feature_maps(model, variables, images[0], mean=spec.mean, std=spec.std)
    layer, kernel = analysis.first_conv_kernel(variables["params"], maps)
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import layers
from jaxcnn.augment import normalize


def _preparer(mean, std, prepare):
    """uint8 images -> the model's float input: `prepare` (e.g. a run plan's `model_input`, which also resizes and
    converts channels as the run trained) or standardisation with (mean, std)."""
    return prepare or (lambda images: normalize(images, mean, std))


def predict(model, variables: dict, images: np.ndarray, *, mean=None, std=None, prepare=None,
            batch_size: int = 500) -> np.ndarray:
    """The predicted class of every uint8 NHWC image, in evaluation mode; batches of one compiled shape
    (the last one padded, its padding dropped)."""
    model_input = _preparer(mean, std, prepare)

    @jax.jit  # the variables are an argument, not constants compiled into the program
    def classes(variables, batch):
        return jnp.argmax(model.apply(variables, model_input(batch), train=False), axis=-1)

    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        padded = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), batch.dtype)])
        out.append(np.asarray(classes(variables, padded))[: len(batch)])
    return np.concatenate(out) if out else np.zeros((0,), np.int64)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[true, predicted] as int64 [num_classes, num_classes]."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return counts


def feature_maps(model, variables: dict, image: np.ndarray, *, mean=None, std=None,
                 prepare=None) -> list[tuple[str, np.ndarray]]:
    """(layer path, H x W x C output) of every convolution, in the order the network applies them, for one
    uint8 H x W x C image in evaluation mode."""
    names = []  # filled while the network is traced, in the order it applies its convolutions

    @jax.jit  # one compiled program: run op by op, a ResNet-20 took seconds to compile its operations one by one
    def convolution_outputs(variables, images):
        outputs = []

        def capture(next_fun, args, kwargs, context):
            out = next_fun(*args, **kwargs)
            if isinstance(context.module, (nn.Conv, layers.Conv2d)) and context.method_name == "__call__":
                names.append("/".join(context.module.path))
                outputs.append(out[0])
            return out

        with nn.intercept_methods(capture):
            model.apply(variables, _preparer(mean, std, prepare)(images), train=False)
        return outputs

    outputs = convolution_outputs(variables, image[None])
    return [(name, np.asarray(out, np.float32)) for name, out in zip(names, outputs, strict=True)]


def first_conv_kernel(params: dict, maps: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray]:
    """(layer path, kernel [kh, kw, in, out]) of the first convolution the network applied, given its
    `feature_maps` (parameter names alone do not say which layer comes first)."""
    if not maps:
        raise ValueError("the network applies no convolution")
    name = maps[0][0]
    tree = params
    for part in name.split("/"):
        tree = tree[part]
    return name, np.asarray(tree["kernel"], np.float32)
