"""Where a federation lives and who acts in it: deployment records, signers, content stores, participants.

`qflchain` (qfl.cli) and the `ape run` scripts (scripts/) share these helpers, so a federation deployed by
one can be driven by the other. Heavy imports (JAX, the contracts) stay inside the functions: ape loads
every script module to list them, and `qflchain --help` should not pay for a quantum simulator.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from qfl.orchestration.config import ConfigError, ExperimentConfig, load_config
from qfl.storage.atomic import atomic_write_json


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


# A path segment of a URL that looks like an API key: 16+ characters with a digit, or 24+ of any kind (Infura
# `/v3/<32 hex>`, Alchemy `/v2/<32 chars>`, Ankr `/eth/<64 hex>`, QuickNode `/<40 hex>/`). Words such as
# `v3`, `rpc` or `ethereum-sepolia` stay.
_KEY_SEGMENT = re.compile(r"^(?=.*[0-9]).{16,}$|^.{24,}$")
_URL_IN = re.compile(r"^(?P<prefix>.*?)(?P<url>[A-Za-z][A-Za-z0-9+.-]*://.*)$", re.DOTALL)
REDACTED = "***"


def public_address(address: str) -> str:
    """`address` fit to write into a file others read: every URL in it (alone, or as the provider of an ape
    choice `ecosystem:network:URL`) loses its user, password, query and fragment, and each path segment that
    looks like an API key (_KEY_SEGMENT) becomes `***`. Anything that is not a URL is kept as it is."""
    match = _URL_IN.match(address)
    if match is None:
        return address
    parts = urlsplit(match["url"])
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: no port to keep
        port = None
    netloc = f"{host}:{port}" if port else host
    path = "/".join(REDACTED if _KEY_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    return match["prefix"] + urlunsplit((parts.scheme, netloc, path, "", ""))


def check_account(name: str) -> None:
    """A one-line ClickException unless `name` is a test account that exists (`test:N`, N below the number
    of test accounts) or an `ape accounts` alias; needs no connection."""
    import ape

    if name.startswith("test:"):
        index = name.split(":", 1)[1]
        if not index.isdigit():
            raise click.ClickException(
                f"--account {name}: a test account is test:N with N a number, e.g. test:1"
            )
        try:  # the configured number: cheaper than deriving every key to count them
            count = int(ape.config.get_config("test").number_of_accounts)
        except Exception:
            count = len(ape.accounts.test_accounts)
        if int(index) >= count:
            raise click.ClickException(
                f"--account {name}: there are {count} test accounts (test:0 to test:{count - 1}); "
                "pick one of those, or raise test.number_of_accounts in ape-config.yaml"
            )
    elif name not in set(ape.accounts.aliases):
        raise click.ClickException(
            f"--account {name}: no ape account called {name!r}: import one with `ape accounts import {name}`, "
            "or use test:N on a local chain"
        )


def resolve_account(name: str):
    """`test:N` -> ape test account N (local chains); anything else -> an `ape accounts` alias."""
    import ape

    check_account(name)
    if name.startswith("test:"):
        return ape.accounts.test_accounts[int(name.split(":", 1)[1])]
    account = ape.accounts.load(name)
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
    """`<directory>/<chain id>.json` for the chain `provider` is connected to (what an outside client looks
    up). A record of an older version, `<ecosystem>-<network>.json`, is still used when it is the only one."""
    network = provider.network
    keyed = Path(directory) / f"{int(provider.chain_id)}.json"
    legacy = Path(directory) / f"{network.ecosystem.name}-{network.name}.json"
    return legacy if not keyed.is_file() and legacy.is_file() else keyed


def read_deployment(path: Path) -> dict:
    """The deployment recorded at `path`; a one-line ClickException saying how to make one if there is none."""
    if not path.is_file():
        raise click.ClickException(
            f"no deployment recorded in {path}: deploy one first (`qflchain deploy` or `ape run deploy`)"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path} is not valid JSON ({exc}); deploy again or fix the file") from exc
    if not isinstance(record, dict) or "address" not in record:
        raise click.ClickException(f"{path} has no federation address; deploy again with `ape run deploy`")
    return record


def has_code(address: str) -> bool:
    """Whether a contract exists at `address` on the connected chain."""
    import ape

    return len(ape.chain.provider.get_code(address)) > 0


def connected_choice() -> str:
    """The ape network choice of the connected provider (a custom URL provider: its URL)."""
    import ape

    try:
        return ape.chain.provider.network_choice
    except Exception:  # an ad-hoc network without a connection string
        return ape.chain.provider.network.choice


def deployment_record(federation, block, tx: str | None, sponsor, store: str, network_choice: str) -> dict:
    """What a deployment record holds, none of it secret: chain id, ape network, the --network given with any
    key or credential removed (public_address), address, block, model spec and initial model CIDs, store.

    `block` is an ape block (or a block number); `federation` a qfl.chain.Federation just deployed."""
    import ape

    from qfl.storage import digest_to_cid

    if isinstance(block, int):
        block = ape.chain.blocks[block]
    network = ape.chain.provider.network
    return {
        "address": federation.address,
        "block": int(block.number),
        "block_hash": block.hash.to_0x_hex(),
        "deployed_at": int(block.timestamp),
        "tx": tx,
        "chain_id": int(ape.chain.chain_id),
        "ecosystem": network.ecosystem.name,
        "network": network.name,
        "network_choice": public_address(network_choice),
        "sponsor": str(sponsor.address),
        "model_spec": digest_to_cid(federation.model_spec()),
        "initial_model": digest_to_cid(federation.global_model(0)),
        "store": public_address(store),
    }


def deploy_and_record(
    cfg: ExperimentConfig,
    config_path: Path,
    sponsor,
    store_address: str,
    record_path: Path | None,
    network_choice: str | None = None,
) -> dict:
    """Publish spec + initial weights, deploy and fund a federation, write its record (if a path is given).

    `network_choice` is the --network given (recorded through public_address: never a key); by default the
    connected network's ape choice."""
    import ape

    from qfl.chain.toolchain import project
    from qfl.orchestration.federation_setup import deploy_from_config, load_federated_data

    content = open_content_store(store_address)
    test_set, _ = load_federated_data(cfg)
    federation, _ = deploy_from_config(cfg, project(), sponsor, content, test_set.n_classes)
    # The deployment's own block (the head may already be blocks further, with confirmations).
    creation = ape.chain.contracts.get_creation_metadata(federation.address)
    if federation.from_block:
        block = ape.chain.blocks[federation.from_block]
    else:
        block = ape.chain.blocks[creation.block] if creation else ape.chain.blocks.head
    record = deployment_record(
        federation,
        block,
        creation.txn_hash if creation else None,
        sponsor,
        store_address,
        network_choice or connected_choice(),
    )
    record.update(
        provider=ape.chain.provider.name,
        config=str(config_path),
        config_name=cfg.name,
        rounds=cfg.protocol.rounds,
    )
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
    from qfl.orchestration.config import WEI_PER_ETH as WEI

    if federation.client_view(signer.address).registered:
        return False
    stake = cfg.protocol.stake_wei
    if signer.balance <= stake:
        raise click.ClickException(
            f"{signer.address} holds {signer.balance / WEI:.4f} ETH but must stake {cfg.protocol.stake_eth} ETH "
            "and pay gas to register: fund it first"
        )
    federation.register(stake, sender=signer)
    return True


