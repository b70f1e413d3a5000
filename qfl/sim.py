"""Many nodes on one machine: build a federation from a config, play its rounds, measure them.

In-process mode keeps every node in this process on one chain connection and trains all clients that owe an
update in one vectorised call (`train_clients`); every other action is the node's own `step()`, exactly as
a separate process would take it. Multi-process mode (qfl.multiproc) runs the same `Node` per OS process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qfl.chain import (
    Federation,
    FederationParams,
    RoundPhase,
    RoundView,
    TrainerOutcome,
    deploy_federation,
)
from qfl.config import ExperimentConfig
from qfl.data import ClientData, Dataset, load_dataset, split_dirichlet, split_iid, split_shards
from qfl.fl.attacks import ATTACKS, apply_attack
from qfl.node import Node, Timers
from qfl.quantum.codec import encode_weights
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, train_clients
from qfl.report import ClientRecord, RoundRecord, RunReport
from qfl.storage import ContentStore, cid_to_digest, digest_to_cid

WEI = 10**18
# Updates per `settle` transaction: its gas grows with the batch and with the committee (about 50k + 3k per
# seat for each update; benchmarks/results/gas.md measured ~235k an update with 53 voters on 64 seats), so
# the batch is sized to stay near 8M gas, half the EIP-7825 cap of 16,777,216 per transaction.
SETTLE_GAS_TARGET = 8_000_000


def settle_batch_size(total_seats: int) -> int:
    """Updates per `settle` call for a committee of `total_seats` seats (1..100)."""
    return max(1, min(100, SETTLE_GAS_TARGET // (50_000 + 3_000 * total_seats)))


def model_spec(cfg: ExperimentConfig, n_classes: int) -> ModelSpec:
    """The circuit every node builds, from the config's model section and the dataset's classes."""
    m = cfg.model
    return ModelSpec(
        n_qubits=m.n_qubits, n_layers=m.n_layers, encoding=m.encoding, ansatz=m.ansatz, n_classes=n_classes
    )


def load_federated_data(cfg: ExperimentConfig) -> tuple[Dataset, list[ClientData]]:
    """The test set and each client's (train, val) part: deterministic from the config alone."""
    n_features = 2**cfg.model.n_qubits if cfg.model.encoding == "amplitude" else cfg.model.n_qubits
    d = cfg.data
    dataset = load_dataset(d.dataset, n_features=n_features, test_fraction=d.test_fraction, seed=d.seed)
    X, y = dataset.X_train, dataset.y_train
    if d.split == "iid":
        parts = split_iid(X, y, cfg.n_clients, seed=d.seed)
    elif d.split == "dirichlet":
        parts = split_dirichlet(X, y, cfg.n_clients, alpha=d.alpha, seed=d.seed)
    else:
        parts = split_shards(X, y, cfg.n_clients, labels_per_client=d.labels_per_client, seed=d.seed)
    return dataset, parts


def training_config(cfg: ExperimentConfig) -> TrainConfig:
    t = cfg.training
    return TrainConfig(
        epochs=t.epochs,
        batch_size=t.batch_size,
        learning_rate=t.learning_rate,
        optimizer=t.optimizer,
        prox_mu=t.prox_mu,
        seed=cfg.seed,
    )


def federation_params(cfg: ExperimentConfig, spec_cid: str, initial_cid: str) -> FederationParams:
    p = cfg.protocol
    return FederationParams(
        model_spec=cid_to_digest(spec_cid),
        initial_model=cid_to_digest(initial_cid),
        num_rounds=p.rounds,
        min_stake=int(p.min_stake_eth * WEI),
        commit_period=p.commit_seconds,
        reveal_period=p.reveal_seconds,
        vote_period=p.vote_seconds,
        attest_period=p.attest_seconds,
        committee_size=p.committee_size,
        cohort_size=p.cohort_size,
        reward_per_round=int(p.reward_per_round_eth * WEI),
        slash_fraction_bps=int(round(p.slash_fraction * 10_000)),
        max_samples=p.max_samples,
        max_share_bps=int(round(p.max_share * 10_000)),
        rejoin_cooldown=p.rejoin_cooldown,
    )


def publish_initial_model(cfg: ExperimentConfig, spec: ModelSpec, store: ContentStore) -> tuple[str, str]:
    """Put the model spec and the round-0 weights in the store; return their CIDs."""
    spec_cid = store.put(spec.to_bytes())
    initial_cid = store.put(encode_weights(init_params(spec, cfg.seed), spec.digest()))
    return spec_cid, initial_cid


