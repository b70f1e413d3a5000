"""What a transaction cost its sender: the L2 execution fee and, on OP-stack chains, the L1 data fee.

Every chain charges gasUsed x effectiveGasPrice (the execution fee). An OP-stack chain (OP, Base) also
charges each transaction for posting its bytes to L1, and reports that in the receipt as `l1Fee`: used when
present. Where a chain does not report it (`anvil --optimism` has neither the field nor the GasPriceOracle
predeploy at 0x420000000000000000000000000000000000000F), it is estimated from the signed transaction's
bytes with the Fjord formula (OP spec, protocol/fjord/exec-engine.md; op-geth core/types/rollup_cost.go):

    estimatedSize = max(100e6, -42_585_600 + 836_500 * fastlzSize(signed tx))     (scaled by 1e6)
    l1Fee = estimatedSize * (16 * baseFeeScalar * l1BaseFee + blobBaseFeeScalar * blobBaseFee) / 1e12

with the L1 prices and scalars of `L1FeeParams` (configs/chains/l1-data-fee.yaml: their values, date and source).
Arbitrum charges its L1 component as extra gas inside gasUsed: its execution fee is the whole fee.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from qfl.chain.networks import ARBITRUM, ETHEREUM, OP_STACK

GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
DEFAULT_PARAMS = Path(__file__).resolve().parents[2] / "configs" / "chains" / "l1-data-fee.yaml"

# Fjord constants (fixed in the protocol, not chain settings): the linear fit from FastLZ size to the
# compressed size a batch achieves, scaled by 1e6, and its floor.
FJORD_INTERCEPT = -42_585_600
FJORD_FASTLZ_COEF = 836_500
FJORD_MIN_SIZE_SCALED = 100 * 1_000_000

# The OP-stack hard forks anvil names in anvil_nodeInfo when started with --optimism (anvil 1.7.1: Jovian).
_OP_FORKS = {"bedrock", "regolith", "canyon", "delta", "ecotone", "fjord", "granite", "holocene", "isthmus"}
_OP_FORKS |= {"jovian", "interop"}


def flz_compress_len(data: bytes) -> int:
    """The length of `data` compressed with FastLZ level 1 as the OP stack counts it (op-geth's
    FlzCompressLen, a port of Solady's LibZip.flzCompress): only the length, nothing is written.

    By hand, not a PyPI package: the FastLZ wrappers there (fastlz, pyfastlz, ...) are unmaintained 0.0.x
    bindings, and the fee is defined on this exact variant's length (op-geth's test vectors check it)."""
    ib = bytes(data)
    size = len(ib)
    n = 0
    table = [0] * 8192

    def u24(i: int) -> int:
        return ib[i] | (ib[i + 1] << 8) | (ib[i + 2] << 16)

    def literals(r: int) -> int:
        return 0x21 * (r // 0x20) + ((r % 0x20) + 1 if r % 0x20 else 0)

    def match(length: int) -> int:
        length -= 1
        return 3 * (length // 262) + (3 if length % 262 >= 6 else 2)

    def slot(v: int) -> int:
        return (((2654435769 * v) & 0xFFFFFFFF) >> 19) & 0x1FFF

    anchor = 0
    limit = size - 13 if size >= 13 else 0
    ip = 2
    while ip < limit:
        while True:  # find the next position whose 3 bytes were seen within 8 KiB
            seq = u24(ip)
            h = slot(seq)
            ref = table[h]
            table[h] = ip
            distance = ip - ref
            if ip >= limit:
                break
            ip += 1
            if distance <= 0x1FFF and seq == u24(ref):
                break
        if ip >= limit:
            break
        ip -= 1
        if ip > anchor:
            n += literals(ip - anchor)
        p, q, end = ref + 3, ip + 3, limit + 9 - (ip + 3)
        length = 0
        while length < end and ib[p + length] == ib[q + length]:
            length += 1
        if length < end:  # op-geth's cmp counts the first differing byte too
            length += 1
        n += match(length)
        ip += length
        for _ in range(2):  # hash the two positions after the match
            table[slot(u24(ip))] = ip
            ip += 1
        anchor = ip
    return n + literals(size - anchor)


@dataclass(frozen=True)
class L1FeeParams:
    """The L1 prices and the chain's scalars an OP-stack L1 data fee is computed from."""

    l1_base_fee_wei: int
    blob_base_fee_wei: int
    base_fee_scalar: int
    blob_base_fee_scalar: int
    as_of: str = ""  # when these were read
    source: str = ""  # where they were read


