"""Style transfer from files to files: read the content and style pictures, pick how the network sees them
(RGB, or luminance only for a one-channel network, the content keeping its colours), optimise, write the result
and its loss curve. Nothing existing is overwritten."""

import pathlib

import numpy as np

from jaxcnn import errors
from jaxcnn.style import images, optimize
from jaxcnn.style.network import StyleNetwork, check_layers


def loss_curve_path(out_path) -> pathlib.Path:
    out_path = pathlib.Path(out_path)
    return out_path.with_name(f"{out_path.stem}_loss.png")


def check_outputs_free(out_path) -> None:
    """Refuse (one line) to overwrite the result or its loss curve."""
    for path in (pathlib.Path(out_path), loss_curve_path(out_path)):
        if path.exists():
            raise errors.ConfigError(f"{path} exists; choose another --out (nothing is overwritten)")
    if not pathlib.Path(out_path).absolute().parent.is_dir():
        raise errors.ConfigError(f"the folder of --out={out_path} does not exist")


def transfer_style(network: StyleNetwork, content_path, style_path, out_path, *, size: int,
                   settings: optimize.StyleSettings, content_layers=(), style_layers=(), report=None) -> dict:
    """Write the stylised image to `out_path` and its loss curve beside it; returns what was done."""
    check_outputs_free(out_path)
    content_layers, style_layers = check_layers(network, content_layers, style_layers)
    content, style = images.read_image(content_path, size), images.read_image(style_path, size)
    luminance_only = network.channels == 1
    seen = (lambda rgb: images.to_yiq(rgb)[..., :1]) if luminance_only else (lambda rgb: rgb)  # noqa: E731
    result, history = optimize.stylize(network.features, seen(content), seen(style), content_layers, style_layers,
                                       settings, report)
    picture = images.with_luminance(result, content) if luminance_only else result
    images.write_png(out_path, picture)
    plot_losses(history, loss_curve_path(out_path), settings)
    return {"out": str(out_path), "loss_curve": str(loss_curve_path(out_path)), "content_layers": content_layers,
            "style_layers": style_layers, "luminance_only": luminance_only,
            "first": {k: float(v[0]) for k, v in history.items()}, "last": {k: float(v[-1]) for k, v in history.items()}}


def plot_losses(history: dict, out_path, settings: optimize.StyleSettings) -> pathlib.Path:
    """The weighted loss terms and the total against the step, log scale."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    weights = {"content": settings.content_weight, "style": settings.style_weight, "tv": settings.tv_weight}
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    steps = np.arange(1, len(history["total"]) + 1)
    ax.plot(steps, history["total"], label="total", lw=2)
    for name, weight in weights.items():
        ax.plot(steps, weight * np.asarray(history[name]), label=f"{weight:g} x {name}")
    ax.set(xlabel="Adam step", ylabel="loss", yscale="log", title="style transfer loss")
    ax.set_ylim(bottom=1e-3 * float(np.min(history["total"])))  # a content loss starting at 0 would stretch it
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return pathlib.Path(out_path)
