"""Many nodes on one machine: build a federation from a config, play its rounds, measure them.

In-process mode keeps every node in this process on one chain connection and trains all clients that owe an
update in one vectorised call (`train_clients`); every other action is the node's own `step()`, exactly as
a separate process would take it. Multi-process mode (qfl.orchestration.multiproc) runs the same `Node` per OS process.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qfl.chain import (
    Federation,
    RoundPhase,
    RoundView,
    TrainerOutcome,
)
from qfl.chain.toolchain import CHAINS
from qfl.data import Dataset
from qfl.fl.attacks import ATTACKS, apply_attack
from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.federation_setup import (
    deploy_from_config,
    load_federated_data,
    model_spec,
    training_config,
)
from qfl.orchestration.node import Node, Timers
from qfl.orchestration.report import ClientRecord, RoundRecord, RunReport
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import evaluate, train_clients
from qfl.storage import ContentStore, digest_to_cid
from qfl.storage.atomic import atomic_write_json

WEI = 10**18
# Updates per `settle` transaction: its gas grows with the batch and with the committee (about 50k + 3k per
# seat for each update; benchmarks/results/gas.md measured ~235k an update with 53 voters on 64 seats), so
# the batch is sized to stay near 8M gas, half the EIP-7825 cap of 16,777,216 per transaction.
SETTLE_GAS_TARGET = 8_000_000


def settle_batch_size(total_seats: int) -> int:
    """Updates per `settle` call for a committee of `total_seats` seats (1..100)."""
    return max(1, min(100, SETTLE_GAS_TARGET // (50_000 + 3_000 * total_seats)))


def phase_deadline(view: RoundView, attest_period: int) -> int | None:
    """The timestamp after which `view`'s phase ends by time: the phase's deadline, or for a done round that
    is not fully settled the settlement cut-off (attest deadline + attest period), after which anyone may
    settle anything. None for SELECT, which only ends by a call (`drawCommittee`)."""
    if view.phase == RoundPhase.DONE:
        return None if view.fully_settled else view.attest_deadline + attest_period
    deadlines = {
        RoundPhase.COMMIT: view.commit_deadline,
        RoundPhase.REVEAL: view.reveal_deadline,
        RoundPhase.VOTE_COMMIT: view.vote_commit_deadline,
        RoundPhase.VOTE_REVEAL: view.vote_reveal_deadline,
        RoundPhase.AGGREGATE: view.attest_deadline,
    }
    return deadlines.get(view.phase)


def round_complete(view: RoundView) -> bool:
    """Done, every update and committee seat settled, and the unpaid reserve back in the pool."""
    return view.phase == RoundPhase.DONE and view.fully_settled and view.reserve_left == 0


@dataclass
class Simulation:
    """An in-process federation: one chain, one store, `n_clients` nodes, vectorised training."""

    cfg: ExperimentConfig
    federation: Federation
    store: ContentStore
    spec: ModelSpec
    nodes: list[Node]
    test_set: Dataset
    warp: Callable[[int], None]  # move the chain's clock to a timestamp (in-process chain only)
    chain_time: Callable[[], int]
    progress: Callable[[str], None] = lambda line: None
    accounts: list = field(default_factory=list)  # sponsor first, then one per client
    withdrawn: dict[str, int] = field(default_factory=dict)  # wei each client withdrew (lower-case address)
    burned: dict[str, int] = field(default_factory=dict)  # wei of each client's stake slashed and burned
    events_seen: int = 0  # of federation.own_events, already counted in the two above

    def _batch_train(self, round_: int, view) -> None:
        """Train every node that owes an update in one vectorised call, then let each commit its own."""
        owing = [n for n in self.nodes if n.needs_update(view)]
        if not owing:
            return
        global_params = owing[0].fetch_weights(view.start_model)
        data = [n.training_data() for n in owing]
        cfg = training_config(self.cfg)
        start = time.perf_counter()
        trained = train_clients(
            self.spec,
            global_params,
            [X for X, _ in data],
            [y for _, y in data],
            cfg,
            [n.round_seed(round_) for n in owing],
        )
        elapsed = time.perf_counter() - start
        colluders = [
            i for i, n in enumerate(owing) if n.identity.attack and ATTACKS[n.identity.attack].kind == "group"
        ]
        if colluders:
            trained[colluders] = apply_attack(
                "colluding", updates=trained[colluders], global_params=global_params, scale=1.0
            )
        for i, (node, update) in enumerate(zip(owing, trained, strict=True)):
            node.timers.train += elapsed / len(owing)
            if i not in colluders:
                update = node.poison(update, global_params, round_)
            node.commit(round_, update, parent=view.start_model)

    def _batch_settle(self, view: RoundView) -> None:
        """Settle every unsettled update of the round in batches (anyone may settle anyone: one transaction
        instead of one per node; a node finds its update settled and moves on)."""
        settler = self.nodes[0]
        pending = list(view.unsettled_committers())
        batch = settle_batch_size(view.total_seats)
        with settler.timers.measure("chain"):
            for i in range(0, len(pending), batch):
                self.federation.settle(view.round, pending[i : i + batch], sender=settler.identity.account)

    def play_round(self) -> int:
        """Open the next round and play it until it is complete (done, settled, reserve released); warp the
        clock past a deadline only when nobody can act."""
        target = self.federation.current_round() + 1
        attest_period = self.federation.params()["attestPeriod"]
        stalls = 0
        while True:
            round_ = self.federation.current_round()
            view = self.federation.round_view(round_) if round_ else None
            if round_ == target and round_complete(view):
                break
            if round_ == target and view.phase == RoundPhase.COMMIT:
                self._batch_train(round_, view)
            acted = False
            for node in self.nodes:
                current = self.federation.current_round()
                view = self.federation.round_view(current)
                if current == target and round_complete(view):
                    break  # a node stepping now would open the next round
                if (
                    current == target
                    and view.phase == RoundPhase.DONE
                    and view.fully_settled
                    and view.reserve_left
                ):
                    # Nodes release a round's leftover during the next round; the simulator reports round by round.
                    with self.nodes[0].timers.measure("chain"):
                        self.federation.release_reserve(target, sender=self.nodes[0].identity.account)
                    acted = True
                    break
                if current == target and view.phase.votes_closed and view.unsettled_committers():
                    self._batch_settle(view)
                acted = bool(node.step()) or acted
            if acted:
                stalls = 0
                continue
            view = self.federation.round_view(self.federation.current_round())
            deadline = phase_deadline(view, attest_period)
            stalls += 1
            if deadline is None or stalls > 3:
                raise RuntimeError(f"round {view.round} is stuck in phase {view.phase.name}: no node can act")
            self.warp(deadline + 1)
        for node in self.nodes:  # every node pulls what it earned
            node.withdraw_if_owed()
        return target

    def initial_report(self) -> RunReport:
        """An empty report holding the round-0 model's test accuracy."""
        initial = self.nodes[0].fetch_weights(self.federation.global_model(0))
        accuracy = evaluate(self.spec, initial, self.test_set.X_test, self.test_set.y_test)["accuracy"]
        return RunReport(self.cfg.name, float(accuracy))

    def run(
        self, report: RunReport | None = None, on_round: Callable[[RunReport], None] | None = None
    ) -> RunReport:
        """Play every round not yet in `report` (a new one: all of them); return per-round accuracy, outcomes,
        money, time split, gas, each client's standing. `on_round(report)` runs after each finished round,
        with the report complete up to it (clients, money and gas included): where a run saves itself."""
        X_test, y_test = self.test_set.X_test, self.test_set.y_test
        report = report or self.initial_report()
        attackers = {n.address.lower() for n in self.nodes if n.identity.attack}
        ledger, fees = self.federation.gas, self.federation.fees
        for _ in range(self.cfg.protocol.rounds - len(report.rounds)):
            before = _snapshot(self.nodes, self.store, ledger.total)
            fees_before = (fees.total_execution_wei, fees.total_l1_data_wei)
            start = time.perf_counter()
            round_ = self.play_round()
            wall = time.perf_counter() - start
            after = _snapshot(self.nodes, self.store, ledger.total)
            view = self.federation.round_view(round_)
            outcomes = [s.outcome for s in view.settlements.values()]
            bad = [s for a, s in view.settlements.items() if a.lower() in attackers]
            paid = list(view.settlements.values()) + list(view.validator_settlements.values())
            global_params = self.nodes[0].fetch_weights(self.federation.global_model(round_))
            metrics = evaluate(self.spec, global_params, X_test, y_test)
            timers = {k: after[k] - before[k] for k in ("train", "store", "chain")}
            record = RoundRecord(
                round=round_,
                accuracy=float(metrics["accuracy"]),
                loss=float(metrics["loss"]),
                accepted=outcomes.count(TrainerOutcome.ACCEPTED),
                rejected=outcomes.count(TrainerOutcome.REJECTED),
                undecided=len(outcomes)
                - outcomes.count(TrainerOutcome.ACCEPTED)
                - outcomes.count(TrainerOutcome.REJECTED),
                attackers_rejected=sum(1 for s in bad if s.outcome == TrainerOutcome.REJECTED),
                attackers_total=len(bad),
                rewards_eth=sum(s.reward for s in paid) / WEI,
                burned_eth=sum(s.slashed for s in paid) / WEI,
                gas=after["gas"] - before["gas"],
                train_seconds=timers["train"],
                store_seconds=timers["store"],
                chain_seconds=timers["chain"],
                other_seconds=max(0.0, wall - sum(timers.values())),
                bytes_stored=after["bytes_in"] - before["bytes_in"],
                bytes_fetched=after["bytes_out"] - before["bytes_out"],
                global_cid=digest_to_cid(self.federation.global_model(round_)),
                execution_fee_wei=fees.total_execution_wei - fees_before[0],
                l1_fee_wei=fees.total_l1_data_wei - fees_before[1],
            )
            report.rounds.append(record)
            self.progress(
                f"round {round_}/{self.cfg.protocol.rounds}: accuracy {record.accuracy:.3f}, "
                f"accepted {record.accepted}, rejected {record.rejected} "
                f"(attackers rejected {record.attackers_rejected}/{record.attackers_total}), "
                f"burned {record.burned_eth:.3f} ETH, gas {record.gas:,} ({_fee_text(record)}), "
                f"{record.wall_seconds:.1f}s"
            )
            self.standings(report)
            if on_round is not None:
                on_round(report)
        if not report.clients:
            self.standings(report)
        return report

    def standings(self, report: RunReport) -> None:
        """Fill in each client's standing, the gas by method and the contract's money as of now."""
        ledger = self.federation.gas
        # Running totals from the events this process's transactions emitted since the last call: every
        # transaction goes through the shared binding (sole writer), so no log query over the whole history
        # is needed (on the in-process chain one costs ~70 ms a block). A resumed run starts from the saved
        # totals (`withdrawn`, `burned`) with the events it re-read marked as seen.
        own = self.federation.own_events
        for e in own[self.events_seen :]:
            if e.name == "Withdrawn":
                who = e["account"].lower()
                self.withdrawn[who] = self.withdrawn.get(who, 0) + e["amount"]
            elif e.name in ("TrainerSettled", "ValidatorSettled") and e["slashed"]:
                who = (e.args.get("client") or e.args["validator"]).lower()
                self.burned[who] = self.burned.get(who, 0) + e["slashed"]
        self.events_seen = len(own)
        report.clients = [
            self._client_record(
                n, self.withdrawn.get(n.address.lower(), 0), self.burned.get(n.address.lower(), 0)
            )
            for n in self.nodes
        ]
        report.gas_by_method = dict(ledger.gas)
        report.calls_by_method = dict(ledger.calls)
        report.money = self.federation.accounting()

    def _client_record(self, node: Node, withdrawn: int, burned: int) -> ClientRecord:
        view = self.federation.client_view(node.address)
        fees = self.federation.fees
        return ClientRecord(
            index=node.identity.index,
            address=node.address,
            attack=node.identity.attack or "",
            reputation=view.reputation,
            stake_eth=view.stake / WEI,
            rewards_eth=(withdrawn + view.withdrawable) / WEI,
            burned_eth=burned / WEI,
            execution_fee_wei=fees.execution_wei.get(node.address.lower(), 0),
            l1_fee_wei=fees.l1_data_wei.get(node.address.lower(), 0),
        )


