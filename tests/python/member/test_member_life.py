"""A member's and a sponsor's whole life after the rounds, on anvil, through the `qflchain` commands.

One federation (2 clients, 1 round) is deployed and played in this process (qfl.orchestration.sim on anvil); client 0
keeps its rewards unwithdrawn. Then the commands run in this process (click's runner) against the same
anvil: history, export, cid, store put/get, withdraw (rewards), leave then withdraw (stake), sweep
(pool); the contract's money is conserved at every step and ends paid out. Before the round, `sweep`
is refused in one line and changes nothing.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from small_configs import LONG_PERIODS, small_config

from qfl.chain.toolchain import configure_environment
from qfl.orchestration.multiproc import Anvil, network_choice

CONFIG = small_config("member-life", 2, n_qubits=2, protocol=LONG_PERIODS)
WEI = 10**18


def qfl(*args: str):
    """Run `qflchain ARGS` in this process; the result (exit_code, output)."""
    from qfl.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    print(f"$ qflchain {' '.join(args)}\n{result.output}", end="")  # shown with -s or on a failure
    return result


def conserved(money: dict) -> bool:
    parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
    return money["balance"] == sum(money[k] for k in parts)


def eth(text: str) -> int:
    return int(Decimal(text) * WEI)


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """The played federation: (anvil url, deployment path, store path, Federation, sim, the refused sweep)."""
    configure_environment()
    import ape

    from qfl.chain.toolchain import project
    from qfl.orchestration.config import load_config
    from qfl.orchestration.federation_setup import deploy_from_config, load_federated_data, make_node
    from qfl.orchestration.sim import Simulation
    from qfl.storage import EmbeddedStore

    tmp = tmp_path_factory.mktemp("member")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    cfg = load_config(config)
    store = tmp / "store"
    deployment = tmp / "deployment.json"
    with Anvil() as anvil, ape.networks.parse_network_choice(network_choice(anvil.url)):
        # As qfl.orchestration.sim.build_in_process does on the in-process chain: sponsor test:0, clients test:1, test:2.
        content = EmbeddedStore(store)
        test_set, parts = load_federated_data(cfg)
        accounts = list(ape.accounts.test_accounts)[:3]
        federation, spec = deploy_from_config(cfg, project(), accounts[0], content, test_set.n_classes)
        federation.sole_writer = True
        nodes = []
        for i, account in enumerate(accounts[1:]):
            federation.register(cfg.protocol.stake_wei, sender=account)
            nodes.append(
                make_node(cfg, federation, content, spec, account, i, parts, tmp / f"node{i}", min_members=1)
            )

        def warp(timestamp: int) -> None:
            ape.chain.mine(timestamp=timestamp)

        def chain_time() -> int:
            return ape.chain.blocks.head.timestamp

        sim = Simulation(cfg, federation, content, spec, nodes, test_set, warp, chain_time, accounts=accounts)
        deployment.write_text(
            json.dumps({"network": anvil.url, "address": federation.address, "block": federation.from_block})
        )
        # Before the round: the sponsor's sweep is refused, and nothing changes.
        before = (federation.accounting(), int(sim.accounts[0].balance), ape.chain.blocks.head.number)
        early = qfl("sweep", "--network", anvil.url, "--deployment", str(deployment), "--account", "test:0")
        after = (federation.accounting(), int(sim.accounts[0].balance), ape.chain.blocks.head.number)
        # The clients keep their rewards on the contract, for `qflchain withdraw` to take.
        for node in sim.nodes:
            node.withdraw_if_owed = lambda: False
        sim.play_round()
        yield {
            "url": anvil.url,
            "deployment": str(deployment),
            "store": str(store),
            "federation": federation,
            "accounts": sim.accounts,
            "early": (early, before, after),
            "tmp": tmp,
        }


def common(fed) -> list[str]:
    return ["--network", fed["url"], "--deployment", fed["deployment"]]


@pytest.mark.fault(
    area="CLI", fault="sweep before the last round is done", outcome="rejected with a one-line error"
)
def test_sweep_before_the_end_is_one_line_and_changes_nothing(fed):
    result, before, after = fed["early"]
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "cannot sweep: the federation is not over: 0 of 1 rounds started" in lines[0]
    assert before == after  # no transaction: same money, same sponsor balance, same block


def test_history_lists_the_round_with_its_cid(fed):
    from qfl.storage import digest_to_cid

    federation = fed["federation"]
    cid = digest_to_cid(federation.global_model(1))
    client = fed["accounts"][1].address
    result = qfl("history", *common(fed), "--account", "test:1")
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    # Who sits on the committee, and so each update's outcome, varies with anvil's random prevrandao.
    found = re.match(
        rf"round 1: DONE; model {cid}; accepted (\d+), rejected (\d+), other (\d+), unsettled 0", line
    )
    assert found and sum(map(int, found.groups())) == 2, line
    settled = federation.round_view(1).settlement_of(client)
    assert f"{client}: update {settled.outcome.name}" in line, line


def test_export_writes_the_model_whose_cid_is_on_chain(fed):
    from qfl.storage import digest_to_cid

    out = fed["tmp"] / "model-1.bin"
    result = qfl("export", *common(fed), "--store", fed["store"], "--round", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    on_chain = digest_to_cid(fed["federation"].global_model(1))
    assert on_chain in result.output
    assert qfl("cid", str(out)).output.strip() == on_chain
    # A round that does not exist is one line.
    bad = qfl("export", *common(fed), "--store", fed["store"], "--round", "5", "--out", str(out))
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1, bad.output


def test_store_put_then_get_round_trips(fed, tmp_path: Path):
    src = tmp_path / "notes.txt"
    src.write_bytes(b"exit with stake and rewards back\n" * 1000)
    put = qfl("store", "put", str(src), "--store", fed["store"])
    assert put.exit_code == 0, put.output
    cid = put.output.strip()
    assert cid == qfl("cid", str(src)).output.strip()
    out = tmp_path / "back.txt"
    got = qfl("store", "get", cid, "--store", fed["store"], "--out", str(out))
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == src.read_bytes()


def _withdrew(output: str) -> tuple[int, int]:
    """(wei sent, wei of gas) from withdraw's line."""
    sent = re.search(r"([0-9.]+) ETH sent to", output)
    gas = re.search(r"gas ([0-9.]+) ETH", output)
    assert sent and gas, output
    return eth(sent.group(1)), eth(gas.group(1))


