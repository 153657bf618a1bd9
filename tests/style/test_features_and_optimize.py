"""Feature maps replayed from a VGG's variables equal the model's own intermediates; the optimisation lowers
the content and style losses; the command writes its picture and loss curve and warns about random weights."""

import jax
import numpy as np
import pytest
from PIL import Image

from jaxcnn import errors, models, style_transfer
from jaxcnn.models.vgg import VGG
from jaxcnn.style import features, optimize, pipeline
from jaxcnn.style.network import load_network


def _intermediates(model, variables, x, names):
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False, capture_intermediates=True, mutable=["intermediates"]))
    _, state = apply(variables, x)
    return {name: state["intermediates"][name]["__call__"][0] for name in names}


def _init(model, x):
    return models.init_variables(model, jax.random.PRNGKey(0), x, train=False)


@pytest.mark.slow  # a 9M-parameter VGG-11 at 32x32: ~20 s on 2 busy cores (tiny_vgg below covers the default suite)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_features_equal_the_models_intermediates(batch_norm):
    model = VGG(num_classes=10, depth=11, batch_norm=batch_norm, head="cifar")
    x = jax.random.normal(jax.random.PRNGKey(1), (1, 32, 32, 3))
    variables = _init(model, x)
    if batch_norm:  # non-trivial running statistics
        variables = {**variables, "batch_stats": jax.tree.map(lambda v: v + 0.3, variables["batch_stats"])}
    ours = jax.jit(features.feature_maps, static_argnums=2)(variables, x, ("relu1_1", "relu3_2", "relu5_2"))
    source = {"relu1_1": "1_1", "relu3_2": "3_2", "relu5_2": "5_2"}
    theirs = _intermediates(model, variables, x, [f"{'bn' if batch_norm else 'conv'}{v}" for v in source.values()])
    for name, suffix in source.items():
        expected = jax.nn.relu(theirs[f"{'bn' if batch_norm else 'conv'}{suffix}"])
        np.testing.assert_allclose(ours[name], expected, rtol=1e-4, atol=1e-4)


def test_tiny_vgg_features_equal_the_models_intermediates():
    model = models.get_model("tiny_vgg", num_classes=10)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 28, 28, 1))
    variables = _init(model, x)
    ours = features.feature_maps(variables, x, ("block1", "block3"))
    theirs = _intermediates(model, variables, x, ["block1", "block3"])
    for name in ("block1", "block3"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-4, atol=1e-4)
    with pytest.raises(errors.ConfigError, match="no layer relu1_1"):
        features.feature_maps(variables, x, ("relu1_1",))


def _pictures(folder, size=(16, 16)):
    paths = []
    for name, colour in (("content.png", (200, 30, 30)), ("style.png", (20, 40, 220))):
        pixels = np.zeros((*size, 3), np.uint8) + np.array(colour, np.uint8)
        pixels[::4] = 255
        Image.fromarray(pixels).save(folder / name)
        paths.append(folder / name)
    return paths


def test_content_and_style_losses_fall_over_the_optimisation(tmp_path):
    network = load_network("random:tiny_vgg")  # meaningless pictures, but a real optimisation problem
    content, style = _pictures(tmp_path)
    # 40 steps: content 0.52x, style 0.04x of their start with this draw of the random net (20 steps: 0.75x, 0.13x)
    settings = optimize.StyleSettings(steps=40, chunk=40, init="noise", learning_rate=0.05)
    result = pipeline.transfer_style(network, content, style, tmp_path / "out.png", size=16, settings=settings)
    for term in ("content", "style", "total"):
        assert result["last"][term] < 0.7 * result["first"][term], term
    assert result["luminance_only"]  # a one-channel network: the style moves the luminance
    assert Image.open(tmp_path / "out.png").size == (16, 16) and (tmp_path / "out_loss.png").stat().st_size > 0
    with pytest.raises(errors.ConfigError, match="exists"):  # never overwrites
        pipeline.transfer_style(network, content, style, tmp_path / "out.png", size=16, settings=settings)


def test_command_warns_about_random_weights_and_never_overwrites(tmp_path, capsys):
    content, style = _pictures(tmp_path)
    argv = [f"--content={content}", f"--style={style}", f"--out={style}", "--vgg_from=random:tiny_vgg"]
    with pytest.raises(SystemExit) as exit_info:
        style_transfer.main(argv)
    captured = capsys.readouterr()
    assert "randomly initialised VGG gives meaningless" in captured.err
    assert exit_info.value.code == 2 and "exists; choose another --out" in captured.err
    with pytest.raises(SystemExit):
        style_transfer.main([*argv[:3], "--vgg_from=random:lenet5"])
    assert "style transfer reads the feature maps of a VGG-family network" in capsys.readouterr().err