def _fee_text(record: RoundRecord) -> str:
    """The round's fees for a progress line: L2 execution, plus the L1 data fee where there is one."""
    text = f"fees {record.execution_fee_wei / WEI:.8f} ETH"
    return text + (f" + L1 data {record.l1_fee_wei / WEI:.8f} ETH" if record.l1_fee_wei else "")


def _snapshot(nodes: list[Node], store: ContentStore, gas: int) -> dict[str, float]:
    totals = Timers()
    for n in nodes:
        totals.train += n.timers.train
        totals.store += n.timers.store
        totals.chain += n.timers.chain
    counters = store.counters
    return {
        "train": totals.train,
        "store": totals.store,
        "chain": totals.chain,
        "gas": gas,
        "bytes_in": counters.bytes_in,
        "bytes_out": counters.bytes_out,
    }


def salt_seed_for(seed: int) -> bytes:
    """The secret a reproducible run derives every commitment salt from (the same for the same seed)."""
    return hashlib.sha256(f"qfl-salts:{seed}".encode()).digest()


def build_in_process(
    cfg: ExperimentConfig,
    store: ContentStore,
    state_dir: Path,
    progress: Callable[[str], None] = lambda line: None,
    *,
    salt_seed: bytes | None = None,
    resume: dict | None = None,
) -> Simulation:
    """Deploy on the local chain (already connected), register every client, return the simulation.

    With `resume` (a run state saved by `RunFolder.checkpoint`, the chain already restored from its
    checkpoint) attach to the federation it recorded instead, with the same accounts: nothing is replayed.
    `salt_seed` makes every node's commitment salts reproducible (`salt_seed_for(cfg.seed)`).
    """
    import ape

    from qfl.chain.checkpoint import reset_chain
    from qfl.chain.toolchain import project as ape_project
    from qfl.orchestration.federation_setup import make_node

    test_set, parts = load_federated_data(cfg)
    project = ape_project()
    if resume is None:
        reset_chain()  # in-process chain from genesis, as in a new process: the same addresses and draws
        accounts = _test_accounts(cfg)
        federation, spec = deploy_from_config(cfg, project, accounts[0], store, test_set.n_classes)
    else:
        accounts = _restore_accounts(resume["accounts"])
        record = resume["federation"]
        federation = Federation.at(project, record["address"], record["from_block"])
        spec = model_spec(cfg, test_set.n_classes)
        for name, total in resume["gas"]["gas"].items():  # gas of the rounds played before the stop
            federation.gas.gas[name] += total
        for name, calls in resume["gas"]["calls"].items():
            federation.gas.calls[name] += calls
        for part, paid in resume.get("fees", {}).items():  # fees of those rounds, per sender
            for who, wei in paid.items():
                getattr(federation.fees, part)[who] += int(wei)
    federation.sole_writer = True  # every node shares this binding: events come from its receipts
    federation.sole_sender = True  # ... and nothing else sends: the head is the last receipt's block
    if resume is not None:
        # ... and those of the last finished round, sent before the stop, come from the chain once: nodes
        # read that round (done) before they open the next one. Older rounds are never read again.
        federation.seed_own_events(federation.events_since(resume["events_from"]))
    stake = cfg.protocol.stake_wei
    nodes = []
    for i, account in enumerate(accounts[1:]):
        if resume is None:
            federation.register(stake, sender=account)
        node = make_node(
            cfg, federation, store, spec, account, i, parts, state_dir / f"client-{i}", min_members=1
        )
        node.salt_seed = salt_seed
        nodes.append(node)
    chain = ape.chain

    def warp(timestamp: int) -> None:
        chain.mine(timestamp=timestamp)
        federation.head_moved()

    def chain_time() -> int:
        return chain.blocks.head.timestamp

    sim = Simulation(
        cfg, federation, store, spec, nodes, test_set, warp, chain_time, progress, accounts=accounts
    )
    if resume is not None:
        sim.withdrawn = {a: int(v) for a, v in resume["totals"]["withdrawn"].items()}
        sim.burned = {a: int(v) for a, v in resume["totals"]["burned"].items()}
        sim.events_seen = len(federation.own_events)
    return sim


