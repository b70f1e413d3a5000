"""The L2 rehearsal: `qflchain simulate CONFIG --chain optimism` deploys the federation on `anvil --optimism`
(started by ape-foundry for ape-optimism's local network), plays a whole round, and reports what it cost: gas,
the L2 execution fee and the OP-stack L1 data fee, per round and per client (docs/l2.md runs the same)."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner
from small_configs import small_config

from qfl.chain.fees import fjord_l1_fee, load_l1_fee_params
from qfl.chain.toolchain import CHAINS
from qfl.cli import main


def test_a_round_on_anvil_optimism_reports_its_l2_and_l1_costs(tmp_path):
    assert CHAINS["optimism"] == "optimism:local:foundry"
    config = tmp_path / "l2.yaml"
    config.write_text(yaml.safe_dump(small_config("l2-rehearsal", 3, seed=5, n_qubits=2, rounds=1)))
    out = tmp_path / "run"
    # The command of docs/l2.md, run in this process (the CLI's own code path, without a second start-up).
    result = CliRunner().invoke(
        main, ["simulate", str(config), "--out", str(out), "--chain", "optimism", "--no-plots"]
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert "L1 fee" in result.output and "cost of a round (mean of 1): " in result.output, result.output

    report = json.loads((out / "report.json").read_text())
    (round_,) = report["rounds"]
    gas, execution, l1 = round_["gas"], int(round_["execution_fee_wei"]), int(round_["l1_fee_wei"])
    assert gas > 0 and execution > 0 and l1 > 0
    # Every transaction pays at least the Fjord floor (100 compressed bytes): each of the three clients
    # sent at least a commit and a reveal in the round; and on L1 prices of the config the data fee of a
    # round of a few dozen small transactions stays well under 0.001 ETH.
    floor = fjord_l1_fee(0, load_l1_fee_params())
    assert 6 * floor <= l1 < 10**15
    for client in report["clients"]:  # each client's own fees: its registration and its round
        assert int(client["execution_fee_wei"]) > 0 and int(client["l1_fee_wei"]) >= 3 * floor
    assert report["money_conserved"]
