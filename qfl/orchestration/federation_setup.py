"""A federation from a config: the model spec, each client's data, training settings, contract parameters,
the initial model, the deployment, and the node that plays client i. The simulator, `qflchain deploy/node`
and the scripts all start here, so they build the same federation from the same file."""

from __future__ import annotations

from pathlib import Path

from qfl.chain import Federation, FederationParams, deploy_federation
from qfl.data import ClientData, Dataset, load_dataset, split_dirichlet, split_iid, split_shards
from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.node import Node, NodeIdentity
from qfl.quantum.codec import encode_weights
from qfl.quantum.model import init_params
from qfl.quantum.spec import ModelSpec
from qfl.quantum.train import TrainConfig
from qfl.storage import ContentStore, cid_to_digest


def model_spec(cfg: ExperimentConfig, n_classes: int) -> ModelSpec:
    """The circuit every node builds and the rule that combines updates, from the config's model section,
    the dataset's classes and the config's aggregation."""
    m = cfg.model
    return ModelSpec(
        n_qubits=m.n_qubits,
        n_layers=m.n_layers,
        encoding=m.encoding,
        ansatz=m.ansatz,
        n_classes=n_classes,
        aggregation=cfg.aggregation,
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
        min_stake=p.min_stake_wei,
        commit_period=p.commit_seconds,
        reveal_period=p.reveal_seconds,
        vote_period=p.vote_seconds,
        attest_period=p.attest_seconds,
        committee_size=p.committee_size,
        cohort_size=p.cohort_size,
        reward_per_round=p.reward_per_round_wei,
        slash_fraction_bps=p.slash_fraction_bps,
        max_samples=p.max_samples,
        max_share_bps=p.max_share_bps,
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
    federation = deploy_federation(project, sponsor, params, fund_wei=cfg.protocol.fund_wei)
    return federation, spec


def make_node(
    cfg: ExperimentConfig,
    federation,
    content,
    spec,
    signer,
    client_index: int,
    parts: list,
    state_dir: Path,
    min_members: int,
    log=lambda line: None,
):
    """The participant holding data shard `client_index` of `cfg`, signing with `signer` (with its attack, if any)."""
    attack = cfg.attackers().get(client_index)
    return Node(
        federation=federation,
        store=content,
        spec=spec,
        identity=NodeIdentity(
            account=signer,
            index=client_index,
            data=parts[client_index],
            state_dir=state_dir,
            attack=attack.kind if attack else None,
            attack_strength=attack.strength if attack else 1.0,
        ),
        training=training_config(cfg),
        seed=cfg.seed,
        min_members=min_members,
        log=log,
    )