def _test_accounts(cfg: ExperimentConfig) -> list:
    """The sponsor and one account per client on the local chain: ape's test accounts, plus generated ones
    funded by the first with what a client needs. Checked before anything is sent: a stake or a pool beyond
    the test accounts' balances is a config error, not a revert after deployment."""
    import ape

    from qfl.orchestration.config import ConfigError, required_eth, wei_to_eth

    n = cfg.n_clients + 1
    need = required_eth(cfg, gas_price_wei=int(ape.chain.provider.gas_price or 0) or 10**9)
    base = list(ape.accounts.test_accounts)
    accounts = base[:n]
    generated = max(0, n - len(base))
    grant = 2 * need.client_wei  # what each generated client gets: its needs with a margin for gas prices
    sponsor_needs = need.sponsor_wei + generated * grant
    if base[0].balance < sponsor_needs:
        raise ConfigError(
            f"protocol.fund_eth / stake_eth: the test sponsor holds {wei_to_eth(base[0].balance)} ETH but the "
            f"pool and {generated} generated clients need {wei_to_eth(sponsor_needs)} ETH: lower them"
        )
    poorest = min(accounts[1:], key=lambda a: a.balance)
    if poorest.balance < need.client_wei:
        raise ConfigError(
            f"protocol.stake_eth: a test account holds {wei_to_eth(poorest.balance)} ETH but a client needs "
            f"{wei_to_eth(need.client_wei)} ETH (stake plus gas): lower protocol.stake_eth"
        )
    while len(accounts) < n:
        extra = ape.accounts.test_accounts.generate_test_account()
        base[0].transfer(extra, grant)
        accounts.append(extra)
    return accounts


