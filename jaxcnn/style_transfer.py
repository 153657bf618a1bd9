"""`python -m jaxcnn.style_transfer`: Gatys-style neural style transfer with a jaxcnn VGG (`jaxcnn.style`).

    python -m jaxcnn.style_transfer --content=photo.png --style=painting.png --out=result.png \\
        --vgg_from=torchvision:vgg19:vgg19-dcbb9e9d.pth

writes result.png and result_loss.png (the loss curve). --vgg_from is the --workdir of a trained jaxcnn VGG run
(vgg*, vgg*_cifar or tiny_vgg), or ImageNet weights torchvision:vgg11..19[_bn]:PATH. A randomly initialised VGG
(random:MODEL, for testing only) gives meaningless results. A one-channel network (e.g. tiny_vgg on
Fashion-MNIST) transfers the style to the luminance and keeps the content's colours.
"""

from __future__ import annotations

import argparse
import sys

from jaxcnn import cli


def _layers(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.style_transfer", description=__doc__.splitlines()[0],
                                     epilog="A randomly initialised VGG gives meaningless results: use trained weights.")
    parser.add_argument("--content", required=True, help="the picture whose layout is kept")
    parser.add_argument("--style", required=True, help="the picture whose textures and colours are copied")
    parser.add_argument("--out", required=True, help="the result (PNG); its loss curve goes to <out>_loss.png")
    parser.add_argument("--vgg_from", required=True, help="a trained jaxcnn VGG run's --workdir, "
                        "torchvision:vgg19:PATH (ImageNet weights), or random:MODEL (meaningless; for testing)")
    parser.add_argument("--size", type=int, default=256, help="longest side of the result in pixels")
    parser.add_argument("--steps", type=int, default=300, help="Adam steps on the pixels")
    parser.add_argument("--learning_rate", type=float, default=0.02, help="Adam step size (pixels in [0, 1])")
    parser.add_argument("--content_weight", type=float, default=1.0)
    parser.add_argument("--style_weight", type=float, default=100.0, help="10: subtle, 100: clear strokes (tuned on tiny_vgg)")
    parser.add_argument("--tv_weight", type=float, default=0.01, help="total-variation smoothing")
    parser.add_argument("--init", choices=("content", "noise"), default="content", help="the starting image")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise start")
    parser.add_argument("--content_layers", type=_layers, default=(), help="comma list (default: relu4_2 for VGG, "
                        "block2 for tiny_vgg)")
    parser.add_argument("--style_layers", type=_layers, default=(), help="comma list (default: relu1_1..relu5_1 for "
                        "VGG, block1..block3 for tiny_vgg)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("size", "steps"):
        if getattr(args, name) < 1:
            cli.fail(f"--{name} must be positive, got {getattr(args, name)}")
    from jaxcnn.style import network as network_lib, optimize, pipeline  # after parsing: a fast --help

    settings = optimize.StyleSettings(args.content_weight, args.style_weight, args.tv_weight, args.steps,
                                      args.learning_rate, args.init, args.seed)
    with cli.user_errors_exit():
        network = network_lib.load_network(args.vgg_from)
        if not network.trained:
            print(f"warning: {network_lib.RANDOM_WARNING}", file=sys.stderr)
        print(f"network: {network.description}")
        pipeline.check_outputs_free(args.out)
        report = lambda step, history: print(  # noqa: E731
            f"step {step:>5}/{args.steps}  loss {history['total'][-1]:.4f}  content {history['content'][-1]:.4f}  "
            f"style {history['style'][-1]:.4f}  tv {history['tv'][-1]:.4f}", flush=True)
        result = pipeline.transfer_style(network, args.content, args.style, args.out, size=args.size, settings=settings,
                                         content_layers=args.content_layers, style_layers=args.style_layers, report=report)
    mode = "luminance only, colours of the content" if result["luminance_only"] else "RGB"
    print(f"content layers {', '.join(result['content_layers'])}; style layers {', '.join(result['style_layers'])}; {mode}")
    print(f"wrote {result['out']} and {result['loss_curve']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
