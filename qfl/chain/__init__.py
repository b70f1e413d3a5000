"""Typed bindings to the federation contracts, event reading and gas accounting."""

from qfl.chain.commitment import bits_to_words, make_commitment, words_to_bits
from qfl.chain.errors import FederationError
from qfl.chain.federation import Federation, deploy_federation
from qfl.chain.types import (
    ClientView,
    FederationEvent,
    FederationParams,
    GasLedger,
    ParticipantView,
    RoundPhase,
    RoundView,
    TrainerOutcome,
    TxResult,
    ValidatorOutcome,
)
from qfl.storage.cid import cid_to_digest, digest_to_cid  # one CID codec, owned by the storage layer

__all__ = [
    "ClientView",
    "Federation",
    "FederationError",
    "FederationEvent",
    "FederationParams",
    "GasLedger",
    "ParticipantView",
    "RoundPhase",
    "RoundView",
    "TrainerOutcome",
    "TxResult",
    "ValidatorOutcome",
    "bits_to_words",
    "cid_to_digest",
    "deploy_federation",
    "digest_to_cid",
    "make_commitment",
    "words_to_bits",
]
