"""A round's cost read back from the chain (`Federation.round_fees`, `qflchain history --fees`), after a round
played on `anvil --optimism`: in the process that played it (ape's optimism ecosystem), and from another
command that reaches the same anvil by its URL as `ethereum:local:URL`, where the binding finds the node is
OP-stack by asking it: what `qflchain launch --optimism` prints per round (its nodes reach anvil by URL)."""

from __future__ import annotations

import json

import ape
from click.testing import CliRunner
from small_configs import small_config

from qfl.chain.fees import OP_STACK, fjord_l1_fee, load_l1_fee_params
from qfl.chain.toolchain import CHAINS
from qfl.cli import main
from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.sim import build_in_process
from qfl.storage import EmbeddedStore


def test_a_round_s_fees_come_back_from_its_receipts_on_a_bare_url(tmp_path):
    cfg = ExperimentConfig(**small_config("l2-url", 3, seed=5, n_qubits=2, rounds=1))
    with ape.networks.parse_network_choice(
        CHAINS["optimism"]
    ) as provider:  # anvil --optimism, by ape-foundry
        sim = build_in_process(cfg, EmbeddedStore(tmp_path / "store"), tmp_path / "nodes")
        report = sim.run()
        federation = sim.federation
        assert federation.fees.kind == OP_STACK
        ledger = federation.round_fees(1)
        (round_,) = report.rounds
        sent = sum(ledger.l1_sources.values())
        assert ledger.kind == OP_STACK and ledger.l1_sources == {"estimate": sent} and sent >= 6
        floor = fjord_l1_fee(0, load_l1_fee_params())
        # The round's own transactions (withdrawals are no round's) are a part of what the run paid in it.
        assert sent * floor <= ledger.total_l1_data_wei <= round_.l1_fee_wei
        assert 0 < ledger.total_execution_wei <= round_.execution_fee_wei

        # The command, by URL (ape-foundry's anvil runs chain id 31337: named as a local network, read only).
        record = tmp_path / "deployment.json"
        record.write_text(json.dumps({"address": federation.address, "block": federation.from_block}))
        network = f"ethereum:local:{provider.uri}"
        result = CliRunner().invoke(
            main, ["history", "--network", network, "--deployment", str(record), "--fees"]
        )
    assert result.exit_code == 0, result.output[-2000:]
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("round 1: DONE"), line
    l1_eth = f"{ledger.total_l1_data_wei / 10**18:.8f}"
    assert f"+ L1 data {l1_eth} ETH from {sent} transactions" in line, line
