"""jaxcnn: convolutional networks in JAX/Flax, from lecture-note building blocks to sharded training."""

__version__ = "0.1.0"
