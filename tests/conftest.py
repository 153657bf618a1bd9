"""Shared fixtures: real Fashion-MNIST (prepared offline once per machine), runs trained on it and on a folder of
images (once per test session, whatever the number of xdist workers), small real disks, a tiny learnable model."""

import os
import pathlib
import shutil
import subprocess
import uuid

try:  # the optional torch extra: PyPI's torch wheels bring triton, which crashes the process (SIGSEGV) when
    import torchvision  # noqa: F401  torch._dynamo loads it after TensorFlow; loaded first, it is fine
except ImportError:
    pass

import flax.linen as nn
import pytest

from jaxcnn import files
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


FASHION_MNIST_RUN = {"dataset": "fashion_mnist", "model": "tiny_vgg", "augment": "flip", "progress_bar": False,
                     "optimizer": "sgd", "schedule": "constant", "warmup_epochs": 0.0, "classes": "0-4",
                     "train_examples": 2000, "batch_size": 100, "epochs": 1, "learning_rate": 0.05,
                     "validation_examples": 1000}  # the training split's last 1,000: about 500 of the 5 classes


def _once_per_session(tmp_path_factory, name: str, make) -> pathlib.Path:
    """The folder `name` that `make(folder)` filled, made once per test session: xdist workers share one folder
    (pytest-N/, above their popen-gwK/); the first to get its lock makes it, the others wait and find it done.
    For runs that tests only read."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    folder, done = root / name, root / f"{name}.done"
    with files.held_exclusively(root / f"{name}.lock"):  # released with a worker that died, too
        if not done.exists():  # a folder cut short by a failure is made again
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def fashion_mnist_run(tmp_path_factory, fashion_mnist):
    """The workdir of tiny_vgg trained on real Fashion-MNIST's classes 0-4 (`FASHION_MNIST_RUN`: 2,000 images, one
    epoch of 20 steps), for tests that only read a trained run (transfer sources, inspection); once per session."""
    from jaxcnn.train import TrainConfig
    from jaxcnn.train.loop import train_and_evaluate

    return _once_per_session(tmp_path_factory, "fashion_mnist_run_0to4",
                             lambda workdir: train_and_evaluate(TrainConfig(**FASHION_MNIST_RUN), workdir))


@pytest.fixture
def mount_small_disk(tmp_path):
    """`mount_small_disk(mib)` -> a real tmpfs of that size (unmounted afterwards), to fill up for
    full-disk tests; skips where mounting is not permitted (not root, or no CAP_SYS_ADMIN)."""
    mounted = []

    def mount(mib: int):
        mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        mount_point.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(mount_point)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(mount_point)
        return mount_point

    yield mount
    for mount_point in mounted:
        subprocess.run(["umount", str(mount_point)], check=False)


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


# folder_run's settings besides its dataset, for tests that train the same run with one setting changed.
FOLDER_RUN_SETTINGS = dict(model="tiny_vgg", batch_size=12, epochs=10, learning_rate=0.05, warmup_epochs=0,
                           validation_examples=6, checkpoint_every_steps=15, keep_checkpoints=3, progress_bar=False)


@pytest.fixture(scope="session")
def folder_run(tmp_path_factory):
    """(image folder, workdir) of a run trained on a generated folder of real PNG and JPEG files (three classes:
    a bright square in one corner; `folder_data`): 30 steps, its last checkpoints and its best kept. Made once per
    session, shared by the xdist workers; tests only read it."""
    from folder_data import write_folder

    from jaxcnn.train import TrainConfig
    from jaxcnn.train.loop import train_and_evaluate

    def make(folder):
        root = write_folder(folder / "corners", per_class=14, size=16)
        train_and_evaluate(TrainConfig(dataset=f"folder:{root}", **FOLDER_RUN_SETTINGS), folder / "run")

    folder = _once_per_session(tmp_path_factory, "folder_run", make)
    return folder / "corners", folder / "run"
