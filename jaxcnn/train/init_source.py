"""Where --init_from's backbone comes from: another jaxcnn run's workdir (`workdir.load_trained`) or a network
another framework trained (`jaxcnn.pretrained`: torchvision:resnet50:PATH, timm:resnet18.a1_in1k, ...). Both
give the loop the same things: variables, a backbone-fit check and a line saying where they came from."""

from __future__ import annotations

import dataclasses

from jaxcnn import errors, pretrained, transfer
from jaxcnn.train.workdir import TrainedRun, load_trained


@dataclasses.dataclass(frozen=True)
class PretrainedSource:
    """Imported pretrained weights, shaped like a `TrainedRun` for --init_from."""

    weights: pretrained.PretrainedWeights

    @property
    def variables(self) -> dict:
        return self.weights.variables

    @property
    def origin(self) -> str:
        return f"{self.weights.path} ({self.weights.spec.source} {self.weights.spec.name}; {self.weights.check})"

    def check_backbone_fits(self, variables: dict, head: frozenset[str]) -> None:
        """A one-line error unless the weights hold every backbone leaf of `variables` with the same shape."""
        differences = transfer.backbone_differences(variables, self.variables, head)
        if differences:
            raise errors.CheckpointError(
                f"--init_from={self.weights.spec} does not fit this run's model ({'; '.join(differences[:3])}); "
                f"use --model={self.weights.spec.arch} and images of 3 channels (--model_input_channels=3)")


def load_init_source(init_from: str) -> TrainedRun | PretrainedSource:
    """The backbone source --init_from names: pretrained weights (SOURCE:ARCH[:PATH]) or a run's workdir."""
    if pretrained.is_spec(init_from):
        return PretrainedSource(pretrained.load(init_from))
    return load_trained(init_from)
