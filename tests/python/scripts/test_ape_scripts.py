"""The `ape run` scripts as a user runs them: real `ape run deploy/round/status` processes from the repo root.

(a) ape's in-process chain, which is fresh in every process: `round` finds the recorded federation missing,
deploys it first and plays a round; `status` says why it has nothing to show there.
(b) anvil as its own process, reached only by its URL, as a public testnet would be: deploy records the
address, one round is played for four accounts, and the chain (read here) agrees with what status prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.multiproc import Anvil, network_choice

CONFIG = "configs/scripts.yaml"
ACCOUNTS = ["test:1", "test:2", "test:3", "test:4"]
WEI = 10**18


def ape_run(*args: str, expect: int = 0, timeout: float = 120) -> str:
    """Run `ape run ARGS` in the repo root like a user; return stdout + stderr, checking the exit code."""
    configure_environment()
    ape = Path(sys.executable).with_name("ape")
    proc = subprocess.run(
        [str(ape), "run", *args, "-v", "WARNING"],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == expect, (
        f"`ape run {' '.join(args)}` exited {proc.returncode}:\n{output[-4000:]}"
    )
    return output


def test_round_and_status_on_the_in_process_chain(tmp_path: Path):
    deployments = tmp_path / "deployments"
    common = ["--network", "ethereum:local:test", "--deployments", str(deployments)]
    store = ["--store", str(tmp_path / "store")]

    out = ape_run("deploy", *common, "--config", CONFIG, *store)
    record = json.loads((deployments / "1337.json").read_text())
    assert record["config"] == CONFIG and record["provider"] == "test"
    assert f"federation {record['address']} deployed" in out

    # A new process is a new chain: the recorded federation is gone, so round deploys it (config from the record).
    out = ape_run("round", *common, *store, "--accounts", ",".join(ACCOUNTS))
    assert "starts empty in every process: deploying the federation on it first" in out
    for name in ACCOUNTS:
        assert f"{name} (" in out and "registered with 2.0 ETH stake" in out
    assert "round 1 of 2 opened" in out
    assert "round 1 DONE" in out and "4 updates revealed, 4 accepted, 0 rejected" in out
    for name in ACCOUNTS:  # each pulled its reward, while waiting for the others or at the end
        assert re.search(rf"{name} \(\S+\)( withdrew |: withdraw| withdraw$)", out, re.M), out
    assert re.search(r"│ phase +│ DONE", out)  # the closing status table

    out = ape_run("status", *common, expect=2)
    assert f"records federation {record['address']}, not deployed on this chain" in out
    assert "fresh in-process chain" in out


@pytest.fixture
def anvil():
    with Anvil() as node:
        yield node


def test_deploy_round_status_on_anvil_by_url(anvil: Anvil, tmp_path: Path):
    import ape

    from qfl.chain import Federation, RoundPhase
    from qfl.chain.toolchain import project
    from qfl.storage import digest_to_cid

    deployments = tmp_path / "deployments"
    common = ["--network", network_choice(anvil.url), "--deployments", str(deployments)]

    ape_run("deploy", *common, "--config", CONFIG, "--store", str(tmp_path / "store"))
    record = json.loads((deployments / "1337.json").read_text())
    assert record["chain_id"] == 1337 and record["store"] == str(tmp_path / "store")

    # No --config and no --store: both come from the record.
    out = ape_run("round", *common, "--accounts", ",".join(ACCOUNTS), "--state-dir", str(tmp_path / "nodes"))
    assert "deploying" not in out
    assert "round 1 DONE" in out

    with ape.networks.parse_network_choice(network_choice(anvil.url)):
        federation = Federation.at(project(), record["address"])
        assert federation.current_round() == 1
        view = federation.round_view(1)
        assert view.phase == RoundPhase.DONE
        # anvil's random prevrandao draws the committee: an update can stay unvalidated (e.g. every seat
        # drawn for its own trainer, no quorum), never rejected: the stake check below sees no slash.
        assert view.reveal_count == 4 and any(view.accepted)
        global_cid = digest_to_cid(federation.global_model(1))
        assert any(federation.global_model(1)) and global_cid != record["initial_model"]
        for name in ACCOUNTS:
            address = ape.accounts.test_accounts[int(name.split(":")[1])].address
            client = federation.client_view(address)
            assert client.registered and client.stake == 2 * WEI, f"{name} lost stake: {client}"
            assert client.withdrawable == 0, f"{name} left {client.withdrawable} wei unwithdrawn"
            assert client.reputation > 100
        money = federation.accounting()
        parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
        assert money["balance"] == sum(money[k] for k in parts)
        assert money["burned"] == 0 and money["reserved"] == 0  # nobody slashed; the reserve went back
    assert f"global model {global_cid}" in out

    out = ape_run("status", *common)
    assert record["address"] in out
    assert re.search(r"│ round +│ 1 of 2", out) and re.search(r"│ phase +│ DONE", out)
    assert global_cid in out
    assert len(re.findall(r"│ 2\.0000 +│", out)) == 4  # each member's stake column
    assert out.count("ACCEPTED") == 4  # each update's settled outcome