def test_withdraw_returns_rewards(fed):
    federation = fed["federation"]
    paid = 0
    for index in (1, 2):
        client = fed["accounts"][index]
        owed = federation.client_view(client.address).withdrawable
        if not owed:
            continue
        balance = int(client.balance)
        result = qfl("withdraw", *common(fed), "--account", f"test:{index}")
        assert result.exit_code == 0, result.output
        sent, gas = _withdrew(result.output)
        assert sent == owed and 0 < gas < WEI // 100
        assert int(client.balance) == balance + owed - gas
        assert federation.client_view(client.address).withdrawable == 0
        assert conserved(federation.accounting())
        again = qfl("withdraw", *common(fed), "--account", f"test:{index}")
        assert again.exit_code == 1 and "nothing to withdraw" in again.output, again.output
        paid += sent
    assert paid > 0, "no client earned anything in the round"


def test_withdraw_stake_keeps_the_minimum(fed):
    federation, client = fed["federation"], fed["accounts"][2]
    stake, minimum = federation.client_view(client.address).stake, federation.params()["minStake"]
    too_much = qfl("withdraw", *common(fed), "--account", "test:2", "--stake", "100")
    assert too_much.exit_code == 1, too_much.output
    assert len(too_much.output.strip().splitlines()) == 1, too_much.output
    assert "must stay while a member" in too_much.output
    assert federation.client_view(client.address).stake == stake
    if stake > minimum:
        from qfl.orchestration.config import wei_to_eth

        spare = wei_to_eth(stake - minimum)
        result = qfl("withdraw", *common(fed), "--account", "test:2", "--stake", spare)
        assert result.exit_code == 0, result.output
        assert f"{spare} ETH of stake taken out and sent" in result.output
        assert federation.client_view(client.address).stake == minimum
        assert conserved(federation.accounting())


@pytest.mark.parametrize("index", [1, 2])
def test_leave_then_withdraw_returns_the_stake(fed, index):
    federation, client = fed["federation"], fed["accounts"][index]
    stake = federation.client_view(client.address).stake
    assert stake > 0
    left = qfl("leave", *common(fed), "--account", f"test:{index}")
    assert left.exit_code == 0, left.output
    view = federation.client_view(client.address)
    assert not view.registered and view.withdrawable == stake
    balance = int(client.balance)
    result = qfl("withdraw", *common(fed), "--account", f"test:{index}")
    assert result.exit_code == 0, result.output
    sent, gas = _withdrew(result.output)
    assert sent == stake
    assert int(client.balance) == balance + stake - gas
    assert conserved(federation.accounting())
    again = qfl("leave", *common(fed), "--account", f"test:{index}")
    assert again.exit_code == 1 and "is not a member" in again.output, again.output


def test_sweep_empties_the_pool_and_money_is_conserved(fed):
    federation, sponsor = fed["federation"], fed["accounts"][0]
    pool = federation.pool()
    assert pool > 0
    balance = int(sponsor.balance)
    refused = qfl("sweep", *common(fed), "--account", "test:1")  # not the sponsor
    assert refused.exit_code == 1 and "only the sponsor" in refused.output, refused.output
    result = qfl("sweep", *common(fed), "--account", "test:0")
    assert result.exit_code == 0, result.output
    money = federation.accounting()
    assert money["pool"] == 0 and conserved(money)
    assert int(sponsor.balance) > balance + pool - WEI // 100
    # Every member left and withdrew, the pool is swept: what stays is only what was burned or reserved.
    assert money["total_staked"] == 0 and money["total_withdrawable"] == 0
    assert money["balance"] == money["reserved"] + money["burned"]


@pytest.mark.fault(
    area="CLI",
    fault="store get/export/cid with a bad CID, store or file",
    outcome="rejected with a one-line error",
)
@pytest.mark.parametrize(
    "args, expected",
    [
        (["cid", "{tmp}/missing.bin"], "cannot read {tmp}/missing.bin"),
        (["store", "get", "not-a-cid", "--store", "{store}", "--out", "{tmp}/x"], "not-a-cid is not a CID"),
        (["store", "get", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "--store", "{tmp}/nostore",
          "--out", "{tmp}/x"], "no such store directory"),
        (["store", "get", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "--store", "{store}", "--out",
          "{tmp}/x"], "does not hold QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"),
    ],
)  # fmt: skip
def test_store_mistakes_are_one_line(tmp_path: Path, args, expected):
    store = tmp_path / "store"
    store.mkdir()
    fill = {"tmp": str(tmp_path), "store": str(store)}
    result = qfl(*[a.format(**fill) for a in args])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert expected.format(**fill) in result.output
    assert not (tmp_path / "x").exists()