def deploy_from_config(
    cfg: ExperimentConfig, project, sponsor, store: ContentStore, n_classes: int
) -> tuple[Federation, ModelSpec]:
    """Publish spec + initial weights, deploy a funded federation; the sponsor's one set-up step."""
    spec = model_spec(cfg, n_classes)
    spec_cid, initial_cid = publish_initial_model(cfg, spec, store)
    params = federation_params(cfg, spec_cid, initial_cid)
    federation = deploy_federation(project, sponsor, params, fund_wei=int(cfg.protocol.fund_eth * WEI))
    return federation, spec


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
            node.commit(round_, update)

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

    def run(self) -> RunReport:
        """Play every round; return per-round accuracy, outcomes, money, time split, gas, each client's standing."""
        X_test, y_test = self.test_set.X_test, self.test_set.y_test
        initial = self.nodes[0].fetch_weights(self.federation.global_model(0))
        report = RunReport(self.cfg.name, float(evaluate(self.spec, initial, X_test, y_test)["accuracy"]))
        attackers = {n.address.lower() for n in self.nodes if n.identity.attack}
        ledger = self.federation.gas
        for _ in range(self.cfg.protocol.rounds):
            before = _snapshot(self.nodes, self.store, ledger.total)
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
                round=round_ - 1,
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
            )
            report.rounds.append(record)
            self.progress(
                f"round {round_}/{self.cfg.protocol.rounds}: accuracy {record.accuracy:.3f}, "
                f"accepted {record.accepted}, rejected {record.rejected} "
                f"(attackers rejected {record.attackers_rejected}/{record.attackers_total}), "
                f"burned {record.burned_eth:.3f} ETH, gas {record.gas:,}, {record.wall_seconds:.1f}s"
            )
        withdrawn: dict[str, int] = {}
        burned: dict[str, int] = {}
        # One log query for every client, not one each.
        for e in self.federation.events_since(self.federation.from_block):
            if e.name == "Withdrawn":
                withdrawn[e["account"].lower()] = withdrawn.get(e["account"].lower(), 0) + e["amount"]
            elif e.name in ("TrainerSettled", "ValidatorSettled") and e["slashed"]:
                who = (e.args.get("client") or e.args["validator"]).lower()
                burned[who] = burned.get(who, 0) + e["slashed"]
        report.clients = [
            self._client_record(n, withdrawn.get(n.address.lower(), 0), burned.get(n.address.lower(), 0))
            for n in self.nodes
        ]
        report.gas_by_method = dict(ledger.gas)
        report.calls_by_method = dict(ledger.calls)
        report.money = self.federation.accounting()
        return report

    def _client_record(self, node: Node, withdrawn: int, burned: int) -> ClientRecord:
        view = self.federation.client_view(node.address)
        return ClientRecord(
            index=node.identity.index,
            address=node.address,
            attack=node.identity.attack or "",
            reputation=view.reputation,
            stake_eth=view.stake / WEI,
            rewards_eth=(withdrawn + view.withdrawable) / WEI,
            burned_eth=burned / WEI,
        )


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


def build_in_process(
    cfg: ExperimentConfig,
    store: ContentStore,
    state_dir: Path,
    progress: Callable[[str], None] = lambda line: None,
) -> Simulation:
    """Deploy on ape's in-process chain (already connected), register every client, return the simulation."""
    import ape

    test_set, parts = load_federated_data(cfg)
    accounts = _test_accounts(cfg.n_clients + 1)
    sponsor, clients = accounts[0], accounts[1:]
    from qfl.deployment import make_node
    from qfl.toolchain import project as ape_project

    project = ape_project()
    federation, spec = deploy_from_config(cfg, project, sponsor, store, test_set.n_classes)
    federation.sole_writer = True  # every node shares this binding: events come from its receipts
    stake = int(cfg.protocol.stake_eth * WEI)
    nodes = []
    for i, account in enumerate(clients):
        federation.register(stake, sender=account)
        nodes.append(
            make_node(
                cfg, federation, store, spec, account, i, parts, state_dir / f"client-{i}", min_members=1
            )
        )
    chain = ape.chain

    def warp(timestamp: int) -> None:
        chain.mine(timestamp=timestamp)

    def chain_time() -> int:
        return chain.blocks.head.timestamp

    return Simulation(cfg, federation, store, spec, nodes, test_set, warp, chain_time, progress)


def _test_accounts(n: int) -> list:
    """n funded accounts of the local chain: ape's test accounts, plus generated ones funded by the first."""
    import ape

    base = list(ape.accounts.test_accounts)
    accounts = base[:n]
    while len(accounts) < n:
        extra = ape.accounts.test_accounts.generate_test_account()
        base[0].transfer(extra, 50 * WEI)
        accounts.append(extra)
    return accounts