def _account_records(accounts: list) -> list[dict]:
    """What brings `accounts` back in another process: the address, and for a generated account (beyond
    ape's configured ones) its index and key. Local test chains only: these keys guard nothing."""
    import ape

    configured = {a.address for a in ape.accounts.test_accounts}
    return [
        {"address": a.address}
        if a.address in configured
        else {"address": a.address, "index": a.index, "key": str(a.private_key)}
        for a in accounts
    ]


def _restore_accounts(records: list[dict]) -> list:
    """The accounts `_account_records` described (generated ones re-created from their keys, not funded)."""
    import ape

    configured = {a.address: a for a in ape.accounts.test_accounts}
    accounts = []
    for r in records:
        if "key" in r:
            accounts.append(ape.accounts.test_accounts.init_test_account(r["index"], r["address"], r["key"]))
        elif r["address"] in configured:
            accounts.append(configured[r["address"]])
        else:
            raise ResumeError(f"test account {r['address']} of the saved run is not one of this chain's")
    return accounts


# ---------------------------------------------------------------------- the run folder: save, stop, resume


@contextmanager
def interrupts_raise():
    """Ctrl-C raises KeyboardInterrupt inside the block (ape's handlers exit 130 at once, silently, so a
    run could neither say what it saved nor stop its chain cleanly). Install it after connecting: ape's
    subprocess providers (anvil) set their own handler when they start."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def hold_interrupts():
    """Let a Ctrl-C that lands while a checkpoint is being written take effect only once it is written
    (atomic writes would keep the old files anyway; this keeps the round that just finished)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