# ---------------------------------------------------------------------- preflight checks
# Each raises a one-line click.ClickException saying what is wrong and what to do; the commands run them
# before anything is published, deployed or staked.

URL_SCHEMES = ("http://", "https://", "ws://", "wss://")
RPC_TIMEOUT = 3.0  # seconds for a JSON-RPC node to answer eth_chainId


def _require_rpc(url: str) -> int:
    """The chain id of the node at `url`; a ClickException if nothing answers JSON-RPC there."""
    from qfl.orchestration.multiproc import rpc_chain_id

    chain_id, why = rpc_chain_id(url, RPC_TIMEOUT)
    if chain_id is None:
        port = urlsplit(url).port or 8545
        raise click.ClickException(
            f"nothing answers JSON-RPC at {url} ({why}): start your node "
            f"(e.g. `anvil --port {port} --chain-id 1337`) or fix --network"
        )
    return chain_id


def _network_for_chain_id(url: str, chain_id: int) -> str:
    """The ape network (ECOSYSTEM:NETWORK) to sign for on the node at `url` reporting `chain_id`: the public
    network with that id (qfl.chain.networks), or ape's ad-hoc local chain."""
    from qfl.chain.networks import network_for_chain_id
    from qfl.orchestration.multiproc import LOCAL_CHAIN_ID

    if chain_id in (0, LOCAL_CHAIN_ID):
        return "ethereum:local"
    known = network_for_chain_id(chain_id)
    if known is not None:
        return known.choice
    raise click.ClickException(
        f"the node at {url} runs chain id {chain_id}, but ape signs for a bare RPC URL as its local chain "
        f"{LOCAL_CHAIN_ID} (or a known public network): start anvil with `--chain-id {LOCAL_CHAIN_ID}`, "
        "or pass --network ECOSYSTEM:NETWORK:URL"
    )


