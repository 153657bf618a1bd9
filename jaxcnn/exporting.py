"""A trained run as files other programs load: a serialized `jax.export` artifact and a TensorFlow SavedModel.

Both take uint8 images [batch, H, W, C] (any batch size) exactly as the run's data pipeline hands them over,
and return float32 logits [batch, classes]: normalisation is inside. Written to OUT/:

    model.jax_export     `jax.export.deserialize(data).call(images)` -> logits (JAX of the same or a newer version)
    saved_model/         `tf.saved_model.load(...).signatures["serving_default"](images=...)` -> {'logits',
                         'probabilities'} (TF Serving; built by jax2tf)
    model.json           class names, input shape and dtype, the dataset (its normalisation), run, checkpoint, step

The SavedModel computes fixed batches of `batch_size` (the last padded) inside a TF loop: a batch dimension
left symbolic makes jax2tf emit shape checks that this TensorFlow's XLA cannot read back (its StableHLO is
older than this JAX's). `python -m jaxcnn.export` is the command line.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import tensorflow as tf
from jax.experimental import jax2tf

from jaxcnn import errors
from jaxcnn.inspection import class_names
from jaxcnn.train.plan import build_model
from jaxcnn.train.workdir import TrainedRun
from jaxcnn.trained_run import load_run

JAX_FILE, SAVED_MODEL_DIR, INFO_FILE = "model.jax_export", "saved_model", "model.json"


def logits_fn(run: TrainedRun):
    """fn(variables, uint8 images) -> float32 logits: the run's normalisation and model in inference mode."""
    model = build_model(run.plan)

    def logits(variables, images):  # the run's input preparation: standardise, [grey to RGB, resize]
        return model.apply(variables, run.plan.model_input(images), train=False).astype(jnp.float32)

    return logits


def export_jax(run: TrainedRun, path: pathlib.Path) -> pathlib.Path:
    """The run's network with its weights as a `jax.export` artifact, batch size symbolic."""
    fn = logits_fn(run)
    variables = run.variables
    shape = jax.export.symbolic_shape(f"batch, {', '.join(map(str, run.plan.image_shape))}")
    exported = jax.export.export(jax.jit(lambda images: fn(variables, images)))(jax.ShapeDtypeStruct(shape, jnp.uint8))
    path.write_bytes(exported.serialize())
    return path


def export_saved_model(run: TrainedRun, path: pathlib.Path, batch_size: int = 32) -> pathlib.Path:
    """The run's network as a SavedModel whose weights are tf.Variables; 'serving_default' takes any batch."""
    height, width, channels = run.plan.image_shape
    converted = jax2tf.convert(logits_fn(run), with_gradient=False)
    module = tf.Module()
    module.variables_tree = tf.nest.map_structure(tf.Variable, run.variables)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")],
                 autograph=False)
    def serve(images):
        count = tf.shape(images)[0]
        padded = tf.pad(images, [[0, (-count) % batch_size], [0, 0], [0, 0], [0, 0]])
        chunks = tf.reshape(padded, [-1, batch_size, height, width, channels])
        logits = tf.map_fn(lambda chunk: converted(module.variables_tree, chunk), chunks,
                           fn_output_signature=tf.TensorSpec([batch_size, run.plan.num_classes], tf.float32))
        logits = tf.reshape(logits, [-1, run.plan.num_classes])[:count]
        return {"logits": logits, "probabilities": tf.nn.softmax(logits)}

    module.serve = serve
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve})
    return path


def export_run(workdir, out_dir, *, checkpoint: str | int = "best", formats=("jax", "saved_model"),
               batch_size: int = 32) -> dict:
    """Write the run's network in `formats` to `out_dir` (a new or empty folder: nothing is overwritten);
    returns {'paths', 'step', 'source'}."""
    run = load_run(workdir, checkpoint)
    out_dir = pathlib.Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise errors.ConfigError(f"--out={out_dir} exists and is not an empty folder; choose a new one "
                                 "(nothing is overwritten)")
    unknown = sorted(set(formats) - {"jax", "saved_model"})
    if unknown or not formats:
        raise errors.unknown_name_error("export format", ",".join(unknown) or "(none)", ["jax", "saved_model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / INFO_FILE]
    info = {"classes": class_names(run.plan), "input_shape": [None, *run.plan.image_shape], "input_dtype": "uint8",
            "output": "float32 logits [batch, classes]", "workdir": str(run.workdir), "checkpoint": run.source,
            "step": run.step, "model": run.plan.config.model, "dataset": run.plan.dataset.to_dict()}
    paths[0].write_text(json.dumps(info, indent=1) + "\n")
    if "jax" in formats:
        paths.append(export_jax(run, out_dir / JAX_FILE))
    if "saved_model" in formats:
        paths.append(export_saved_model(run, out_dir / SAVED_MODEL_DIR, batch_size))
    return {"paths": paths, "step": run.step, "source": run.source}