STATE_FILE = "state.json"  # the resumable state; written last, after the chain checkpoint it names


class ResumeError(RuntimeError):
    """A run folder that cannot be resumed (or a fresh run that would overwrite an unfinished one)."""


def git_commit() -> str:
    """The project's current commit, or "unknown" outside a git checkout."""
    from qfl.chain.toolchain import PROJECT_ROOT

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def config_differences(recorded: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names of the settings that differ between two config dumps."""
    keys = sorted(set(recorded) | set(current))
    diffs = []
    for k in keys:
        a, b = recorded.get(k), current.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{prefix}{k}.")
        elif a != b:
            diffs.append(f"{prefix}{k}")
    return diffs


@dataclass
class RunFolder:
    """A simulation's folder: config.yaml (as given), state.json (commit, seed, chain, rounds done, the
    federation, accounts, gas and the report so far), chain-N.ckpt (the chain after round N), store/ (the
    embedded content store), nodes/ (each node's pending commitments), and the results (rounds.csv,
    clients.csv, report.json, rounds.png). Everything is rewritten atomically after every finished round."""

    path: Path

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    @property
    def nodes_dir(self) -> Path:
        return self.path / "nodes"

    @property
    def store_dir(self) -> Path:
        return self.path / "store"

    def read_state(self) -> dict | None:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def unfinished(self) -> dict | None:
        """The saved state of a run that stopped before its last round, if this folder holds one."""
        state = self.read_state()
        if state and not state.get("finished") and (self.path / state.get("chain_checkpoint", "-")).exists():
            return state
        return None

    def start(self, cfg: ExperimentConfig, config_file: Path | None, chain: str, reproducible: bool) -> dict:
        """Clear what an earlier run left (state, chain, node state) and record the new run's set-up."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.state_path.unlink(missing_ok=True)
        for old in self.path.glob("chain-*.ckpt"):
            old.unlink()
        shutil.rmtree(self.nodes_dir, ignore_errors=True)
        if config_file is not None and Path(config_file).resolve() != (self.path / "config.yaml").resolve():
            shutil.copyfile(config_file, self.path / "config.yaml")
        return {
            "name": cfg.name,
            "config": cfg.model_dump(mode="json"),
            "config_file": str(config_file) if config_file is not None else None,
            "seed": cfg.seed,
            "chain": chain,
            "git_commit": git_commit(),
            "reproducible": reproducible,
            "rounds_total": cfg.protocol.rounds,
            "rounds_done": 0,
            "finished": False,
        }

    def resumable(self, cfg: ExperimentConfig | None, chain: str | None) -> dict:
        """The saved state to continue from; ResumeError (one line, saying why) when there is none, or when
        the config or chain asked for differ from the recorded ones."""
        state = self.read_state()
        if state is None:
            raise ResumeError(
                f"nothing to resume in {self.path}: no {STATE_FILE} (start the run without --resume)"
            )
        if state.get("finished"):
            raise ResumeError(
                f"nothing to resume in {self.path}: the run finished all {state['rounds_total']} rounds"
            )
        checkpoint = self.path / state.get("chain_checkpoint", "-")
        if not checkpoint.exists():
            raise ResumeError(
                f"nothing to resume in {self.path}: its chain checkpoint {checkpoint.name} is missing"
            )
        if cfg is not None:
            diffs = config_differences(state["config"], cfg.model_dump(mode="json"))
            if diffs:
                raise ResumeError(
                    f"cannot resume {self.path}: the config differs from the one it was started with in "
                    f"{', '.join(diffs)} (its copy is {self.path / 'config.yaml'})"
                )
        if chain is not None and chain != state["chain"]:
            raise ResumeError(
                f"cannot resume {self.path}: it ran on the {state['chain']} chain, not {chain} "
                f"(resume with --chain {state['chain']})"
            )
        return state

    def prune_node_state(self, rounds_done: int) -> None:
        """Drop node files of rounds after `rounds_done` (from a round the stop cut short): that round is
        played again from the chain checkpoint, so nothing it half did may be taken for done."""
        for path in self.nodes_dir.glob("client-*/*.json"):
            match = re.fullmatch(r"(?:round|vote)-(\d+)\.json", path.name)
            if match and int(match.group(1)) > rounds_done:
                path.unlink()

    def checkpoint(self, state: dict, sim: Simulation, report: RunReport) -> dict:
        """Save the chain after `report`'s last round, then the state naming it; drop older checkpoints."""
        from qfl.chain.checkpoint import save_chain

        done = len(report.rounds)
        name = f"chain-{done}.ckpt"
        saved = save_chain(self.path / name)
        state = {
            **state,
            "rounds_done": done,
            "finished": done >= state["rounds_total"],
            "chain_checkpoint": name,
            "chain_block": saved["block"],
            "federation": {"address": sim.federation.address, "from_block": sim.federation.from_block},
            "accounts": _account_records(sim.accounts),
            "gas": {"gas": dict(sim.federation.gas.gas), "calls": dict(sim.federation.gas.calls)},
            "fees": {
                part: {a: str(v) for a, v in getattr(sim.federation.fees, part).items()}
                for part in ("execution_wei", "l1_data_wei")
            },
            "totals": {
                "withdrawn": {a: str(v) for a, v in sim.withdrawn.items()},
                "burned": {a: str(v) for a, v in sim.burned.items()},
            },
            # The next round's events all come after this checkpoint; a resume re-reads the events from the
            # previous one on (the last finished round's), and no older ones.
            "events_from": state["chain_block"] + 1 if "chain_block" in state else sim.federation.from_block,
            "report": report.to_json(),
        }
        atomic_write_json(self.state_path, state)
        for old in self.path.glob("chain-*.ckpt"):
            if old.name != name:
                old.unlink()
        return state


