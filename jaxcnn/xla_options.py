"""XLA compiler options jaxcnn sets per backend where it compiles its steps, so no user has to know them.

CPU: XLA:CPU (jaxlib 0.12) sends convolutions to YNNPACK by default (`xla_cpu_experimental_ynn_fusion_type`
= individual convolutions). Its kernel gradients are slow where a convolution widens the channels: on a
2-core x86-64 CPU, batch 128, CPU milliseconds with YNNPACK on / off: 16x16x64 -> 256 (the airbench net)
438 / 81, 31x31x24 -> 64 113 / 56, 15x15x64 -> 64 32 / 17, 32x32x16 -> 16 10 / 11; forward passes and input
gradients change by less. With it off XLA:CPU's own (Eigen) convolutions run. Other backends: none.
"""

CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}  # empty list: no YNNPACK fusions


def compiler_options(platform: str) -> dict:
    """The options for compiling a step on devices of `platform` ('cpu', 'gpu', 'tpu', ...); a new dict."""
    return dict(CPU_OPTIONS) if platform == "cpu" else {}
