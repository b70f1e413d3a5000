"""`simulate` checks the test accounts' balances against the config before it deploys anything."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from qfl.chain.toolchain import configure_environment
from qfl.cli import main

POOR = """\
name: poor
n_clients: 3
model: {n_qubits: 2, n_layers: 1}
protocol: {rounds: 1, stake_eth: 20000, min_stake_eth: 1, fund_eth: 5.0}
"""


@pytest.mark.fault(
    area="simulate",
    fault="stake_eth beyond the test accounts' balance",
    outcome="rejected with a one-line error",
)
def test_a_stake_beyond_the_balance_is_refused_before_deploying(tmp_path):
    configure_environment()
    config = tmp_path / "poor.yaml"
    config.write_text(POOR)
    out = tmp_path / "run"
    result = CliRunner(mix_stderr=False).invoke(main, ["simulate", str(config), "--out", str(out)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "protocol.stake_eth" in lines[-1] and "lower protocol.stake_eth" in lines[-1]
    assert "before the federation was deployed" in lines[-1]
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(out.glob("chain-*")), "nothing was deployed, so nothing was checkpointed"
