"""`qflchain simulate` loses no finished round: Ctrl-C or a revert mid-run stops it with one line naming
the resume command, `--resume` continues the same federation, and a config reruns to the same numbers.

Real runs through the CLI (in this process, so the circuits compile once): ape's in-process chain, the
embedded store, a three-client, two-round, 2-qubit federation.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from qfl.chain.toolchain import configure_environment
from qfl.cli import main
from qfl.orchestration.sim import Simulation

WEI = 10**18
TINY = """\
name: tiny
n_clients: 3
seed: 7
model: {n_qubits: 2, n_layers: 1}
data: {dataset: digits01, split: iid}
training: {epochs: 1, batch_size: 16, learning_rate: 0.1}
protocol: {rounds: 2, committee_size: 2, stake_eth: 2.0, fund_eth: 5.0}
"""
# Per-round numbers that must not depend on the run (timings and byte counts of the store may).
ROUND_KEYS = (
    "round accuracy loss accepted rejected undecided attackers_rejected attackers_total "
    "rewards_eth burned_eth gas global_cid"
).split()


def simulate(*args) -> object:
    result = CliRunner(mix_stderr=False).invoke(main, ["simulate", *map(str, args)], catch_exceptions=False)
    return result


def numbers(out: Path) -> dict:
    report = json.loads((out / "report.json").read_text())
    return {
        "initial": report["initial_accuracy"],
        "rounds": [{k: r[k] for k in ROUND_KEYS} for r in report["rounds"]],
        "clients": report["clients"],
        "gas_by_method": report["gas_by_method"],
        "calls_by_method": report["calls_by_method"],
        "money": report["money"],
    }


def rounds_on_disk(out: Path) -> list[str]:
    lines = (out / "rounds.csv").read_text().splitlines()
    return [line.split(",")[0] for line in lines[1:]]


def interrupt_in_round(monkeypatch, round_: int, fault) -> None:
    """Make `fault()` happen in `round_`'s training step (the longest part of a round)."""
    train = Simulation._batch_train

    def faulty(self, r, view):
        if r == round_:
            fault(self)
        return train(self, r, view)

    monkeypatch.setattr(Simulation, "_batch_train", faulty)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, and a second one stopped by a real SIGINT in round 2, then resumed."""
    configure_environment()
    root = tmp_path_factory.mktemp("simulate")
    config = root / "tiny.yaml"
    config.write_text(TINY)
    first, stopped = root / "first", root / "stopped"
    assert simulate(config, "--out", first, "--no-plots").exit_code == 0
    with pytest.MonkeyPatch.context() as mp:
        interrupt_in_round(mp, 2, lambda sim: os.kill(os.getpid(), signal.SIGINT))
        interrupted = simulate(config, "--out", stopped, "--no-plots")
    kept = {"rounds": rounds_on_disk(stopped), "state": json.loads((stopped / "state.json").read_text())}
    shutil.copytree(stopped, root / "stopped-copy")  # for the refusals, before the resume finishes it
    resumed = simulate(config, "--out", stopped, "--no-plots", "--resume")
    return {
        "config": config,
        "first": first,
        "stopped": stopped,
        "copy": root / "stopped-copy",
        "interrupted": interrupted,
        "kept": kept,
        "resumed": resumed,
    }


@pytest.mark.fault(area="simulate", fault="Ctrl-C (SIGINT) in round 2, then --resume", outcome="nothing lost")
def test_ctrl_c_keeps_finished_rounds_and_resume_continues_the_same_federation(runs):
    import ape

    from qfl.chain import Federation
    from qfl.chain.checkpoint import restore_chain
    from qfl.chain.toolchain import project

    stopped, interrupted = runs["stopped"], runs["interrupted"]
    assert interrupted.exit_code == 130
    lines = interrupted.stderr.strip().splitlines()
    assert len(lines) == 1, interrupted.stderr
    assert lines[0].startswith("stopped by Ctrl-C: 1 of 2 rounds done")
    assert lines[0].endswith(f"resume with: qflchain simulate {runs['config']} --out {stopped} --resume")
    assert runs["kept"]["rounds"] == ["1"]  # round 1 on disk
    state = runs["kept"]["state"]
    assert state["rounds_done"] == 1 and not state["finished"] and state["seed"] == 7
    assert state["chain"] == "test" and state["git_commit"] and (stopped / "config.yaml").exists()

    resumed = runs["resumed"]
    assert resumed.exit_code == 0, resumed.stderr
    assert f"federation {state['federation']['address']}: resuming after round 1" in resumed.stdout
    assert rounds_on_disk(stopped) == ["1", "2"]
    final = json.loads((stopped / "state.json").read_text())
    assert final["finished"] and final["federation"] == state["federation"]
    report = json.loads((stopped / "report.json").read_text())
    assert report["money_conserved"] and report["calls_by_method"]["register"] == 3  # not registered again
    # Nothing replayed: on the saved chain every round started once and every client committed once a round.
    with ape.networks.parse_network_choice("ethereum:local:test"):
        restore_chain(stopped / final["chain_checkpoint"])
        fed = Federation.at(project(), final["federation"]["address"], final["federation"]["from_block"])
        events = fed.events_since(fed.from_block)
        money = fed.accounting()
    assert [e["round"] for e in events if e.name == "RoundStarted"] == [1, 2]
    commits = [(e["round"], e["client"]) for e in events if e.name == "UpdateCommitted"]
    assert len(commits) == len(set(commits)) == 6
    paid = sum(e["amount"] for e in events if e.name == "Withdrawn")
    parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
    assert money["balance"] == sum(money[k] for k in parts) == 5 * WEI + 3 * 2 * WEI - paid
    assert {k: str(v) for k, v in money.items()} == report["money"]


def test_same_config_and_seed_give_the_same_numbers(runs):
    """The second run (stopped by Ctrl-C and resumed, in a fresh chain) matches the first to the last wei,
    gas unit and reputation point."""
    first = numbers(runs["first"])
    assert len(first["rounds"]) == 2 and first["gas_by_method"] and first["clients"]
    assert numbers(runs["stopped"]) == first


@pytest.mark.fault(
    area="simulate",
    fault="--resume with a changed config, another chain, nothing saved or a finished run; "
    "a new run over an unfinished one",
    outcome="rejected with a one-line error",
    tries=5,
)
def test_resume_refuses_a_changed_config_another_chain_or_an_empty_folder(runs, tmp_path):
    copy = runs["copy"]
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        TINY.replace("learning_rate: 0.1", "learning_rate: 0.2").replace("rounds: 2", "rounds: 4")
    )
    checks = [
        (
            (changed, "--out", copy, "--resume"),
            "the config differs from the one it was started with in protocol.rounds, training.learning_rate",
        ),
        (
            (runs["config"], "--out", copy, "--chain", "foundry", "--resume"),
            "it ran on the test chain, not foundry",
        ),
        ((runs["config"], "--out", tmp_path / "empty", "--resume"), "nothing to resume"),
        ((runs["config"], "--out", runs["first"], "--resume"), "the run finished all 2 rounds"),
    ]
    for args, message in checks:
        result = simulate(*args)
        assert result.exit_code == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    # A fresh run over the unfinished one is refused too (it would throw the saved rounds away).
    result = simulate(runs["config"], "--out", copy)
    assert result.exit_code == 1 and "holds an unfinished run (1 of 2 rounds done)" in result.stderr
    assert json.loads((copy / "state.json").read_text())["rounds_done"] == 1  # untouched


@pytest.mark.fault(area="simulate", fault="a transaction reverts mid-run (round 2)", outcome="nothing lost")
def test_a_revert_mid_run_keeps_finished_rounds(runs, tmp_path, monkeypatch):
    out = tmp_path / "revert"

    def revert(sim):  # a real on-chain revert: registering a client twice
        sim.federation.register(2 * WEI, sender=sim.nodes[0].identity.account)

    interrupt_in_round(monkeypatch, 2, revert)
    result = simulate(runs["config"], "--out", out, "--no-plots")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AlreadyRegistered" in lines[0], result.stderr
    assert "1 of 2 rounds done" in lines[0] and lines[0].endswith("--resume")
    assert rounds_on_disk(out) == ["1"]
    assert json.loads((out / "state.json").read_text())["rounds_done"] == 1
