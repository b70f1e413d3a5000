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

from qfl.chain import Federation, FederationParams, RoundPhase, deploy_federation
from qfl.config import ExperimentConfig
from qfl.data import ClientData, Dataset, load_dataset, split_dirichlet, split_iid, split_shards
from qfl.fl.attacks import ATTACKS, apply_attack
from qfl.node import Node, Timers
from qfl.quantum.codec import encode_weights
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig, evaluate, train_clients
from qfl.report import ClientRecord, RoundRecord, RunReport
from qfl.storage import ContentStore, cid_to_digest

WEI = 10**18


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
        reward_per_round=int(p.reward_per_round_eth * WEI),
        slash_fraction_bps=int(round(p.slash_fraction * 10_000)),
        max_participants=p.max_participants,
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


def phase_deadline(view) -> int | None:
    """The timestamp after which `view`'s phase ends by time (None for phases that only end by a call)."""
    deadlines = {
        RoundPhase.COMMIT: view.commit_deadline,
        RoundPhase.REVEAL: view.reveal_deadline,
        RoundPhase.VOTE: view.vote_deadline,
        RoundPhase.AGGREGATE: view.attest_deadline,
    }
    return deadlines.get(view.phase)


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

    def play_round(self) -> int:
        """Play until the next round is done; warp the clock past a deadline only when nobody can act."""
        starter = self.nodes[0]
        starter.step()  # opens the next round (or withdraws first)
        round_ = self.federation.current_round()
        stalls = 0
        while True:
            view = self.federation.round_view(round_)
            if view.phase == RoundPhase.DONE:
                break
            if view.phase == RoundPhase.COMMIT:
                self._batch_train(round_, view)
            acted = [a for a in (node.step() for node in self.nodes) if a]
            if acted:
                stalls = 0
                continue
            deadline = phase_deadline(self.federation.round_view(round_))
            stalls += 1
            if deadline is None or stalls > 3:
                raise RuntimeError(f"round {round_} is stuck in phase {view.phase.name}: no node can act")
            self.warp(deadline + 1)
        for node in self.nodes:  # every node pulls what it earned
            node.withdraw_if_owed()
        return round_

    def run(self) -> RunReport:
        """Play every round; return per-round accuracy, votes, time split, gas, and each client's standing."""
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
            reveals = view.reveals
            accepted = [p for p, ok in zip(reveals, view.accepted, strict=False) if ok]
            bad = [p for p in reveals if p.client.lower() in attackers]
            global_params = self.nodes[0].fetch_weights(self.federation.global_model(round_))
            metrics = evaluate(self.spec, global_params, X_test, y_test)
            timers = {k: after[k] - before[k] for k in ("train", "store", "chain")}
            record = RoundRecord(
                round=round_ - 1,
                accuracy=float(metrics["accuracy"]),
                loss=float(metrics["loss"]),
                accepted=len(accepted),
                rejected=len(reveals) - len(accepted),
                attackers_rejected=len([p for p in bad if p not in accepted]),
                attackers_total=len(bad),
                gas=after["gas"] - before["gas"],
                train_seconds=timers["train"],
                store_seconds=timers["store"],
                chain_seconds=timers["chain"],
                other_seconds=max(0.0, wall - sum(timers.values())),
                bytes_stored=after["bytes_in"] - before["bytes_in"],
                bytes_fetched=after["bytes_out"] - before["bytes_out"],
                global_cid=_cid(self.federation.global_model(round_)),
            )
            report.rounds.append(record)
            self.progress(
                f"round {round_}/{self.cfg.protocol.rounds}: accuracy {record.accuracy:.3f}, "
                f"accepted {record.accepted}, rejected {record.rejected} "
                f"(attackers rejected {record.attackers_rejected}/{record.attackers_total}), "
                f"gas {record.gas:,}, {record.wall_seconds:.1f}s"
            )
        withdrawn: dict[str, int] = {}
        for e in self.federation.events_since(0):  # one log query for every client, not one each
            if e.name == "Withdrawn":
                withdrawn[e["account"].lower()] = withdrawn.get(e["account"].lower(), 0) + e["amount"]
        report.clients = [self._client_record(n, withdrawn.get(n.address.lower(), 0)) for n in self.nodes]
        report.gas_by_method = dict(ledger.gas)
        report.calls_by_method = dict(ledger.calls)
        return report

    def _client_record(self, node: Node, withdrawn: int) -> ClientRecord:
        view = self.federation.client_view(node.address)
        return ClientRecord(
            index=node.identity.index,
            address=node.address,
            attack=node.identity.attack or "",
            reputation=view.reputation,
            stake_eth=view.stake / WEI,
            rewards_eth=(withdrawn + view.withdrawable) / WEI,
        )


def _cid(digest: bytes) -> str:
    from qfl.storage import digest_to_cid

    return digest_to_cid(digest)


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
