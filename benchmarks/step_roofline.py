"""How close jaxcnn's train step runs to this machine's matrix-multiply speed: the bound on any faster step.

    .venv/bin/python benchmarks/step_roofline.py                          # tiny_vgg at batch 64 (the quickstart)
    .venv/bin/python benchmarks/step_roofline.py --nets=tiny_vgg,resnet20 --batch_size=128

Every convolution and Dense layer of a train step is, written as im2col, three matrix products: the forward
(M x K)(K x N), the kernel gradient (K x M)(M x N) and the input gradient (M x N)(N x K), with M = batch x output
pixels, K = window x input channels, N = output channels. This script finds the net's layers in its forward
jaxpr, times those products as single `jnp.dot` calls (float32 under the options jaxcnn compiles with and under XLA's
defaults; bfloat16 inputs with float32 accumulation, XLA's defaults, for comparison), and sets their sum beside
jaxcnn's real step, timed in the same rounds. The products' sum is a floor for any step that computes these layers
as matrix products on this machine: im2col copies, BatchNorm, activations, pooling and the optimizer come on top.
The step's FLOPs are XLA's own count (`cost_analysis`). The first layer's input gradient, which no step computes,
is counted: the floor is a little high for the first layer and exact for the others.
"""

import argparse
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

from bench_nets import DATASETS  # benchmarks/ is the script's directory
from jaxcnn import xla_options
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.plan import build_model, resolve
from step_overhead import compiled_real_step, interleaved, timer


# How the products are timed: input dtype, XLA options (None: the ones jaxcnn compiles its steps with). XLA:CPU's
# defaults send dots to YNNPACK, whose bfloat16 kernels use the CPU's bfloat16 instructions where it has them.
DOT_KINDS = {"float32, jaxcnn's options": (jnp.float32, None), "float32, XLA defaults": (jnp.float32, {}),
             "bfloat16, XLA defaults": (jnp.bfloat16, {})}


def layer_products(net: str, batch_size: int) -> list[tuple[str, int, int, int]]:
    """(layer kind, M, K, N) of each convolution and Dense layer in `net`'s training forward pass."""
    plan = resolve(TrainConfig(dataset=DATASETS[net], model=net, batch_size=batch_size))
    model = build_model(plan)
    images = jnp.zeros((batch_size, *plan.image_shape), jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), images[:2], train=False))
    jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(variables, images)
    return [product for eqn in _equations(jaxpr.jaxpr) if (product := _as_product(eqn))]


def _equations(jaxpr):
    """Every equation of `jaxpr`, nested ones (pjit, custom_vjp, remat bodies) included, in order."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                yield from _equations(inner)


def _as_product(eqn):
    if eqn.primitive.name == "conv_general_dilated":
        numbers = eqn.params["dimension_numbers"]
        rhs, out_spec = numbers.rhs_spec, numbers.out_spec
        out, kernel = eqn.outvars[0].aval.shape, eqn.invars[1].aval.shape
        m = out[out_spec[0]] * math.prod(out[d] for d in out_spec[2:])
        k = kernel[rhs[1]] * math.prod(kernel[d] for d in rhs[2:])
        return ("conv", m, k, kernel[rhs[0]])
    if eqn.primitive.name == "dot_general":
        (contract, _), _ = eqn.params["dimension_numbers"]
        x, w = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
        k = math.prod(x[d] for d in contract)
        return ("dense", math.prod(x) // k, k, math.prod(w) // k)
    return None


def timed_dot(a_shape: tuple[int, int], b_shape: tuple[int, int], dtype, options: dict):
    """A timer of one jitted `a @ b` of the given shapes and input dtype (float32 accumulation)."""
    rng = np.random.default_rng(0)
    a, b = (jnp.asarray(rng.standard_normal(shape), dtype) for shape in (a_shape, b_shape))
    compiled = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32)).lower(a, b).compile(options)
    return timer(compiled, [], a, b)


def products_of(layers) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The three matrix products (forward, kernel gradient, input gradient) of each layer, as shape pairs."""
    return [pair for _, m, k, n in layers for pair in (((m, k), (k, n)), ((k, m), (m, n)), ((m, n), (n, k)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="tiny_vgg", help="comma list of: " + ", ".join(DATASETS))
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args(argv)
    options = xla_options.compiler_options(jax.default_backend())
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}, batch {args.batch_size}, "
          f"load {open('/proc/loadavg').read().split()[:3] if sys.platform == 'linux' else 'n/a'}")
    for net in args.nets.split(","):
        layers = layer_products(net, args.batch_size)
        products = products_of(layers)
        compiled, state, batch = compiled_real_step(net, options, args.batch_size)
        step_flops = compiled.cost_analysis()["flops"]
        contenders = {"step": timer(compiled, [state], batch)}
        for kind, (dtype, dot_options) in DOT_KINDS.items():
            dot_options = options if dot_options is None else dot_options
            contenders.update({(kind, i): timed_dot(a, b, dtype, dot_options) for i, (a, b) in enumerate(products)})
        medians = interleaved(contenders, args.rounds, args.steps)
        product_flops = sum(2 * a[0] * a[1] * b[1] for a, b in products)
        print(f"{net}: {len(layers)} layers " + ", ".join(f"{kind} {m}x{k}x{n}" for kind, m, k, n in layers))
        print(f"{net}: step {medians['step']:.1f} ms = {args.batch_size / medians['step'] * 1000:.0f} img/s, "
              f"{step_flops / 1e9:.2f} GFLOP (XLA) = {step_flops / medians['step'] / 1e6:.1f} GFLOP/s; "
              f"layer products {product_flops / 1e9:.2f} GFLOP")
        for kind in DOT_KINDS:
            floor = sum(medians[(kind, i)] for i in range(len(products)))
            print(f"{net}: the layers' products alone, {kind}: {floor:.1f} ms "
                  f"({product_flops / floor / 1e6:.1f} GFLOP/s) = {floor / medians['step']:.2f} of the step",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