def _require_chain_id(value: str, ecosystem: str, network: str, url: str) -> None:
    """A ClickException unless the node at `url` serves the chain `ecosystem:network` names (public
    networks only: a local or fork network takes any id)."""
    from qfl.chain.networks import expected_chain_id, network_for_chain_id
    from qfl.orchestration.multiproc import LOCAL_CHAIN_ID

    chain_id = _require_rpc(url)
    expected = expected_chain_id(ecosystem, network)
    if expected is None or chain_id in (0, expected):  # 0: a websocket URL, whose id is not probed
        return
    known = network_for_chain_id(chain_id)
    this = ""  # the --network that would sign for this node instead
    if known is not None:
        this = f"--network {known.choice}:{url}"
    elif chain_id == LOCAL_CHAIN_ID:
        this = f"--network {url}"
    raise click.ClickException(
        f"--network {value}: the node at {url} runs chain id {chain_id}, but {ecosystem}:{network} is chain "
        f"id {expected}: give the RPC URL of a node of {ecosystem}:{network}"
        + (f", or {this} for this one" if this else "")
    )


def check_network(value: str) -> str:
    """The ape network choice for `--network value` (an ape choice, or a bare RPC URL that becomes
    ECOSYSTEM:NETWORK:URL of the network its chain id names), checked before ape sees it: an unknown ecosystem,
    network or provider, a URL where nothing answers JSON-RPC, or one on another chain than the choice
    names, is a ClickException listing what would work."""
    if value.startswith(URL_SCHEMES):
        return f"{_network_for_chain_id(value, _require_rpc(value))}:{value}"
    import ape

    parts = value.split(":", 2)
    manager = ape.networks
    ecosystem_name = parts[0] or manager.default_ecosystem_name
    if ecosystem_name not in manager.ecosystem_names:
        raise click.ClickException(
            f"--network {value}: ape knows no ecosystem {ecosystem_name!r}; use an RPC URL "
            "(e.g. http://127.0.0.1:8545) or ECOSYSTEM[:NETWORK[:PROVIDER]] with ECOSYSTEM one of "
            + ", ".join(sorted(manager.ecosystem_names))
        )
    ecosystem = manager.get_ecosystem(ecosystem_name)
    network_name = parts[1] if len(parts) > 1 and parts[1] else ecosystem.default_network_name
    if network_name not in ecosystem.networks:
        raise click.ClickException(
            f"--network {value}: {ecosystem_name} has no network {network_name!r}; its networks are "
            + ", ".join(sorted(ecosystem.networks))
            + " (or pass an RPC URL)"
        )
    provider = parts[2] if len(parts) > 2 else ""
    network = ecosystem.get_network(network_name)
    if provider.startswith(URL_SCHEMES):
        _require_chain_id(value, ecosystem_name, network_name, provider)
    elif provider and not provider.endswith(".ipc") and provider not in network.providers:
        raise click.ClickException(
            f"--network {value}: {ecosystem_name}:{network_name} has no provider {provider!r}; its providers are "
            + ", ".join(sorted(network.providers))
            + " (or give an RPC URL as the provider)"
        )
    return value


