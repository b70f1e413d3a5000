"""The public networks QFLchain knows by chain id, and how each charges for a transaction.

One table: a bare RPC URL is signed for as the ape network its node's chain id names (ape signs an ad-hoc URL
as its local chain 1337 otherwise), and `ECOSYSTEM:NETWORK:URL` is refused when the node serves another
chain. The L2 ecosystems come from ape's own plugins (ape-optimism, ape-base, ape-arbitrum).
"""

from __future__ import annotations

from dataclasses import dataclass

# How a chain charges a transaction beyond gasUsed x effectiveGasPrice (see qfl.chain.fees):
ETHEREUM = "ethereum"  # nothing: the execution fee is the whole fee
OP_STACK = "op-stack"  # plus an L1 data fee, reported in the receipt's `l1Fee` (OP, Base)
ARBITRUM = "arbitrum"  # the L1 component is inside gasUsed (no separate fee field)


@dataclass(frozen=True)
class KnownNetwork:
    ecosystem: str  # ape's ecosystem name
    network: str  # ape's network name in that ecosystem
    chain_id: int

    @property
    def choice(self) -> str:
        return f"{self.ecosystem}:{self.network}"


NETWORKS = (
    KnownNetwork("ethereum", "mainnet", 1),
    KnownNetwork("ethereum", "sepolia", 11155111),
    KnownNetwork("ethereum", "holesky", 17000),
    KnownNetwork("ethereum", "hoodi", 560048),
    KnownNetwork("optimism", "mainnet", 10),
    KnownNetwork("optimism", "sepolia", 11155420),
    KnownNetwork("base", "mainnet", 8453),
    KnownNetwork("base", "sepolia", 84532),
    KnownNetwork("arbitrum", "mainnet", 42161),
    KnownNetwork("arbitrum", "sepolia", 421614),
)
BY_CHAIN_ID = {n.chain_id: n for n in NETWORKS}
BY_CHOICE = {(n.ecosystem, n.network): n for n in NETWORKS}

# The fee model of each ecosystem; any other (ethereum, or one ape knows that we have not measured) is ETHEREUM.
FEE_KIND = {"optimism": OP_STACK, "base": OP_STACK, "arbitrum": ARBITRUM}


def network_for_chain_id(chain_id: int) -> KnownNetwork | None:
    """The public network with `chain_id`, or None."""
    return BY_CHAIN_ID.get(int(chain_id))


def expected_chain_id(ecosystem: str, network: str) -> int | None:
    """The chain id a node for ape's `ecosystem:network` must report, or None when not a known public one
    (local networks, forks)."""
    known = BY_CHOICE.get((ecosystem, network))
    return known.chain_id if known else None


def fee_kind(ecosystem: str) -> str:
    """ETHEREUM, OP_STACK or ARBITRUM: how chains of ape's `ecosystem` charge a transaction."""
    return FEE_KIND.get(ecosystem, ETHEREUM)
