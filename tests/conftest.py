"""Shared fixtures: real Fashion-MNIST (prepared offline once per machine) and a tiny learnable model."""

import flax.linen as nn
import pytest

from jaxcnn.data import fashion_mnist_offline


@pytest.fixture(scope="session")
def fashion_mnist():
    """(train_images, train_labels, test_images, test_labels) of the real dataset, or skip with the reason."""
    from jaxcnn.data import load_split

    if not fashion_mnist_offline.debian_files_present():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (bash launch/setup.sh --data installs it)")
    train = load_split("fashion_mnist", "train")
    test = load_split("fashion_mnist", "test")
    return (*train, *test)


class TinyNet(nn.Module):
    """A conv + dense net small enough to train in seconds; sows one auxiliary head when asked."""

    num_classes: int = 10
    aux_heads: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.BatchNorm(use_running_average=not train)(nn.Conv(8, (3, 3), use_bias=False)(x)))
        x = nn.max_pool(x, (2, 2), (2, 2))
        if self.aux_heads and train:
            self.sow("aux", "logits", nn.Dense(self.num_classes, name="aux_head")(x.mean((1, 2))))
        x = x.reshape(x.shape[0], -1)
        return nn.Dense(self.num_classes)(x)
