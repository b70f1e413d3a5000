"""Typed bindings to the federation contracts, event reading, gas accounting and the settlement mirror."""

from qfl.chain.commitment import make_commitment, make_vote_commitment
from qfl.chain.errors import ChainUnavailable, FederationError, TransactionNotMined
from qfl.chain.federation import Federation, deploy_federation
from qfl.chain.outcome import ACCEPT_SCORE, REJECT_SCORE, judge, judge_round, weighted_median_bounds
from qfl.chain.types import (
    ClientView,
    FederationEvent,
    FederationParams,
    GasLedger,
    ProposalStatus,
    ProposalView,
    RevealedUpdate,
    RoundPhase,
    RoundView,
    SeatFlag,
    TrainerOutcome,
    TrainerSettlement,
    TxResult,
    ValidatorOutcome,
    ValidatorSettlement,
)
from qfl.storage.cid import cid_to_digest, digest_to_cid  # one CID codec, owned by the storage layer

__all__ = [
    "ACCEPT_SCORE",
    "REJECT_SCORE",
    "ClientView",
    "Federation",
    "ChainUnavailable",
    "FederationError",
    "FederationEvent",
    "FederationParams",
    "GasLedger",
    "ProposalStatus",
    "ProposalView",
    "RevealedUpdate",
    "RoundPhase",
    "RoundView",
    "SeatFlag",
    "TrainerOutcome",
    "TrainerSettlement",
    "TransactionNotMined",
    "TxResult",
    "ValidatorOutcome",
    "ValidatorSettlement",
    "cid_to_digest",
    "deploy_federation",
    "digest_to_cid",
    "judge",
    "judge_round",
    "make_commitment",
    "make_vote_commitment",
    "weighted_median_bounds",
]