# ---------------------------------------------------------------------- one whole run, as the CLI and qfl.api do it


@contextmanager
def connect_chain(chain: str):
    """ape connected to the local chain `chain` (a key of CHAINS). anvil is started here, not by ape-foundry
    (ape-foundry passes --steps-tracing: anvil then records every opcode, and a 10-update settle took ~300 ms
    to mine instead of a few), and ape-foundry attaches to it."""
    import ape

    if chain != "foundry":
        with ape.networks.parse_network_choice(CHAINS[chain]) as provider:
            yield provider
        return
    from qfl.orchestration.multiproc import Anvil

    with Anvil() as node:
        with ape.networks.parse_network_choice(
            CHAINS[chain], provider_settings={"host": node.url}
        ) as provider:
            yield provider


@dataclass
class RunPlan:
    """What a run will do, decided before anything is touched (`plan_run`): a new run, or the resume of the
    saved state in `folder`."""

    cfg: ExperimentConfig
    folder: RunFolder
    chain: str  # a key of CHAINS
    reproducible: bool
    config_file: Path | None = None
    state: dict | None = None  # the saved run state to resume from; None for a new run

    @property
    def salt_seed(self) -> bytes | None:
        return salt_seed_for(self.cfg.seed) if self.reproducible else None


def plan_run(
    cfg: ExperimentConfig,
    out_dir: Path,
    *,
    chain: str | None = None,
    resume: bool = False,
    reproducible: bool | None = None,
    fresh: bool = True,
    config_file: Path | None = None,
) -> RunPlan:
    """Check what `out_dir` holds against the run asked for; ResumeError (one line) when it cannot be done:
    nothing to resume, a changed config, chain or salt mode, or (`fresh=False`) a new run over an unfinished
    one. `chain` and `reproducible` default to test and on for a new run; a resumed run keeps its own."""
    folder = RunFolder(Path(out_dir))
    state = None
    if chain is not None and chain not in CHAINS:
        raise ValueError(f"unknown chain {chain!r}: one of {', '.join(sorted(CHAINS))}")
    if resume:
        state = folder.resumable(cfg, chain)
        if reproducible is not None and reproducible != state["reproducible"]:
            mode = "reproducible salts" if state["reproducible"] else "--random-salts"
            raise ResumeError(f"cannot resume {out_dir}: it was started with {mode}")
    elif not fresh and (old := folder.unfinished()):
        raise ResumeError(
            f"{out_dir} holds an unfinished run ({old['rounds_done']} of {old['rounds_total']} rounds "
            "done): continue it with --resume, or delete the folder to start over"
        )
    return RunPlan(
        cfg,
        folder,
        chain=state["chain"] if state else chain or "test",
        reproducible=state["reproducible"] if state else reproducible is not False,
        config_file=config_file,
        state=state,
    )


