"""benchmarks/step_roofline.py: it finds every convolution and Dense layer of a net with the im2col sizes the
architecture gives, turns each into three chained products of three times the forward FLOPs, and its report runs."""

import pathlib
import re
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their neighbours by name, as when run from there
import step_roofline  # noqa: E402


def test_tiny_vgg_layers_are_its_three_convolutions_and_two_dense_layers_with_im2col_sizes():
    batch = 8
    assert step_roofline.layer_products("tiny_vgg", batch) == [
        ("conv", batch * 28 * 28, 3 * 3 * 1, 32),  # SAME 3x3 convolutions, a 2x2 max-pool after each
        ("conv", batch * 14 * 14, 3 * 3 * 32, 64),
        ("conv", batch * 7 * 7, 3 * 3 * 64, 128),
        ("dense", batch, 3 * 3 * 128, 128),
        ("dense", batch, 128, 10),
    ]


def test_each_layer_becomes_forward_kernel_gradient_and_input_gradient_products():
    layers = [("conv", 12, 5, 7), ("dense", 2, 3, 4)]
    products = step_roofline.products_of(layers)
    assert len(products) == 6
    assert all(a[1] == b[0] for a, b in products)  # each pair multiplies
    assert products[:3] == [((12, 5), (5, 7)), ((5, 12), (12, 7)), ((12, 7), (7, 5))]
    forward = sum(2 * m * k * n for _, m, k, n in layers)
    assert sum(2 * a[0] * a[1] * b[1] for a, b in products) == 3 * forward


def test_the_report_sets_each_dtype_s_products_beside_the_real_step(capsys):
    assert step_roofline.main(["--batch_size=8", "--rounds=1", "--steps=1"]) == 0
    out = capsys.readouterr().out
    assert "tiny_vgg: 5 layers conv 6272x9x32" in out
    fractions = re.findall(r"products alone, (.+?): [\d.]+ ms \([\d.]+ GFLOP/s\) = ([\d.]+) of the step", out)
    assert [kind for kind, _ in fractions] == list(step_roofline.DOT_KINDS)
    assert all(float(fraction) > 0 for _, fraction in fractions)
    step_gflop = float(re.search(r"img/s, ([\d.]+) GFLOP \(XLA\)", out).group(1))
    assert step_gflop > 0
