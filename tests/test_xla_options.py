"""jaxcnn.xla_options: the CPU options reach the steps jaxcnn compiles, and other backends get none."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import xla_options
from jaxcnn.train import parallel


def test_options_by_platform():
    assert xla_options.compiler_options("cpu") == {"xla_cpu_experimental_ynn_fusion_type": ""}
    assert xla_options.compiler_options("gpu") == {} and xla_options.compiler_options("tpu") == {}
    xla_options.compiler_options("cpu").clear()  # a new dict each time: a caller cannot change the defaults
    assert xla_options.CPU_OPTIONS


def test_the_jit_step_compiles_its_convolutions_without_ynnpack():
    """A widening conv's kernel gradient goes to YNNPACK under XLA's defaults, not through the data-parallel
    compile; both give the same gradient within float32 tolerance."""

    def kernel_grad(state, batch):
        conv = lambda w: jax.lax.conv_general_dilated(batch["x"], w, (1, 1), "SAME",
                                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return state, {"grad": jax.grad(lambda w: jnp.sum(conv(w) ** 2))(state)}

    steps = type("Steps", (), {"train_step": staticmethod(kernel_grad), "eval_step": staticmethod(kernel_grad)})
    data_parallel = parallel.JitDataParallel(parallel.make_mesh(jax.devices()[:1]))
    train_step, _ = data_parallel.compile(steps)
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(3, 3, 8, 32)), jnp.float32)
    batch = {"x": jnp.asarray(rng.normal(size=(8, 6, 6, 8)), jnp.float32)}
    default = jax.jit(kernel_grad).lower(w, batch).compile()
    assert "ynn_fusion" in default.as_text()
    ours = train_step.lower(w, batch).compile()
    assert "ynn_fusion" not in ours.as_text()
    expected = default(w, batch)[1]["grad"]
    np.testing.assert_allclose(ours(jnp.copy(w), batch)[1]["grad"], expected, rtol=1e-5, atol=1e-4)  # w donated
