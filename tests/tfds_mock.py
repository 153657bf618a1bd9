"""`tfds.testing.mock_data` without its process-wide fake file system, for runs that checkpoint while they read.

The TFDS mock wraps every `builder.as_dataset` call in `test_utils.MockFs`, which redirects *every* epath and
tf.io.gfile path of the process into a temporary folder while the call runs, only so that the builder's data
folder seems to exist. The streaming pipeline calls `as_dataset` at each epoch's start; an orbax checkpoint
being written by a background thread at that moment lands in the temporary folder and fails (CI saw
`No such file or directory: '/tmp/tmpXXXX/<workdir>/best'`). Here the data folder is made to exist for real,
under `data_dir`, and no path is redirected, so checkpoints are written exactly as in a real run: in the
background.
"""

import contextlib
import pathlib
from unittest import mock


class _RealDataFolder:
    """Takes MockFs's place inside the TFDS mock: `add_file` (the mock's one use of it: a file in the
    builder's data folder) creates the file on the real disk; nothing is redirected."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def add_file(self, path, content: str = "") -> None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


@contextlib.contextmanager
def mock_data(num_examples: int, data_dir):
    """Random examples for every TFDS dataset and split (as `tfds.testing.mock_data`), builders' folders under
    `data_dir` (an empty folder of the test's own: the user's TFDS folder is never touched)."""
    import tensorflow_datasets as tfds

    pathlib.Path(data_dir).mkdir(parents=True, exist_ok=True)
    with mock.patch("tensorflow_datasets.testing.mocking.test_utils.MockFs", _RealDataFolder), \
            tfds.testing.mock_data(num_examples=num_examples, data_dir=str(data_dir)):
        yield
