"""Where a federation lives and who acts in it: deployment records, signers, content stores, participants.

`qflchain` (qfl.cli) and the `ape run` scripts (scripts/) share these helpers, so a federation deployed by
one can be driven by the other. Heavy imports (JAX, the contracts) stay inside the functions: ape loads
every script module to list them, and `qflchain --help` should not pay for a quantum simulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from qfl.atomic import atomic_write_json
from qfl.config import ConfigError, ExperimentConfig, load_config


def load_experiment(path: Path) -> ExperimentConfig:
    """The validated config at `path`; a UsageError naming the file and the bad field otherwise."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc


def open_content_store(address: str):
    """A Kubo RPC URL, or a directory for the embedded store."""
    from qfl.storage import EmbeddedStore, open_store

    if address.startswith(("http://", "https://")):
        return open_store(address, Path("."))
    return EmbeddedStore(Path(address))


def public_address(address: str) -> str:
    """A store address fit to write into a committed file: a URL loses its user, password and query."""
    if not address.startswith(("http://", "https://")):
        return address
    parts = urlsplit(address)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_account(name: str):
    """`test:N` -> ape test account N (local chains); anything else -> an `ape accounts` alias."""
    import ape

    if name.startswith("test:"):
        index = name.split(":", 1)[1]
        if not index.isdigit():
            raise click.UsageError(f"{name!r}: a test account is test:N with N a number, e.g. test:1")
        return ape.accounts.test_accounts[int(index)]
    try:
        account = ape.accounts.load(name)
    except Exception as exc:  # ape raises several kinds for a missing alias
        raise click.UsageError(
            f"no ape account called {name!r}: import one with `ape accounts import {name}`, or use test:N on a local chain"
        ) from exc
    account.set_autosign(True)  # passphrase from APE_ACCOUNTS_<alias>_PASSPHRASE or a prompt
    return account


# ---------------------------------------------------------------------- deployment records


deployments_option = click.option(
    "--deployments",
    "deployments_dir",
    type=click.Path(path_type=Path),
    default=Path("deployments"),
    show_default=True,
    help="folder of the per-network deployment records",
)


def deployment_file(directory: Path, provider) -> Path:
    """`<directory>/<ecosystem>-<network>.json` for the network `provider` is connected to."""
    network = provider.network
    return Path(directory) / f"{network.ecosystem.name}-{network.name}.json"


def read_deployment(path: Path) -> dict:
    """The deployment recorded at `path`; a UsageError saying how to make one if there is none."""
    if not path.is_file():
        raise click.UsageError(
            f"no deployment recorded in {path}: deploy one first (`qflchain deploy` or `ape run deploy`)"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{path} is not valid JSON ({exc}); deploy again or fix the file") from exc
    if not isinstance(record, dict) or "address" not in record:
        raise click.UsageError(f"{path} has no federation address; deploy again with `ape run deploy`")
    return record


def has_code(address: str) -> bool:
    """Whether a contract exists at `address` on the connected chain."""
    import ape

    return len(ape.chain.provider.get_code(address)) > 0


def deploy_and_record(
    cfg: ExperimentConfig,
    config_path: Path,
    sponsor,
    store_address: str,
    record_path: Path | None,
) -> dict:
    """Publish spec + initial weights, deploy and fund a federation, write its record (if a path is given)."""
    import ape

    from qfl.sim import deploy_from_config, load_federated_data
    from qfl.storage import digest_to_cid
    from qfl.toolchain import project

    content = open_content_store(store_address)
    test_set, _ = load_federated_data(cfg)
    federation, _ = deploy_from_config(cfg, project(), sponsor, content, test_set.n_classes)
    # The deployment's own block (the head may already be blocks further, with confirmations).
    creation = ape.chain.contracts.get_creation_metadata(federation.address)
    if federation.from_block:
        block = ape.chain.blocks[federation.from_block]
    else:
        block = ape.chain.blocks[creation.block] if creation else ape.chain.blocks.head
    network = ape.chain.provider.network
    record = {
        "address": federation.address,
        "block": int(block.number),
        "block_hash": block.hash.to_0x_hex(),
        "deployed_at": int(block.timestamp),
        "tx": creation.txn_hash if creation else None,
        "chain_id": int(ape.chain.chain_id),
        "ecosystem": network.ecosystem.name,
        "network": network.name,
        "provider": ape.chain.provider.name,
        "config": str(config_path),
        "config_name": cfg.name,
        "sponsor": str(sponsor.address),
        "model_spec": digest_to_cid(federation.model_spec()),
        "initial_model": digest_to_cid(federation.global_model(0)),
        "store": public_address(store_address),
        "rounds": cfg.protocol.rounds,
    }
    if record_path is not None:
        atomic_write_json(record_path, record)
    return record


# ---------------------------------------------------------------------- participants


def load_model_spec(federation, content):
    """The model spec the federation names on-chain, fetched from the store and verified against its CID."""
    from qfl.quantum.spec import ModelSpec
    from qfl.storage import digest_to_cid

    return ModelSpec.from_bytes(content.get(digest_to_cid(federation.model_spec())))


def ensure_registered(federation, signer, cfg: ExperimentConfig) -> bool:
    """Register `signer` with the config's stake unless it already is a member; True if it registered now."""
    from qfl.sim import WEI

    if federation.client_view(signer.address).registered:
        return False
    stake = int(cfg.protocol.stake_eth * WEI)
    if signer.balance <= stake:
        raise click.UsageError(
            f"{signer.address} holds {signer.balance / WEI:.4f} ETH but must stake {cfg.protocol.stake_eth} ETH "
            "and pay gas to register: fund it first"
        )
    federation.register(stake, sender=signer)
    return True


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
    from qfl.node import Node, NodeIdentity
    from qfl.sim import training_config

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
        aggregation=cfg.aggregation,
        seed=cfg.seed,
        min_members=min_members,
        log=log,
    )
