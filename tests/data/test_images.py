"""`jaxcnn.data.images` on real files written by PIL: every format and mode comes out as the run's shape, and
a file that is not an image is a one-line error naming it."""

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import images


def _write(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return path


def test_png_and_jpeg_in_any_mode_come_out_at_the_asked_shape(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :15] = (255, 0, 0)  # left half red, right half black
    png = _write(tmp_path / "a.png", rgb)
    jpeg = _write(tmp_path / "b.jpg", rgb)
    gray = _write(tmp_path / "c.bmp", np.full((8, 8), 200, np.uint8))
    out = images.read_image(png, (10, 10), 3)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert tuple(out[5, 0]) == (255, 0, 0) and tuple(out[5, 9]) == (0, 0, 0)
    assert np.abs(images.read_image(jpeg, (10, 10), 3).astype(int) - out).max() < 40  # lossy, same picture
    luma = images.read_image(png, (20, 30), 1)
    assert luma.shape == (20, 30, 1) and luma[0, 0, 0] == 76  # ITU-R 601: 0.299 * 255
    assert (images.read_image(gray, (4, 4), 3) == 200).all()
    assert images.probe(png) == ((20, 30), 3) and images.probe(gray) == ((8, 8), 1)


def test_an_array_is_shaped_as_a_file_is(tmp_path):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    path = _write(tmp_path / "p.png", picture)
    for size, channels in (((9, 9), 3), ((32, 16), 1), ((17, 23), 3)):
        np.testing.assert_array_equal(images.reshape_array(picture, size, channels),
                                      images.read_image(path, size, channels))


@pytest.mark.parametrize("content, message", [(b"", "is empty (0 bytes)"),
                                              (b"not a picture at all", "cannot be read as an image"),
                                              (None, "cannot be read as an image")])
def test_unreadable_files_are_one_line_errors_naming_them(tmp_path, content, message):
    path = tmp_path / "broken.png"
    if content is None:  # a real PNG cut short
        _write(path, np.zeros((64, 64, 3), np.uint8))
        path.write_bytes(path.read_bytes()[:60])
    else:
        path.write_bytes(content)
    with pytest.raises(images.ImageFileError) as raised:
        images.read_image(path, (8, 8), 3)
    assert str(raised.value).startswith(f"{path} ") and message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_find_images_searches_folders_and_refuses_missing_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    first = _write(tmp_path / "sub" / "x.png", np.zeros((2, 2), np.uint8))
    second = _write(tmp_path / "y.JPG", np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("hello")
    assert images.find_images([tmp_path]) == [first, second]
    assert images.find_images([second]) == [second]
    with pytest.raises(images.ImageFileError, match="does not exist"):
        images.find_images([tmp_path / "missing.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(images.ImageFileError, match="empty holds no image files"):
        images.find_images([first, tmp_path / "empty"])
