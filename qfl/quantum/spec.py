"""The declared, hashable model spec: every node builds the same circuit from the same bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

Encoding = Literal["angle", "reupload", "amplitude"]
Ansatz = Literal["hea", "sel"]
# How the committee combines the accepted updates (qfl.fl.aggregate.AGGREGATORS): part of the spec, so every
# node and any outside client recomputes the same global model from the chain and the spec alone.
AggregationRule = Literal[
    "fedavg", "reputation_weighted_fedavg", "coordinate_median", "trimmed_mean", "krum", "multi_krum"
]

PARAMS_PER_QUBIT_LAYER = {"hea": 2, "sel": 3}
MAX_QUBITS = 20


class SpecError(ValueError):
    """A model spec that cannot be built or parsed."""


class ModelSpec(BaseModel):
    """Circuit shape (qubits, layers, encoding, ansatz, classes, optional device noise) and the aggregation
    rule with its parameter: everything a node must agree on to build and combine the federation's model."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    n_qubits: int
    n_layers: int
    encoding: Encoding
    ansatz: Ansatz
    n_classes: int
    noise: float = 0.0
    shots: int | None = None
    aggregation: AggregationRule = "reputation_weighted_fedavg"
    trim_fraction: float = 0.2  # trimmed_mean: the share of values cut at each end of every coordinate

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        """Reject shapes the readout or simulator cannot serve."""
        if not 1 <= self.n_qubits <= MAX_QUBITS:
            raise ValueError(f"n_qubits={self.n_qubits} must be in 1..{MAX_QUBITS}")
        if self.n_layers < 1:
            raise ValueError(f"n_layers={self.n_layers} must be >= 1")
        if not 2 <= self.n_classes <= self.n_qubits:
            raise ValueError(
                f"n_classes={self.n_classes} must be in 2..n_qubits={self.n_qubits}: class k is read out as "
                "<Z> on qubit k, so use at least as many qubits as classes"
            )
        if not 0.0 <= self.noise < 0.75:
            raise ValueError(f"noise={self.noise} is a depolarizing probability and must be in [0, 0.75)")
        if self.noise > 0 and self.n_qubits > 10:
            raise ValueError(
                f"noise>0 simulates density matrices (4^n); n_qubits={self.n_qubits} must be <= 10"
            )
        if not 0.0 <= self.trim_fraction < 0.5:
            raise ValueError(f"trim_fraction={self.trim_fraction} must be in [0, 0.5)")
        if self.shots is not None and self.shots < 1:
            raise ValueError(f"shots={self.shots} must be a positive integer or None (exact expectations)")
        return self

    @property
    def n_features(self) -> int:
        """Input width the encoding consumes (shorter inputs are zero-padded)."""
        return 2**self.n_qubits if self.encoding == "amplitude" else self.n_qubits

    @property
    def n_circuit_params(self) -> int:
        """Rotation angles in the ansatz."""
        return self.n_layers * self.n_qubits * PARAMS_PER_QUBIT_LAYER[self.ansatz]

    @property
    def n_params(self) -> int:
        """Length of the flat weight vector: ansatz angles, then readout scales, then readout biases."""
        return self.n_circuit_params + 2 * self.n_classes

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, UTF-8."""
        return json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelSpec:
        """Parse canonical bytes back into a spec; raises SpecError on anything malformed."""
        try:
            return cls.model_validate(json.loads(data.decode()))
        except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise SpecError(f"not a valid model spec: {exc}") from exc

    def digest(self) -> bytes:
        """sha256 of the canonical bytes (32 bytes), the spec's identity in weight headers."""
        return hashlib.sha256(self.to_bytes()).digest()
