"""`jaxcnn.exporting` and `python -m jaxcnn.export`: each artifact, reloaded (the SavedModel by TensorFlow, the
`jax.export` file by JAX), reproduces the run's own logits for any batch size."""

import json

import jax
import numpy as np
import pytest
import tensorflow as tf

from jaxcnn import export as export_command
from jaxcnn import exporting
from jaxcnn.data import load_split
from jaxcnn.trained_run import batched_scores, load_run, scores_fn


@pytest.fixture(scope="module")
def exported(folder_run, tmp_path_factory):
    _, workdir = folder_run
    out = tmp_path_factory.mktemp("export") / "model"
    assert export_command.main([f"--workdir={workdir}", f"--out={out}", "--batch_size=4"]) == 0
    run = load_run(workdir)
    images, _ = load_split(run.plan.dataset, "test[:7]")  # 7: not a multiple of the SavedModel's batch of 4
    logits, _ = batched_scores(scores_fn(run), images)
    return out, images, logits


def test_the_jax_export_artifact_reproduces_the_logits(exported):
    out, images, logits = exported
    restored = jax.export.deserialize(bytearray((out / exporting.JAX_FILE).read_bytes()))
    np.testing.assert_allclose(np.asarray(restored.call(images)), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(restored.call(images[:1])), logits[:1], rtol=1e-5, atol=1e-5)


def test_the_saved_model_reproduces_the_logits(exported):
    out, images, logits = exported
    serve = tf.saved_model.load(str(out / exporting.SAVED_MODEL_DIR)).signatures["serving_default"]
    result = serve(images=tf.constant(images))
    np.testing.assert_allclose(result["logits"].numpy(), logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result["probabilities"].numpy().sum(1), 1, rtol=1e-5)
    info = json.loads((out / exporting.INFO_FILE).read_text())
    assert info["classes"] == ["bottom_left", "top_left", "top_right"] and info["input_shape"] == [None, 16, 16, 3]
    assert info["dataset"]["image_shape"] == [16, 16, 3] and len(info["dataset"]["mean"]) == 3


def test_an_existing_folder_is_never_overwritten(folder_run, exported, capsys):
    out, _, _ = exported
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(SystemExit) as exited:
        export_command.main([f"--workdir={folder_run[1]}", f"--out={out}"])
    assert exited.value.code == 2 and "is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
