"""The OP-stack L1 data fee (qfl.chain.fees): FastLZ sizes and Fjord fees against op-geth's own test vectors
(core/types/rollup_cost_test.go), the parameters file, and the fee of a real transaction on `anvil --optimism`,
which reports no L1 fee itself (so the estimate is what the cost report holds there)."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from qfl.chain.fees import (
    DEFAULT_PARAMS,
    ETHEREUM,
    GAS_PRICE_ORACLE,
    OP_STACK,
    FeeLedger,
    L1FeeParams,
    detect_fee_kind,
    fjord_l1_fee,
    flz_compress_len,
    l1_data_fee,
    load_l1_fee_params,
    transaction_fee,
)
from qfl.orchestration.multiproc import Anvil

# op-geth TestFlzCompressLen: a legacy tx with everything zero, and an OP Mainnet contract call (EIP-1559).
EMPTY_TX = bytes.fromhex("dd80808094095e7baea6a6c7c4c2dfeb977efac326af552d878080808080")
CONTRACT_CALL_TX = bytes.fromhex(
    "02f901550a758302df1483be21b88304743f94f8"
    "0e51afb613d764fa61751affd3313c190a86bb870151bd62fd12adb8"
    "e41ef24f3f0000000000000000000000000000000000000000000000"
    "00000000000000006e000000000000000000000000af88d065e77c8c"
    "c2239327c5edb3a432268e5831000000000000000000000000000000"
    "000000000000000000000000000003c1e50000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000a0000000"
    "00000000000000000000000000000000000000000000000000000000"
    "148c89ed219d02f1a5be012c689b4f5b731827bebe00000000000000"
    "0000000000c001a033fd89cb37c31b2cba46b6466e040c61fc9b2a36"
    "75a7f5f493ebd5ad77c497f8a07cdf65680e238392693019b4092f61"
    "0222e71b7cec06449cb922b93b6a12744e"
)
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's (and ape's) test:0


@pytest.mark.parametrize(
    ("data", "size"),
    [(b"", 0), (b"\x01" * 1000, 21), (bytes(1000), 21), (EMPTY_TX, 31), (CONTRACT_CALL_TX, 202)],
    ids=["empty", "all ones", "all zeros", "empty tx", "contract call tx"],
)
def test_fastlz_size_matches_op_geth(data, size):
    assert len(CONTRACT_CALL_TX) == 4 + 0x155  # type, RLP list header f90155, then its 0x155 bytes
    assert flz_compress_len(data) == size


def test_fjord_fee_matches_op_geth():
    # TestFjordL1CostSolidityParity: the contract's and the node's formula agree on this one.
    assert fjord_l1_fee(235, L1FeeParams(2 * 10**6, 3 * 10**6, 20, 15)) == 105484
    # TestFjordL1CostFuncMinimumBounds: at most 170 FastLZ bytes, the 100-byte floor applies...
    floor = L1FeeParams(1000 * 10**6, 10 * 10**6, 2, 3)
    assert {fjord_l1_fee(n, floor) for n in (100, 150, 170)} == {3203000}
    # ... and above it the fee grows with the size.
    assert 3203000 < fjord_l1_fee(171, floor) < fjord_l1_fee(200, floor)


def test_the_parameters_say_when_and_where_they_were_read():
    params = load_l1_fee_params(DEFAULT_PARAMS)
    assert params.as_of.startswith("20") and "block" in params.source
    assert params.l1_base_fee_wei > 0 and params.base_fee_scalar > 0 and params.blob_base_fee_scalar > 0
    # An OP Mainnet contract call at those prices: over the floor, and under a cent's worth of ETH.
    fee = l1_data_fee(CONTRACT_CALL_TX, params)
    assert fjord_l1_fee(0, params) < fee < 10**13


def test_a_reported_l1_fee_is_taken_as_is():
    """A receipt as op-geth serves it (hex quantities; `l1Fee` is the fee the sequencer charged)."""
    receipt = {"gasUsed": "0x5208", "effectiveGasPrice": "0x3e8", "l1Fee": "0x1d4c0"}

    def never():
        raise AssertionError("no estimate when the chain reports the fee")

    fee = transaction_fee(OP_STACK, "0xAb", receipt, never, never)
    assert (fee.execution_wei, fee.l1_data_wei, fee.l1_source) == (21000 * 1000, 120000, "receipt")
    plain = transaction_fee(ETHEREUM, "0xAb", receipt, never, never)
    assert (plain.l1_data_wei, plain.l1_source) == (0, "none")
    ledger = FeeLedger()
    ledger.record(fee)
    ledger.record(fee)
    assert ledger.totals_by_sender() == {"0xab": (2 * 21000 * 1000, 240000)}


def test_anvil_optimism_reports_no_l1_fee_so_it_is_estimated_from_the_signed_bytes():
    with Anvil(optimism=True) as node, Anvil() as plain:
        web3 = Web3(HTTPProvider(node.url))
        # What anvil --optimism serves: no GasPriceOracle predeploy, no l1Fee in receipts.
        assert web3.eth.get_code(GAS_PRICE_ORACLE) == b""
        account = Account.from_key(KEY)
        tx = {
            "to": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "value": 1,
            "data": "0x" + "00ff" * 40,
            "gas": 30000,
            "maxFeePerGas": 4 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "nonce": 0,
            "chainId": web3.eth.chain_id,
        }
        signed = account.sign_transaction(tx).raw_transaction
        receipt = dict(web3.eth.wait_for_transaction_receipt(web3.eth.send_raw_transaction(signed)))
        assert "l1Fee" not in receipt
        # The node is found to be OP-stack although a bare URL is signed for as ethereum:local.
        assert detect_fee_kind(ETHEREUM, web3) == OP_STACK
        assert detect_fee_kind(ETHEREUM, Web3(HTTPProvider(plain.url))) == ETHEREUM

        params = load_l1_fee_params()
        fee = transaction_fee(
            OP_STACK,
            account.address,
            receipt,
            lambda: bytes(web3.eth.get_raw_transaction(receipt["transactionHash"])),
            lambda: params,
        )
        assert fee.l1_source == "estimate"
        assert fee.l1_data_wei == l1_data_fee(bytes(signed), params) > 0
        assert fee.execution_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
