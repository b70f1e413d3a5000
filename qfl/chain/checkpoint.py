"""Save a local test chain's whole state to a file and load it back, so a simulation can stop and resume.

Two local chains are supported, both only for experiments (the file holds every account's state):

- ape's in-process EthTester (`ethereum:local:test`): py-evm keeps its state in a `MemoryDB`; the
  checkpoint is a pickle of that key-value store plus the chain's pending header. Restoring rebuilds the
  py-evm chain object on that database: block numbers, balances, nonces and logs continue where they were.
- anvil (`ethereum:local:foundry`): its own `anvil_dumpState` / `anvil_loadState` JSON-RPC methods.

Files are written atomically (a reader or a restart sees the old checkpoint or the new one).
"""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path
from typing import Any

from qfl.storage.atomic import atomic_write


class CheckpointError(RuntimeError):
    """The chain cannot be saved or restored (another provider, or a checkpoint of another chain)."""


def chain_kind(provider: Any) -> str:
    """'test' for ape's in-process EthTester, 'foundry' for anvil; CheckpointError for anything else."""
    name = type(provider).__name__
    if name == "LocalProvider" and hasattr(provider, "evm_backend"):
        return "test"
    if "foundry" in type(provider).__module__.lower() or name.lower().startswith("foundry"):
        return "foundry"
    raise CheckpointError(f"cannot checkpoint a {name} chain: only the local test chain or anvil")


def _head(provider: Any) -> tuple[int, int]:
    block = provider.web3.eth.get_block("latest")
    return int(block["number"]), int(block["timestamp"])


def save_chain(path: Path, provider: Any = None) -> dict:
    """Write the connected chain's state to `path`; return what was saved (kind, head block, timestamp)."""
    provider = provider or _provider()
    kind = chain_kind(provider)
    number, timestamp = _head(provider)
    meta = {"kind": kind, "block": number, "timestamp": timestamp}
    if kind == "test":
        backend = provider.evm_backend
        db = backend.chain.chaindb.db.wrapped_db  # eth.db.backends.memory.MemoryDB
        payload = pickle.dumps(
            {**meta, "kv": dict(db.kv_store), "header": backend.chain.header},
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    else:
        payload = json.dumps(
            {**meta, "state": _lean_anvil_state(provider.make_request("anvil_dumpState", []))}
        )
        payload = gzip.compress(payload.encode())
    atomic_write(Path(path), payload)
    return meta


def _lean_anvil_state(dumped: str) -> str:
    """anvil's dump without the step traces of every transaction (ape starts anvil with --steps-tracing:
    they are ~99% of the dump, megabytes a block, and past anvil's request size limit on the way back)."""
    raw = bytes.fromhex(dumped.removeprefix("0x"))
    state = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    for tx in state.get("transactions") or []:
        if isinstance(tx.get("info"), dict):
            tx["info"]["traces"] = []
    return "0x" + gzip.compress(json.dumps(state).encode()).hex()


def restore_chain(path: Path, provider: Any = None) -> dict:
    """Load the state saved by `save_chain` into the connected chain (a fresh one of the same kind)."""
    provider = provider or _provider()
    kind = chain_kind(provider)
    raw = Path(path).read_bytes()
    saved = pickle.loads(raw) if kind == "test" else json.loads(gzip.decompress(raw))  # noqa: S301 - ours
    if saved.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {saved.get('kind')} chain, not a {kind} one")
    if kind == "test":
        from eth.db.atomic import AtomicDB
        from eth.db.backends.memory import MemoryDB

        backend = provider.evm_backend
        backend.chain = type(backend.chain)(AtomicDB(MemoryDB(saved["kv"])), saved["header"])
    else:
        provider.make_request("anvil_loadState", [saved["state"]])
        # anvil's clock restarts from the wall clock: the next block must not go back in time (the
        # simulator warps the chain ahead of it past every deadline).
        _, head_time = _head(provider)
        try:
            provider.make_request("evm_setNextBlockTimestamp", [max(saved["timestamp"], head_time) + 1])
        except Exception as exc:  # noqa: BLE001 - ape's ProviderError; anvil's clock is already ahead
            if "lower than previous" not in str(exc):
                raise
    number, _ = _head(provider)
    if number != saved["block"]:
        raise CheckpointError(f"restored chain is at block {number}, the checkpoint at {saved['block']}")
    return {k: saved[k] for k in ("kind", "block", "timestamp")}


def reset_chain(provider: Any = None) -> bool:
    """Start the in-process chain over from a new genesis, as a new process would: a run in a process
    that already used the chain (tests, notebooks) then deploys to the same addresses, and addresses feed
    the committee draw's seed. Returns False (nothing done) on anvil, which ape starts fresh per run."""
    provider = provider or _provider()
    if chain_kind(provider) != "test":
        return False
    backend = provider.evm_backend
    if int(backend.chain.get_canonical_head().block_number) > 0:
        from eth_tester.backends.pyevm.main import setup_tester_chain

        config = backend.config
        _, backend.chain = setup_tester_chain(
            None, backend.genesis_state, config.number_of_accounts, None, config.mnemonic, config.hd_path
        )
    return True


def _provider() -> Any:
    import ape

    return ape.chain.provider
