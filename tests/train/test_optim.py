import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.train.config import TrainConfig
from jaxcnn.train.optim import decay_mask, make_optimizer, make_schedule

PARAMS = {"conv": {"kernel": jnp.ones((3, 3, 1, 4)), "bias": jnp.ones(4)}, "bn": {"scale": jnp.ones(4), "bias": jnp.ones(4)}}


def test_weight_decay_skips_biases_and_norm_parameters():
    assert decay_mask(PARAMS) == {"conv": {"kernel": True, "bias": False}, "bn": {"scale": False, "bias": False}}


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_decay_shrinks_kernels_only(optimizer):
    config = TrainConfig(optimizer=optimizer, learning_rate=0.1, momentum=0.0, weight_decay=0.5, schedule="constant")
    tx = make_optimizer(config, steps_per_epoch=10)
    zero_grads = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero_grads, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * 0.5 * np.ones((3, 3, 1, 4)), rtol=1e-6)
    for leaf in (updates["conv"]["bias"], updates["bn"]["scale"], updates["bn"]["bias"]):
        np.testing.assert_array_equal(leaf, 0.0)


def test_cosine_schedule_warms_up_peaks_and_decays_to_zero():
    schedule = make_schedule(TrainConfig(learning_rate=0.4, epochs=10, warmup_epochs=2, schedule="cosine"), 100)
    assert float(schedule(0)) == 0.0
    assert float(schedule(100)) == pytest.approx(0.2)
    assert float(schedule(200)) == pytest.approx(0.4)
    assert float(schedule(600)) == pytest.approx(0.2, abs=1e-6)
    assert float(schedule(1000)) == pytest.approx(0.0, abs=1e-7)


def test_onecycle_peaks_at_the_end_of_the_rise():
    schedule = make_schedule(TrainConfig(learning_rate=1.0, epochs=10, warmup_epochs=3, schedule="onecycle"), 100)
    values = np.array([float(schedule(s)) for s in range(0, 1001, 10)])
    assert values.argmax() * 10 == 300 and values.max() == pytest.approx(1.0)
    assert values[0] < 0.1 and values[-1] < 1e-3


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("scale", [0.0, 0.1])
def test_backbone_learning_rate_scale_scales_only_the_backbone_updates(optimizer, scale):
    """Over several steps (momentum / Adam moments and weight decay included), the head's updates equal those of
    the plain optimizer and the backbone's are `scale` times them: the rule is the same, only its rate differs."""
    params = {"conv": PARAMS["conv"], "bn": PARAMS["bn"], "fc": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)}}
    common = dict(optimizer=optimizer, learning_rate=0.1, weight_decay=0.01, schedule="cosine", epochs=1, warmup_epochs=0.2)
    plain = make_optimizer(TrainConfig(**common), steps_per_epoch=10)
    split = make_optimizer(TrainConfig(**common, backbone_lr_scale=scale), steps_per_epoch=10, head=frozenset({"fc"}))
    plain_state, split_state = plain.init(params), split.init(params)
    for step in range(4):
        grads = jax.tree.map(lambda p, s=step: jnp.sin(jnp.arange(p.size, dtype=jnp.float32) + s).reshape(p.shape), params)
        want, plain_state = plain.update(grads, plain_state, params)
        got, split_state = split.update(grads, split_state, params)
        np.testing.assert_allclose(got["fc"]["kernel"], want["fc"]["kernel"], rtol=1e-6)
        np.testing.assert_allclose(got["fc"]["bias"], want["fc"]["bias"], rtol=1e-6)
        for module in ("conv", "bn"):
            for name in params[module]:
                np.testing.assert_allclose(got[module][name], scale * want[module][name], rtol=1e-5, atol=1e-12)
        assert np.abs(np.asarray(want["conv"]["kernel"])).max() > 0 or step == 0  # step 0 of the warmup is lr 0
