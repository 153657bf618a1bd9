"""The four nets the step benchmarks time (issue 15), each with the dataset whose image shape it trains on.
Torch-free, so both `step_overhead.py` and `step_vs_torch.py` (which needs torch) read the same table."""

DATASETS = {"tiny_vgg": "fashion_mnist", "resnet20": "cifar10", "airbench": "cifar10", "resnet18_cifar": "cifar10"}
