"""One place that configures TensorCircuit-NG: JAX backend, complex64 states."""

import tensorcircuit as tc

tc.set_backend("jax")
tc.set_dtype("complex64")

__all__ = ["tc"]
