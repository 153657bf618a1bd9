"""Predictions, confusion matrices, first-layer kernels and feature maps, against direct computations."""

import jax
import numpy as np
import pytest

from jaxcnn import analysis, models
from reference_ops import conv2d

MEAN, STD = (0.286,), (0.353,)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    np.testing.assert_array_equal(analysis.confusion_matrix(labels, predicted, 3),
                                  [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


@pytest.fixture(scope="module")
def tiny_vgg():
    model = models.get_model("tiny_vgg", num_classes=10)
    variables = models.init_variables(model, jax.random.PRNGKey(0), np.zeros((1, 28, 28, 1), np.float32))
    images = np.asarray(jax.random.randint(jax.random.PRNGKey(1), (7, 28, 28, 1), 0, 256), np.uint8)
    return model, variables, images


def test_predict_pads_the_last_batch_and_matches_one_direct_forward_pass(tiny_vgg):
    model, variables, images = tiny_vgg
    direct = model.apply(variables, (images / 255.0 - MEAN[0]) / STD[0], train=False).argmax(-1)
    np.testing.assert_array_equal(analysis.predict(model, variables, images, mean=MEAN, std=STD, batch_size=3), direct)


def test_feature_maps_shrink_and_deepen_and_the_first_is_the_convolution_of_the_image(tiny_vgg):
    model, variables, images = tiny_vgg
    maps = analysis.feature_maps(model, variables, images[0], mean=MEAN, std=STD)
    assert [(name, m.shape) for name, m in maps] == [("block1/conv", (28, 28, 32)), ("block2/conv", (14, 14, 64)),
                                                     ("block3/conv", (7, 7, 128))]
    name, kernel = analysis.first_conv_kernel(variables["params"], maps)
    assert name == "block1/conv" and kernel.shape == (3, 3, 1, 32)
    image = (images[:1] / 255.0 - MEAN[0]) / STD[0]
    reference = conv2d(image, kernel, None, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)[0]  # 'same' padding, no bias
    np.testing.assert_allclose(maps[0][1], reference, rtol=1e-4, atol=1e-4)


def test_the_first_convolution_is_found_by_running_the_network_not_by_name():
    model = models.get_model("resnet20", num_classes=10)
    variables = models.init_variables(model, jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3), np.float32))
    image = np.zeros((32, 32, 3), np.uint8)
    maps = analysis.feature_maps(model, variables, image, mean=(0.5,) * 3, std=(0.25,) * 3)
    name, kernel = analysis.first_conv_kernel(variables["params"], maps)
    assert name == "conv1" and kernel.shape == (3, 3, 3, 16)
    assert len(maps) == 19 and maps[-1][1].shape == (8, 8, 64)  # 1 stem + 9 blocks x 2 convs, 32 -> 8 pixels