def _unwritable(path: Path) -> str | None:
    """Why no file could be written in directory `path`, or None if one can. Creates nothing that stays: a
    missing `path` is judged by its nearest existing ancestor (the command creates it later)."""
    path = Path(path).absolute()
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a directory"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".qfl-write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{existing}: {exc.strerror or exc}"
    return None


def check_writable_dir(path: Path, option: str) -> None:
    """Prove a file can be written in directory `path` (or made there); a ClickException naming `option` if not."""
    why = _unwritable(Path(path))
    if why:
        raise click.ClickException(
            f"{option} {path} is not a writable directory ({why}): pick another path or fix its permissions"
        )


def check_writable_file(path: Path, option: str) -> None:
    """Whether file `path` can be (re)written atomically: not a directory, and its folder takes writes."""
    path = Path(path)
    why = "it is a directory" if path.is_dir() else _unwritable(path.parent)
    if why:
        raise click.ClickException(
            f"{option} {path} cannot be written ({why}): pick another path or fix its permissions"
        )


def check_store_writable(address: str, option: str = "--store") -> None:
    """An embedded store directory must take writes (every node publishes its updates); a Kubo URL is not
    probed here."""
    if address.startswith(("http://", "https://")):
        return
    root = Path(address)
    check_writable_dir(root, option)
    for sub in ("objects", "pins"):
        if (root / sub).exists():
            check_writable_dir(root / sub, option)


def require_federation(record: dict, path: Path, network: str) -> None:
    """A ClickException unless the connected chain has code at the federation address recorded in `path`."""
    import ape

    address = record["address"]
    if has_code(address):
        return
    recorded = record.get("network", "")
    if record.get("ecosystem"):  # a record of `ape run deploy`
        recorded = f"{record['ecosystem']}:{recorded}"
    recorded = record.get("network_choice") or recorded  # the --network given (keys removed)
    if ape.chain.provider.name == "test":
        hint = (
            "ethereum:local:test is a fresh in-process chain in every command; pass the --network the "
            "federation was deployed to" + (f" ({recorded})" if recorded else "")
        )
    else:
        hint = (
            f"the record says it was deployed on {recorded}; " if recorded else ""
        ) + "is --network wrong, or was the chain restarted since? deploy again with `qflchain deploy`"
    raise click.ClickException(
        f"no federation at {address} (recorded in {path}) on --network {network}: {hint}"
    )


# Gas the sponsor must cover up front for the federation's creation where ape estimates: it uses about 5.0M,
# and a gas-limit multiplier of 2 (sepolia in ape-config.yaml) sends it with a limit of about 10M.
DEPLOY_GAS = 11_000_000


def require_sponsor_funds(sponsor, cfg: ExperimentConfig, config_path: Path) -> None:
    """A ClickException unless `sponsor` holds the reward pool (fund_eth) plus the creation's gas."""
    import ape

    wei = 10**18
    fund = int(cfg.protocol.fund_eth * wei)
    provider = ape.chain.provider
    gas = DEPLOY_GAS
    if provider.network.gas_limit == "max":  # local chains send with the block gas limit
        gas = int(ape.chain.blocks.head.gas_limit)
    try:  # the most a sender may be charged per gas (EIP-1559): twice the base fee plus the tip
        fee = 2 * int(provider.base_fee) + int(provider.priority_fee)
    except Exception:  # a provider without fee market data
        fee = 0
    fee = max(fee, 2 * int(provider.gas_price))
    balance = int(sponsor.balance)
    if balance < fund + gas * fee:
        raise click.ClickException(
            f"sponsor {sponsor.address} holds {balance / wei:.4f} ETH but the deployment needs "
            f"{cfg.protocol.fund_eth} ETH for the reward pool (protocol.fund_eth in {config_path}) plus up to "
            f"{gas * fee / wei:.4f} ETH of gas: fund it first, or lower protocol.fund_eth"
        )
