"""Variational quantum classifiers on TensorCircuit-NG (JAX): spec, circuits, training, weight codec."""

from qfl.quantum.spec import ModelSpec

__all__ = ["ModelSpec"]
