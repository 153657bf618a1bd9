"""`--dataset=folder:PATH` on real PNG and JPEG files: classes from the subfolders, the user's split or a seeded
one, images resized and converted as asked, and one-line errors for folders and files it cannot use."""

import numpy as np
import pytest
from folder_data import CORNERS, write_folder

from jaxcnn import errors
from jaxcnn.data import folder, images, sources

NAMES = tuple(sorted(CORNERS))


def test_train_and_test_subfolders_are_the_split(tmp_path):
    root = write_folder(tmp_path / "shapes", per_class=4)
    spec = sources.dataset_spec(f"folder:{root}")
    assert spec.class_names == NAMES and spec.num_classes == 3
    assert spec.image_shape == (16, 16, 3) and (spec.num_train, spec.num_test) == (12, 12)
    x, y = sources.load_split(spec, "train")
    assert x.shape == (12, 16, 16, 3) and x.dtype == np.uint8 and sorted(y) == [0] * 4 + [1] * 4 + [2] * 4
    assert list(y[:6]) != sorted(y[:6])  # a seeded shuffle: a hold-out of the last examples spans the classes
    np.testing.assert_allclose(spec.mean, x.reshape(-1, 3).mean(0) / 255, atol=1e-5)
    files = folder.layout(root).files["train"]
    for row in (0, 11):
        path, label = files[row]
        assert label == y[row] and path.parent.name == NAMES[label]
        np.testing.assert_array_equal(x[row], images.read_image(path, (16, 16), 3))
    x_test, _ = sources.load_split(spec, "test[1:3]")
    assert x_test.shape == (2, 16, 16, 3)


def test_a_folder_without_split_is_split_with_a_fixed_seed(tmp_path):
    root = write_folder(tmp_path / "flat", per_class=10, splits=())
    layout = folder.layout(root)
    assert [len(layout.files[s]) for s in ("train", "test")] == [24, 6]  # 20% of each class
    assert not {p for p, _ in layout.files["train"]} & {p for p, _ in layout.files["test"]}
    copy = write_folder(tmp_path / "copy", per_class=10, splits=())
    assert [p.name for p, _ in folder.layout(copy).files["test"]] == [p.name for p, _ in layout.files["test"]]


def test_mixed_sizes_need_an_image_size_and_grayscale_is_kept_or_made(tmp_path):
    root = write_folder(tmp_path / "mixed", per_class=2, sizes=(12, 20), channels=1)
    with pytest.raises(errors.ConfigError, match="differ in size; set --image_size"):
        sources.dataset_spec(f"folder:{root}")
    spec = sources.dataset_spec(f"folder:{root}", image_size=8)
    assert spec.image_shape == (8, 8, 1) and len(spec.mean) == 1
    rgb = sources.dataset_spec(f"folder:{root}", image_size=8, channels=3)
    x, _ = sources.load_split(rgb, "test")
    assert x.shape == (6, 8, 8, 3) and (x[..., 0] == x[..., 2]).all()


def test_folders_it_cannot_use_are_one_line_errors(tmp_path):
    with pytest.raises(errors.ConfigError, match="is not a folder"):
        sources.dataset_spec(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "one" / "cats").mkdir(parents=True)
    with pytest.raises(errors.ConfigError, match="needs a subfolder per class"):
        sources.dataset_spec(f"folder:{tmp_path / 'one'}")
    root = write_folder(tmp_path / "broken", per_class=2)
    bad = root / "train" / NAMES[1] / "zz_empty.png"
    bad.write_bytes(b"")
    with pytest.raises(images.ImageFileError) as raised:
        sources.dataset_spec(f"folder:{root}")
    assert str(raised.value) == f"{bad} is empty (0 bytes); replace or remove it"