@lru_cache(maxsize=8)
def load_l1_fee_params(path: Path = DEFAULT_PARAMS) -> L1FeeParams:
    """The parameters in `path` (YAML with the fields of L1FeeParams)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    return L1FeeParams(**{k: data[k] for k in L1FeeParams.__dataclass_fields__ if k in data})


def fjord_l1_fee(fastlz_size: int, params: L1FeeParams) -> int:
    """The Fjord L1 data fee in wei of a transaction whose signed bytes compress to `fastlz_size`."""
    estimated = max(FJORD_MIN_SIZE_SCALED, FJORD_INTERCEPT + FJORD_FASTLZ_COEF * int(fastlz_size))
    scaled = 16 * params.base_fee_scalar * params.l1_base_fee_wei
    scaled += params.blob_base_fee_scalar * params.blob_base_fee_wei
    return estimated * scaled // 10**12


def l1_data_fee(signed_tx: bytes, params: L1FeeParams) -> int:
    """The Fjord L1 data fee in wei of the signed transaction `signed_tx` (its EIP-2718 bytes)."""
    return fjord_l1_fee(flz_compress_len(signed_tx), params)


def _int(value) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _wei(value) -> int | None:
    """A receipt's amount in wei (hex string or int), or None when the node sent something that is not one
    (negative, above uint256, not a number): a hostile or broken RPC node must not crash the node's ledger."""
    try:
        wei = _int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        return None
    return wei if wei is not None and 0 <= wei < 2**256 else None


@dataclass(frozen=True)
class TxFee:
    """What one transaction cost its sender, in wei."""

    sender: str
    execution_wei: int  # gasUsed x effectiveGasPrice (on Arbitrum this includes the L1 component)
    l1_data_wei: int  # OP stack: the L1 data fee; 0 elsewhere
    l1_source: str  # "receipt" (the chain's l1Fee), "estimate" (Fjord formula), or "none"


def transaction_fee(
    kind: str,
    sender: str,
    receipt: Mapping,
    signed_tx: Callable[[], bytes | None],
    params: Callable[[], L1FeeParams],
) -> TxFee:
    """The fee of the transaction with `receipt` (gasUsed, effectiveGasPrice, and l1Fee where the chain
    reports one) on a chain of fee `kind`; `signed_tx()` gives its signed bytes and `params()` the L1 fee
    parameters, asked for only when an OP-stack receipt has no l1Fee. Signed bytes nobody can give leave the
    L1 fee at 0 with source "none" (counted in FeeLedger.l1_sources, so a report can say so)."""
    execution = (_wei(receipt["gasUsed"]) or 0) * (_wei(receipt.get("effectiveGasPrice") or 0) or 0)
    if kind != OP_STACK:
        return TxFee(sender, execution, 0, "none")
    reported = _wei(receipt["l1Fee"]) if receipt.get("l1Fee") is not None else None
    if reported is not None:  # a malformed l1Fee is estimated like a missing one
        return TxFee(sender, execution, reported, "receipt")
    try:
        raw = signed_tx()
    except Exception:  # noqa: BLE001 - a node without eth_getRawTransactionByHash: the fee stays unknown
        raw = None
    if raw is None:
        return TxFee(sender, execution, 0, "none")
    return TxFee(sender, execution, l1_data_fee(raw, params()), "estimate")


def detect_fee_kind(ecosystem_kind: str, web3) -> str:
    """ecosystem_kind, unless it is ETHEREUM and the node is an OP-stack one all the same (the
    GasPriceOracle predeploy has code, or anvil says it runs an OP-stack hard fork: `anvil --optimism` on a
    bare URL, which ape signs for as ethereum:local)."""
    if ecosystem_kind != ETHEREUM:
        return ecosystem_kind
    try:
        if len(web3.eth.get_code(GAS_PRICE_ORACLE)) > 0:
            return OP_STACK
    except Exception:  # noqa: BLE001 - a node that cannot answer: judged by the next probe
        pass
    try:
        info = web3.provider.make_request("anvil_nodeInfo", [])
        fork = str((info.get("result") or {}).get("hardFork", "")).lower()
    except Exception:  # noqa: BLE001 - not anvil
        return ETHEREUM
    return OP_STACK if fork in _OP_FORKS else ETHEREUM


@dataclass
class FeeLedger:
    """Fees paid per sender (lower-case address), accumulated over a Federation's transactions."""

    execution_wei: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    l1_data_wei: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    l1_sources: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    kind: str = ETHEREUM  # the chain's fee model, once known

    def record(self, fee: TxFee) -> None:
        who = fee.sender.lower()
        self.execution_wei[who] += fee.execution_wei
        self.l1_data_wei[who] += fee.l1_data_wei
        self.l1_sources[fee.l1_source] += 1

    @property
    def total_execution_wei(self) -> int:
        return sum(self.execution_wei.values())

    @property
    def total_l1_data_wei(self) -> int:
        return sum(self.l1_data_wei.values())

    def totals_by_sender(self) -> dict[str, tuple[int, int]]:
        """(execution, L1 data) wei per sender."""
        return {a: (self.execution_wei[a], self.l1_data_wei[a]) for a in self.execution_wei}


__all__ = [
    "ARBITRUM",
    "ETHEREUM",
    "OP_STACK",
    "FeeLedger",
    "L1FeeParams",
    "TxFee",
    "detect_fee_kind",
    "fjord_l1_fee",
    "flz_compress_len",
    "l1_data_fee",
    "load_l1_fee_params",
    "transaction_fee",
]