def _quiet_stage(message: str):
    from contextlib import nullcontext

    return nullcontext()


def execute_run(
    plan: RunPlan,
    *,
    progress: Callable[[str], None] = lambda line: None,
    notice: Callable[[str], None] = lambda line: None,
    stage: Callable[[str], object] = _quiet_stage,
    save: bool = True,
) -> RunReport:
    """Connect to the plan's chain, deploy (or restore) the federation, play every round left; return the
    report. Prints nothing itself: `progress` gets one line per finished round, `notice` the line saying
    which federation plays, and `stage(message)` (a context manager) wraps each slow step.

    With `save` (the default) the run folder is checkpointed after the deployment and after every finished
    round (chain, run state, results so far: resumable, see `RunFolder`); a stop raises whatever stopped it
    (KeyboardInterrupt included) with every finished round saved. Without `save` the folder only holds the
    store and node state. The final results are left to the caller (`qfl.orchestration.report.write_results`)."""

    from qfl.chain.checkpoint import restore_chain
    from qfl.orchestration.report import write_results
    from qfl.storage import EmbeddedStore

    cfg, folder, state = plan.cfg, plan.folder, plan.state
    store = EmbeddedStore(folder.store_dir)
    with connect_chain(plan.chain), interrupts_raise():
        if state is not None:
            with stage("restoring the chain and the federation..."):
                restore_chain(folder.path / state["chain_checkpoint"])
                folder.prune_node_state(state["rounds_done"])
                sim = build_in_process(cfg, store, folder.nodes_dir, salt_seed=plan.salt_seed, resume=state)
                report = RunReport.from_json(state["report"])
            notice(
                f"federation {sim.federation.address}: resuming after round {state['rounds_done']} of "
                f"{cfg.protocol.rounds} from {folder.path}"
            )
        else:
            if save:
                state = folder.start(cfg, plan.config_file, plan.chain, plan.reproducible)
            with stage("deploying the federation and registering clients..."):
                sim = build_in_process(cfg, store, folder.nodes_dir, salt_seed=plan.salt_seed)
                report = sim.initial_report()
                if save:
                    state = folder.checkpoint(state, sim, report)  # resumable from the deployment on
            notice(
                f"federation {sim.federation.address}: {cfg.n_clients} clients "
                f"({len(cfg.attackers())} malicious), {cfg.protocol.rounds} rounds, "
                f"{sim.spec.n_qubits}-qubit {sim.spec.ansatz} model, aggregation {cfg.aggregation}"
            )
        sim.progress = progress

        def saved(partial: RunReport) -> None:
            nonlocal state
            with hold_interrupts():
                state = folder.checkpoint(state, sim, partial)
                write_results(partial, folder.path, plots=False)

        with stage("playing rounds (the first one compiles the circuits)..."):
            return sim.run(report, on_round=saved if save else None)
