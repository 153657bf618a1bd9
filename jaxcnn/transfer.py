"""Transfer learning (notes 001 and 002): take a trained network, replace its head, then freeze the backbone
or let it learn at a lower rate than the new head.

    head = transfer.head_modules(model, (28, 28, 1))     # frozenset({'fc2'}): found, not named
    labels = transfer.param_labels(params, head)          # 'head' / 'backbone' per leaf: optax.partition
    state = transfer.graft(state, trained, head)          # trained {'params', 'batch_stats'}: its backbone,
                                                          # this run's fresh head

The head is every top-level module whose parameter shapes depend on the class count, found by tracing the
model abstractly with two class counts: the classifier, plus the auxiliary heads when the model has them.
That holds for every model in the zoo and for any new one, whatever its layers are called. The rest is the
backbone. This module is pure surgery on parameter trees; reading a trained run from disk is
`jaxcnn.train.workdir.load_trained`. Experiments use both through `--init_from=<workdir>` and
`--backbone_lr_scale` (0 freezes the backbone: its parameters stay as loaded, through `optax.partition` in
`jaxcnn.train.optim`, and its BatchNorm and Dropout layers run as at test time, `backbone_in_inference_mode`).
"""

import contextlib

import flax.linen as nn
import jax
import numpy as np

from jaxcnn import errors
from jaxcnn.models.common import abstract_variables

HEAD, BACKBONE = "head", "backbone"


def head_modules(model, image_shape) -> frozenset[str]:
    """Names of the model's top-level modules whose parameter shapes change with `num_classes`."""

    def shapes(m):
        params = abstract_variables(m, image_shape)["params"]
        return {name: [leaf.shape for leaf in jax.tree.leaves(tree)] for name, tree in params.items()}

    this, other = shapes(model), shapes(model.clone(num_classes=model.num_classes + 1))
    return frozenset(name for name in this if this[name] != other.get(name))


def param_labels(params, head: frozenset[str]) -> dict:
    """`HEAD` for every leaf under a head module, `BACKBONE` for the rest (works on stacked pmap params too)."""
    return {name: jax.tree.map(lambda _, label=(HEAD if name in head else BACKBONE): label, tree)
            for name, tree in params.items()}


# The layers that behave differently in training, and the switch that makes them behave as at test time.
_INFERENCE_SWITCHES = ((nn.BatchNorm, "use_running_average"), (nn.Dropout, "deterministic"))


@contextlib.contextmanager
def backbone_in_inference_mode(head: frozenset[str]):
    """Inside it, every BatchNorm and Dropout outside the `head` modules runs as at test time, even in a model
    applied with train=True: BatchNorm normalises with its running statistics (and leaves them unchanged),
    Dropout keeps every unit. A frozen backbone then computes in training exactly the features it computes at
    test time, as a fixed feature extractor should; with batch statistics they would depend on the batch."""

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        switch = next((name for kind, name in _INFERENCE_SWITCHES if isinstance(module, kind)), None)
        if switch is None or context.method_name != "__call__" or not module.path or module.path[0] in head:
            return next_fun(*args, **kwargs)
        if getattr(module, switch) is None:  # given at call time (after the input): give True instead
            return next_fun(*args[:1], **{**kwargs, switch: True})
        original = getattr(module, switch)  # a field of the (frozen) module: set for this call only
        object.__setattr__(module, switch, True)
        try:
            return next_fun(*args, **kwargs)
        finally:
            object.__setattr__(module, switch, original)

    with nn.intercept_methods(interceptor):
        yield


def backbone_differences(variables: dict, trained: dict, head: frozenset[str]) -> list[str]:
    """One line per backbone leaf where `variables` and `trained` ({'params', 'batch_stats'}: arrays or shapes,
    e.g. `models.abstract_variables`) differ in shape or presence; empty when the trained backbone fits."""
    differences = []
    for kind in ("params", "batch_stats"):
        ours = _shapes(_backbone(variables.get(kind, {}), head))
        theirs = _shapes(_backbone(trained.get(kind, {}), head))
        differences += [f"{kind}/{name}: {'trained ' + str(theirs[name]) if name in theirs else 'not in the trained run'}"
                        f", this run {shape}" for name, shape in ours.items() if theirs.get(name) != shape]
        differences += [f"{kind}/{name}: only in the trained run" for name in theirs if name not in ours]
    return differences


def graft(state, trained: dict, head: frozenset[str]):
    """`state` with every backbone parameter and BatchNorm statistic taken from `trained` ({'params',
    'batch_stats'}), each placed like the one it replaces; the head modules keep their fresh initialisation."""
    differences = backbone_differences({"params": state.params, "batch_stats": state.batch_stats}, trained, head)
    if differences:
        raise errors.ShapeError(f"the trained backbone does not fit this model: {'; '.join(differences[:3])}")

    def take(kind):
        return {name: tree if name in head else jax.tree.map(_place_like, tree, trained[kind][name])
                for name, tree in getattr(state, kind).items()}

    return state.replace(params=take("params"), batch_stats=take("batch_stats"))


def count(params, head: frozenset[str]) -> tuple[int, int]:
    """(backbone, head) parameter counts."""
    sizes = {label: 0 for label in (BACKBONE, HEAD)}
    for label, leaf in zip(jax.tree.leaves(param_labels(params, head)), jax.tree.leaves(params), strict=True):
        sizes[label] += int(np.prod(leaf.shape))
    return sizes[BACKBONE], sizes[HEAD]


def _backbone(tree, head):
    return {name: subtree for name, subtree in tree.items() if name not in head}


def _shapes(tree) -> dict[str, tuple]:
    """{'block1/conv/kernel': shape} for every leaf."""
    return {"/".join(str(getattr(key, "key", key)) for key in path): tuple(np.shape(leaf))
            for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _place_like(current: jax.Array, value: np.ndarray) -> jax.Array:
    """`value` as a global array with `current`'s sharding and dtype (each process supplies its own shards)."""
    value = np.asarray(value, current.dtype)
    return jax.make_array_from_callback(value.shape, current.sharding, lambda index: value[index])
