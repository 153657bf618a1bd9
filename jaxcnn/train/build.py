"""What a TrainConfig builds: its model and the shapes of its initial state.

One place for both, so the training loop and `jaxcnn.transfer` (which must rebuild another run's state to
read its checkpoint) cannot disagree about what a config means.
"""

import jax
import jax.numpy as jnp

from jaxcnn import models, transfer
from jaxcnn.data import get_dataset_spec
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import TrainState, create_train_state


def build_model(config: TrainConfig, **overrides):
    """The config's model: its class count and dtype, auxiliary heads when their loss is on; `overrides` such
    as `bn_axis_name` go to `models.get_model`."""
    options = {"aux_heads": True} if config.aux_loss_weight else {}
    return models.get_model(config.model, num_classes=config.class_count(), dtype=jnp.dtype(config.dtype),
                            **options, **overrides)


def transfer_head(config: TrainConfig, model=None) -> frozenset[str]:
    """The head modules (`jaxcnn.transfer.head_modules`) of a config that transfers (--init_from) or treats the
    backbone apart (--backbone_lr_scale); empty for any other, which has one parameter group."""
    if not config.init_from and config.backbone_lr_scale == 1:
        return frozenset()
    return transfer.head_modules(model or build_model(config), get_dataset_spec(config.dataset).image_shape)


def abstract_state(config: TrainConfig) -> TrainState:
    """The shapes and dtypes of the config's TrainState (nothing computed): the target for reading a checkpoint
    the config's run wrote. The schedule's length does not change the state, so one step an epoch will do."""
    model = build_model(config)
    tx = make_optimizer(config, steps_per_epoch=1, head=transfer_head(config, model))
    image_shape = get_dataset_spec(config.dataset).image_shape
    return jax.eval_shape(lambda: create_train_state(model, tx, config.seed, image_shape))
