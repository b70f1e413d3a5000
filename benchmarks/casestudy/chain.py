"""Case study, part `chain`: communication, consensus, cost and storage of QFLchain rounds on a real chain
(anvil), the chain cost of the baselines derived from the same runs, and the money of attacks.

Run it as a part of the study: `python -m benchmarks.casestudy --parts chain`.
Settings: experiments/case-study/{common,chain}.yaml.

What is measured, and how:
- overhead runs: the in-process simulator (qfl.orchestration.sim) on anvil mining a block per transaction;
  every node sends through the binding's own sender. After the run every block of every round is read back:
  per transaction its method (4-byte selector), gas used, calldata bytes, signed bytes, log bytes (data +
  32 per topic) and its OP-stack L1 data fee (qfl.chain.fees, Fjord formula on the signed bytes). Each node
  gets its own EmbeddedStore object on the shared store folder, so its counters are its own traffic.
  Storage: after each round `anvil_dumpState`, counting the federation contract's non-zero slots.
- block-time runs: one `qflchain node` OS process per client on `anvil --block-time T`, read back with
  benchmarks.round_blocks.chain_timeline (blocks per round) and the blocks' timestamps (seconds per round).
- attack runs: the in-process simulator on anvil with attackers; the RunReport's clients, rounds and money.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from benchmarks.casestudy.config import ROOT

PART = "chain"
WEI = 10**18
GWEI = 10**9
PERIOD = 3600  # seconds of every phase: multi-process nodes must not miss a deadline while they compile
ROUND_METHODS = (
    "startRound",
    "commitUpdate",
    "revealUpdate",
    "drawCommittee",
    "commitVote",
    "revealVote",
    "settle",
    "postGlobalModel",
    "attestGlobalModel",
    "settleValidator",
    "releaseReserve",
    "withdraw",
)
# The BlockFL-style baseline (c): commit/reveal of every update and one posted model, nothing else.
BLOCKFL_METHODS = {"startRound": "once", "commitUpdate": "per client", "revealUpdate": "per client"}
BLOCKFL_METHODS["postGlobalModel"] = "once"


# ---------------------------------------------------------------------------------------------- configs


def experiment(
    cfg: dict,
    *,
    name: str,
    n_clients: int,
    rounds: int,
    seed: int,
    split: dict,
    attack: dict | None = None,
) -> dict:
    """An ExperimentConfig (as a dict) from the case study's shared setup and this part's protocol."""
    common, mine = cfg["common"], cfg[PART]
    dataset = mine["dataset"]
    protocol = dict(mine["protocol"])
    protocol |= {"rounds": rounds, "fund_eth": rounds * protocol["reward_per_round_eth"] + 1.0}
    protocol |= {f"{p}_seconds": PERIOD for p in ("commit", "reveal", "vote", "attest")}
    return {
        "name": name,
        "n_clients": n_clients,
        "seed": seed,
        "model": dict(common["datasets"][dataset]["model"]),
        "data": {"dataset": dataset, "seed": seed, **split},
        "training": dict(common["training"]),
        "protocol": protocol,
        "aggregation": "reputation_weighted_fedavg",
        "attacks": [attack] if attack else [],
    }


def split_name(split: dict) -> str:
    return f"Dirichlet({split['alpha']:g})" if split["split"] == "dirichlet" else split["split"].upper()


# ---------------------------------------------------------------------------------------------- the chain


class Rpc:
    """Plain JSON-RPC to anvil (web3 for reading blocks, receipts and raw transactions)."""

    def __init__(self, url: str):
        from web3 import Web3

        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def storage_slots(self, address: str) -> int:
        """Non-zero storage slots of `address`, from anvil's state dump (gzip'd JSON: accounts with storage)."""
        dump = self.w3.provider.make_request("anvil_dumpState", [])["result"]
        state = json.loads(gzip.decompress(bytes.fromhex(dump[2:])))
        accounts = {a.lower(): v for a, v in state["accounts"].items()}
        storage = accounts.get(address.lower(), {}).get("storage", {})
        return sum(1 for value in storage.values() if int(value, 16) != 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def selector_names() -> dict[str, str]:
    from eth_utils import function_abi_to_4byte_selector

    abi = json.loads((ROOT / "abi" / "QFLFederation.json").read_text())
    return {function_abi_to_4byte_selector(f).hex(): f["name"] for f in abi if f["type"] == "function"}


@contextmanager
def anvil_session(block_time: float | None = None) -> Iterator:
    """anvil started here, ape attached to it (as qfl.orchestration.sim.connect_chain does), ape's
    per-transaction log lines off."""
    import logging

    import ape
    from ape.logging import logger

    from qfl.chain.toolchain import CHAINS
    from qfl.orchestration.multiproc import Anvil

    before = logger.level
    logger.set_level(max(before, logging.WARNING))
    try:
        with Anvil(block_time=block_time) as node:
            with ape.networks.parse_network_choice(CHAINS["foundry"], provider_settings={"host": node.url}):
                yield node
    finally:
        logger.set_level(before)


def l1_params(cfg: dict, l1_gwei: float):
    """The dated OP-stack L1 fee parameters with the L1 base fee set to `l1_gwei`."""
    from dataclasses import replace

    from qfl.chain.fees import load_l1_fee_params

    dated = load_l1_fee_params(ROOT / cfg[PART]["prices"]["l1_data_fee"])
    return replace(dated, l1_base_fee_wei=round(l1_gwei * GWEI))


def read_back(rpc: Rpc, cfg: dict, address: str, first: int, last: int, who: dict[str, int]) -> dict:
    """Every transaction to the federation in blocks first..last: per method and per sender."""
    from qfl.chain.fees import fjord_l1_fee, flz_compress_len

    names = selector_names()
    l1_points = [float(p) for p in cfg[PART]["prices"]["l1_gas_price_gwei"]]
    params = {f"{p:g}": l1_params(cfg, p) for p in l1_points}
    by_method: dict[str, dict] = {}
    senders: dict[int, dict] = {}
    blocks = set()
    committee = set()
    for number in range(first, last + 1):
        block = rpc.w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if not tx["to"] or tx["to"].lower() != address.lower():
                continue
            receipt = rpc.w3.eth.get_transaction_receipt(tx["hash"])
            raw = bytes(rpc.w3.eth.get_raw_transaction(tx["hash"]))
            method = names.get(bytes(tx["input"][:4]).hex(), "other")
            size = flz_compress_len(raw)
            l1 = {k: fjord_l1_fee(size, p) for k, p in params.items()}
            row = by_method.setdefault(
                method,
                {
                    "txs": 0,
                    "gas": 0,
                    "calldata": 0,
                    "signed": 0,
                    "logs": 0,
                    "l1_fee_wei": dict.fromkeys(l1, 0),
                },
            )
            row["txs"] += 1
            row["gas"] += int(receipt["gasUsed"])
            row["calldata"] += len(tx["input"])
            row["signed"] += len(raw)
            row["logs"] += sum(len(log["data"]) + 32 * len(log["topics"]) for log in receipt["logs"])
            for k, v in l1.items():
                row["l1_fee_wei"][k] += v
            sender = who.get(tx["from"].lower(), -1)  # -1: the sponsor (or anyone not a client)
            paid = senders.setdefault(
                sender, {"txs": 0, "gas": 0, "l1_fee_wei": dict.fromkeys(l1, 0), "withdraw_gas": 0}
            )
            if method == "withdraw":  # a pull payment: the simulator's every round, a node's every 10 rounds
                paid["withdraw_gas"] += int(receipt["gasUsed"])
            else:
                paid["txs"] += 1
                paid["gas"] += int(receipt["gasUsed"])
                for k, v in l1.items():
                    paid["l1_fee_wei"][k] += v
            if method == "commitVote":
                committee.add(sender)
            blocks.add(number)
    return {
        "by_method": dict(sorted(by_method.items())),
        "by_sender": {str(k): v for k, v in sorted(senders.items())},
        "blocks": len(blocks),
        "committee": sorted(committee),
    }


# ---------------------------------------------------------------------------------------------- runs


def overhead_run(cfg: dict, n_clients: int, folder: Path, log: Callable[[str], None]) -> dict:
    """One in-process federation on anvil: per round the chain read back, each node's store traffic, the
    federation's storage slots, CPU seconds of this process (every node) and of anvil."""
    from qfl.api import as_config
    from qfl.orchestration.sim import build_in_process, salt_seed_for
    from qfl.storage import EmbeddedStore, digest_to_cid

    mine = cfg[PART]["overhead"]
    ecfg = as_config(
        experiment(
            cfg,
            name=f"chain-{n_clients}",
            n_clients=n_clients,
            rounds=int(mine["rounds"]),
            seed=int(mine["seed"]),
            split=mine["split"],
        )
    )
    with anvil_session() as node:
        rpc = Rpc(node.url)
        store = EmbeddedStore(folder / "store")
        start = time.perf_counter()
        sim = build_in_process(ecfg, store, folder / "nodes", salt_seed=salt_seed_for(ecfg.seed))
        setup_seconds = time.perf_counter() - start
        for n in sim.nodes:  # each node's own counters, on the one shared store folder
            n.store = EmbeddedStore(folder / "store")
        setup = {
            "calls": dict(sim.federation.gas.calls),
            "gas": dict(sim.federation.gas.gas),
            "seconds": setup_seconds,
        }
        address = sim.federation.address
        who = {n.address.lower(): n.identity.index for n in sim.nodes}
        marks: list[dict] = []
        slots_before = rpc.storage_slots(address)
        play = sim.play_round

        def measured_round() -> int:
            traffic = [(n.store.counters.bytes_in, n.store.counters.bytes_out) for n in sim.nodes]
            first, cpu, chain_cpu = rpc.head() + 1, time.process_time(), cpu_seconds(node.process.pid)
            t0 = time.perf_counter()
            round_ = play()
            wall = time.perf_counter() - t0
            mark = {
                "round": round_,
                "first_block": first,
                "last_block": rpc.head(),
                "wall_seconds": wall,
                "node_cpu_seconds": time.process_time() - cpu,
                "chain_cpu_seconds": cpu_seconds(node.process.pid) - chain_cpu,
                "up": [n.store.counters.bytes_in - t[0] for n, t in zip(sim.nodes, traffic, strict=True)],
                "down": [n.store.counters.bytes_out - t[1] for n, t in zip(sim.nodes, traffic, strict=True)],
                "storage_slots": rpc.storage_slots(address),
            }
            marks.append(mark)
            return round_

        sim.play_round = measured_round
        report = sim.run()
        rounds = []
        for mark, record in zip(marks, report.rounds, strict=True):
            chain = read_back(rpc, cfg, address, mark["first_block"], mark["last_block"], who)
            start_model = store.get(digest_to_cid(sim.federation.global_model(record.round - 1)))
            model = store.get(digest_to_cid(sim.federation.global_model(record.round)))
            committers = sorted(who[a.lower()] for a in sim.federation.round_view(record.round).settlements)
            # The simulator fetches the start model once for every trainer (vectorised training); a node of
            # its own fetches it itself: counted once per trainer beyond the first.
            down = list(mark["down"])
            for i in committers[1:]:
                down[i] += len(start_model)
            rounds.append(
                {
                    "round": record.round,
                    "accuracy": record.accuracy,
                    "accepted": record.accepted,
                    "rejected": record.rejected,
                    "undecided": record.undecided,
                    "wall_seconds": mark["wall_seconds"],
                    "node_cpu_seconds": mark["node_cpu_seconds"],
                    "chain_cpu_seconds": mark["chain_cpu_seconds"],
                    "storage_slots": mark["storage_slots"],
                    "up": mark["up"],
                    "down": down,
                    "committers": committers,
                    "model_bytes": len(model),
                    **chain,
                }
            )
        result = {
            "n_clients": n_clients,
            "rounds": rounds,
            "setup": setup,
            "storage_slots_before": slots_before,
            "money_conserved": report.money_conserved,
            "update_bytes": _update_bytes(store, sim, report),
        }
    log(
        f"chain: {n_clients} clients, {len(rounds)} rounds: gas/round "
        f"{statistics.mean(_total(r, 'gas') for r in rounds):,.0f}, storage slots {slots_before} -> "
        f"{rounds[-1]['storage_slots']}"
    )
    return result


def _update_bytes(store, sim, report) -> int:
    """Bytes of one client update blob (weights + parent CID digest) in the last round."""
    from qfl.storage import digest_to_cid

    view = sim.federation.round_view(report.rounds[-1].round)
    return len(store.get(digest_to_cid(view.reveals[0].cid_digest)))


def _total(round_: dict, key: str) -> int:
    """A round's total of `key` over its transactions, withdrawals left out: the simulator pulls every
    client's rewards after every round, a node only every 10 rounds (qfl.orchestration.node)."""
    return sum(m[key] for name, m in round_["by_method"].items() if name != "withdraw")


def block_time_run(cfg: dict, block_time: float, folder: Path, log: Callable[[str], None]) -> dict:
    """Multi-process nodes on anvil --block-time T (as benchmarks.round_blocks): blocks per round from the
    chain read back, and seconds per round from the timestamps of those blocks."""
    from web3 import Web3

    from benchmarks.round_blocks import chain_timeline
    from qfl.orchestration.multiproc import Anvil, qflchain, spawn_node, wait_all

    mine = cfg[PART]["block_time"]
    nodes, rounds = int(mine["nodes"]), int(mine["rounds"])
    seed = int(cfg[PART]["overhead"]["seed"])
    raw = experiment(
        cfg, name=f"chain-blocks-{nodes}", n_clients=nodes, rounds=rounds, seed=seed, split={"split": "iid"}
    )
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    deployment, store = folder / "deployment.json", str(folder / "store")
    start = time.perf_counter()
    with Anvil(block_time=block_time) as anvil:
        done = subprocess.run(
            qflchain("deploy", "--config", str(config), "--network", anvil.url, "--store", store)
            + ["--out", str(deployment)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"qflchain deploy failed: {done.stderr[-2000:]}")
        address = json.loads(deployment.read_text())["address"]
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        first = int(w3.eth.block_number)
        procs = {
            i: spawn_node(config, anvil.url, deployment, i, store, folder, folder / f"node{i}.log")
            for i in range(nodes)
        }
        codes = wait_all(procs, float(mine["timeout_s"]))
        if any(codes.values()):
            bad = min(i for i, c in codes.items() if c)
            raise RuntimeError(
                f"node {bad} exited {codes[bad]}: {(folder / f'node{bad}.log').read_text()[-1500:]}"
            )
        timeline = chain_timeline(anvil.url, address, first)
        stamps = {}
        for r in timeline["rounds"]:
            for key in ("start", "accepted"):
                if r[key] is not None:
                    stamps[r[key]] = int(w3.eth.get_block(r[key])["timestamp"])
    out = []
    for i, r in enumerate(timeline["rounds"]):
        nxt = timeline["rounds"][i + 1]["start"] if i + 1 < len(timeline["rounds"]) else None
        out.append(
            {
                "round": r["round"],
                "to_accepted": r["to_accepted"],
                "to_next": r["to_next"],
                "tx_blocks": r["tx_blocks"],
                "txs": r["txs"],
                "seconds_to_accepted": stamps[r["accepted"]] - stamps[r["start"]] if r["accepted"] else None,
                "seconds_to_next": stamps[nxt] - stamps[r["start"]] if nxt is not None else None,
                "timeline": [[offset, sorted(calls)] for offset, calls in r["timeline"]],
            }
        )
    wall = time.perf_counter() - start
    log(f"chain: {nodes} node processes on anvil --block-time {block_time:g}: {wall:.0f} s")
    return {"block_time": block_time, "nodes": nodes, "rounds": out, "wall_seconds": wall}


def attack_runs(cfg: dict, folder: Path, log: Callable[[str], None]) -> list[dict]:
    """Every attack kind x fraction x split x seed, in-process on one anvil: money per client group."""
    from qfl.api import as_config
    from qfl.orchestration.sim import build_in_process, salt_seed_for
    from qfl.storage import EmbeddedStore

    mine = cfg[PART]["attacks"]
    n, rounds = int(mine["clients"]), int(mine["rounds"])
    out = []
    with anvil_session():
        for split in mine["splits"]:
            for kind in mine["kinds"]:
                for fraction in mine["fractions"]:
                    for seed in mine["seeds"]:
                        name = f"attack-{kind}-{fraction:g}-{split['split']}-{seed}"
                        attack = {"kind": kind, "fraction": float(fraction)}
                        ecfg = as_config(
                            experiment(
                                cfg, name=name, n_clients=n, rounds=rounds, seed=int(seed), split=split,
                                attack=attack,
                            )
                        )  # fmt: skip
                        where = folder / name
                        sim = build_in_process(
                            ecfg,
                            EmbeddedStore(where / "store"),
                            where / "nodes",
                            salt_seed=salt_seed_for(seed),
                        )
                        report = sim.run()
                        outcomes = _outcomes(sim, report)
                        bad = [c for c in report.clients if c.attack]
                        good = [c for c in report.clients if not c.attack]
                        row = {
                            "kind": kind,
                            "fraction": float(fraction),
                            "split": split_name(split),
                            "seed": int(seed),
                            "attackers": len(bad),
                            "honest": len(good),
                            "attacker_updates": sum(r.attackers_total for r in report.rounds),
                            "attacker_rejected": sum(r.attackers_rejected for r in report.rounds),
                            "honest_updates": sum(
                                r.accepted + r.rejected + r.undecided - r.attackers_total
                                for r in report.rounds
                            ),
                            "honest_rejected": sum(r.rejected - r.attackers_rejected for r in report.rounds),
                            "slashed_attackers_eth": sum(c.burned_eth for c in bad),
                            "slashed_honest_eth": sum(c.burned_eth for c in good),
                            "rewards_attackers_eth": sum(c.rewards_eth for c in bad),
                            "rewards_honest_eth": sum(c.rewards_eth for c in good),
                            **outcomes,
                            "final_accuracy": report.rounds[-1].accuracy,
                            "money_conserved": report.money_conserved,
                            "burned_eth": int(report.money["burned"]) / WEI,
                        }
                        out.append(row)
                        log(
                            f"chain: {kind} {fraction:g} {row['split']} seed {seed}: attackers slashed "
                            f"{row['slashed_attackers_eth']:.3f} ETH, paid {row['rewards_attackers_eth']:.3f}; "
                            f"honest slashed {row['slashed_honest_eth']:.3f}"
                        )
    return out


def _outcomes(sim, report) -> dict:
    """How the attackers' and the honest clients' updates were settled, from the chain's settlements: the
    outcome names (ACCEPTED, REJECTED, NEUTRAL, UNVALIDATED, SILENT_COMMITTER) and how many were slashed."""
    attackers = {n.address.lower() for n in sim.nodes if n.identity.attack}
    out = {
        f"{g}_{k}": {} if k == "outcomes" else 0
        for g in ("attacker", "honest")
        for k in ("outcomes", "slashed_updates")
    }
    for record in report.rounds:
        for address, settled in sim.federation.round_view(record.round).settlements.items():
            group = "attacker" if address.lower() in attackers else "honest"
            name = settled.outcome.name
            out[f"{group}_outcomes"][name] = out[f"{group}_outcomes"].get(name, 0) + 1
            out[f"{group}_slashed_updates"] += int(settled.slashed > 0)
    return {k: dict(sorted(v.items())) if isinstance(v, dict) else v for k, v in out.items()}


def run(cfg: dict, out: Path, log: Callable[[str], None]) -> dict:
    """Every measurement of this part (see the module docstring) -> JSON-serialisable results."""
    from qfl.chain.toolchain import configure_environment

    configure_environment()
    mine = cfg[PART]
    seconds: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    overhead = [overhead_run(cfg, int(n), out / f"overhead-{n}", log) for n in mine["overhead"]["clients"]]
    seconds["overhead"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    # The node processes of both block-time runs share one XLA compile cache (spawn_node keeps a set one).
    with _environment(
        JAX_COMPILATION_CACHE_DIR=str(out / "jax-cache"), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0"
    ):
        blocks = [
            block_time_run(cfg, float(t), out / f"blocks-{t:g}", log)
            for t in mine["block_time"]["block_times"]
        ]
    seconds["block_time"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    attacks = attack_runs(cfg, out / "attacks", log)
    seconds["attacks"] = time.perf_counter() - t2
    seconds["total"] = time.perf_counter() - t0
    return {
        "settings": {
            "dataset": mine["dataset"],
            "model": cfg["common"]["datasets"][mine["dataset"]]["model"],
            "training": cfg["common"]["training"],
            "protocol": mine["protocol"],
            "overhead": mine["overhead"],
            "block_time": mine["block_time"],
            "attacks": mine["attacks"],
            "prices": mine["prices"],
            "l1_data_fee": _dated_l1(cfg),
        },
        "overhead": overhead,
        "block_time": blocks,
        "attacks": attacks,
        "energy_inputs": energy_inputs(overhead),
        "seconds": seconds,
    }


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """os.environ with `values` set (unless already set) for the block; as it was afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        os.environ.setdefault(k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _dated_l1(cfg: dict) -> dict:
    from dataclasses import asdict

    from qfl.chain.fees import load_l1_fee_params

    return asdict(load_l1_fee_params(ROOT / cfg[PART]["prices"]["l1_data_fee"]))


def energy_inputs(overhead: list[dict]) -> dict:
    """What the integrator's energy model prices: per round (mean of the rounds after the first, which
    compiles) transactions, gas, and CPU seconds of the node side (every node, this process) and of anvil."""
    out = {}
    for run_ in overhead:
        steady = run_["rounds"][1:] or run_["rounds"]
        out[str(run_["n_clients"])] = {
            "transactions_per_round": statistics.mean(_total(r, "txs") for r in steady),
            "gas_per_round": statistics.mean(_total(r, "gas") for r in steady),
            "calldata_bytes_per_round": statistics.mean(_total(r, "calldata") for r in steady),
            "node_cpu_seconds_per_round": statistics.mean(r["node_cpu_seconds"] for r in steady),
            "chain_cpu_seconds_per_round": statistics.mean(r["chain_cpu_seconds"] for r in steady),
            "rounds_averaged": [r["round"] for r in steady],
        }
    return out


# ---------------------------------------------------------------------------------------------- render


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _method(run_: dict, method: str, key: str) -> float:
    """Mean per round of `key` over the transactions of `method`."""
    return _mean(r["by_method"].get(method, {}).get(key, 0) for r in run_["rounds"])


def _per_call(run_: dict, method: str, key: str) -> float:
    calls = sum(r["by_method"].get(method, {}).get("txs", 0) for r in run_["rounds"])
    total = sum(r["by_method"].get(method, {}).get(key, 0) for r in run_["rounds"])
    return total / calls if calls else 0.0


def _client_gas(run_: dict) -> list[float]:
    """Each client's mean gas per round (what it sent)."""
    n = run_["n_clients"]
    return [_mean(r["by_sender"].get(str(i), {}).get("gas", 0) for r in run_["rounds"]) for i in range(n)]


def _client_l1(run_: dict, point: str) -> list[float]:
    n = run_["n_clients"]
    return [
        _mean(r["by_sender"].get(str(i), {}).get("l1_fee_wei", {}).get(point, 0) for r in run_["rounds"])
        for i in range(n)
    ]


def _blockfl(run_: dict) -> dict:
    """The BlockFL-style baseline's chain load per round, derived from this run's per-method means."""
    n = run_["n_clients"]
    out = {}
    for key in ("gas", "calldata", "signed"):
        out[key] = sum(
            _per_call(run_, m, key) * (n if how == "per client" else 1) for m, how in BLOCKFL_METHODS.items()
        )
    out["txs"] = 2 + 2 * n
    return out


def _role_bytes(run_: dict) -> dict:
    """Mean store bytes per round of a committee member and of a trainer outside the committee."""
    rows = {"committee": {"up": [], "down": []}, "trainer": {"up": [], "down": []}}
    for r in run_["rounds"]:
        for i in r["committers"]:
            role = "committee" if i in r["committee"] else "trainer"
            rows[role]["up"].append(r["up"][i])
            rows[role]["down"].append(r["down"][i])
    return {role: {k: _mean(v) for k, v in d.items()} for role, d in rows.items()}


def _eth(wei: float) -> str:
    """ETH to 3 significant digits (fees span 1e-7 to 0.1 ETH)."""
    return f"{wei / WEI:.3g}"


def _usd(wei: float, price: float) -> str:
    usd = wei / WEI * price
    return f"${usd:.4f}" if usd < 0.01 else f"${usd:,.2f}"


def render(results: dict, cfg: dict, figures: Path) -> list[str]:
    """Markdown of this part's sections (deterministic in `results`), and its PNGs in `figures`."""
    s = results["settings"]
    runs = results["overhead"]
    prices = s["prices"]
    eth_usd = float(prices["eth_usd"][0])
    l1_points = [float(p) for p in prices["l1_gas_price_gwei"]]
    l2_points = [float(p) for p in prices["l2_gas_price_gwei"]]
    dated = s["l1_data_fee"]
    dated_l1 = dated["l1_base_fee_wei"] / GWEI
    mid = min(l1_points, key=lambda p: abs(p - dated_l1))
    model, training, protocol = s["model"], s["training"], s["protocol"]
    ov = s["overhead"]
    lines = [
        "## Chain overhead: communication, consensus, cost and storage",
        "",
        f"Measured by the `chain` part of `make case-study` (alone: `python -m benchmarks.casestudy --parts chain`;"
        " experiments/case-study/chain.yaml; "
        f"{results['seconds']['total']:.0f} s for this part: overhead runs {results['seconds']['overhead']:.0f} s, "
        f"block-time runs {results['seconds']['block_time']:.0f} s, attack runs "
        f"{results['seconds']['attacks']:.0f} s). Dataset {s['dataset']} only: the contract sees CIDs, sample "
        "counts and one score byte per update, so gas, transactions and storage do not depend on the data, and "
        "the bytes follow the model's parameter count. "
        f"Model: {model['n_qubits']} qubits, {model['n_layers']} {model['ansatz']} layers, {model['encoding']} "
        f"encoding; local training {training['epochs']} epochs, batch {training['batch_size']}, "
        f"{training['optimizer']} at {training['learning_rate']}. Protocol: committee of "
        f"{protocol['committee_size']} seats, stake {protocol['stake_eth']:g} ETH, reward "
        f"{protocol['reward_per_round_eth']:g} ETH per round, slash {protocol['slash_fraction']:g} of the stake. "
        f"Overhead runs: {', '.join(str(r['n_clients']) for r in runs)} clients, {ov['rounds']} rounds, "
        f"{split_name(ov['split'])} split, seed {ov['seed']}, every client in one process (the simulator) on "
        "anvil mining one block per transaction; afterwards every block of every round is read back "
        "(selector, gas used, calldata, signed bytes, logs). Each node counts its own content-store traffic.",
        "",
        "### Communication per round",
        "",
        "| system | clients | store up per client (B) | store down per client (B) | committee member up / down (B) "
        "| trainer outside it up / down (B) | on-chain calldata (B) | signed txs (B) | logs (B) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run_ in runs:
        n = run_["n_clients"]
        up = _mean(_mean(r["up"]) for r in run_["rounds"])
        down = _mean(_mean(r["down"]) for r in run_["rounds"])
        roles = _role_bytes(run_)
        lines.append(
            f"| QFLchain | {n} | {up:,.0f} | {down:,.0f} | {roles['committee']['up']:,.0f} / "
            f"{roles['committee']['down']:,.0f} | {roles['trainer']['up']:,.0f} / {roles['trainer']['down']:,.0f} | "
            f"{_mean(_total(r, 'calldata') for r in run_['rounds']):,.0f} | "
            f"{_mean(_total(r, 'signed') for r in run_['rounds']):,.0f} | "
            f"{_mean(_total(r, 'logs') for r in run_['rounds']):,.0f} |"
        )
    for run_ in runs:
        n, w_u, w_m = run_["n_clients"], run_["update_bytes"], run_["rounds"][-1]["model_bytes"]
        b = _blockfl(run_)
        lines.append(
            f"| BlockFL-style (derived) | {n} | {w_u:,} | {w_m + (n - 1) * w_u:,} | - | - | {b['calldata']:,.0f} | "
            f"{b['signed']:,.0f} | - |"
        )
        lines.append(f"| centralised QFL | {n} | {w_u:,} | {w_m:,} | - | - | 0 | 0 | 0 |")
    w_u, w_m = runs[0]["update_bytes"], runs[0]["rounds"][-1]["model_bytes"]
    lines += [
        "",
        f"One update is a {w_u:,}-byte blob (float32 weights, the spec digest and the parent model's digest) "
        f"and a global model {w_m:,} bytes. A trainer puts its update and fetches the round's start model; a "
        "committee member also fetches every revealed update to score it, fetches the accepted ones again to "
        "aggregate, and puts its aggregate: that is where QFLchain's store traffic grows with the federation "
        "(down per committee member is about the number of clients times one update, twice). The simulator "
        "trains every client in one call and fetches the start model once; the table counts that fetch once per "
        "trainer, as separate nodes make it. Centralised QFL moves one update up and one model down per client "
        "and round, and nothing on chain. The BlockFL-style baseline (every revealed update averaged, no "
        "committee, votes or settlement) is derived, not run: startRound once, commitUpdate and revealUpdate per "
        "client and one postGlobalModel, at this run's mean bytes and gas per call of those methods; its "
        "clients would also fetch every update to average them (down = model + (n-1) updates, as written).",
        "",
        "### Consensus: transactions and gas per round",
        "",
        "| method | " + " | ".join(f"{r['n_clients']} clients: txs | gas" for r in runs) + " |",
        "|---|" + "---:|---:|" * len(runs),
    ]
    methods = sorted({m for run_ in runs for r in run_["rounds"] for m in r["by_method"]}, key=_method_order)
    for m in methods:
        cells = [f"{_method(run_, m, 'txs'):,.1f} | {_method(run_, m, 'gas'):,.0f}" for run_ in runs]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    cells = [
        f"**{_mean(_total(r, 'txs') for r in run_['rounds']):,.1f}** | "
        f"**{_mean(_total(r, 'gas') for r in run_['rounds']):,.0f}**"
        for run_ in runs
    ]
    lines.append("| **all (QFLchain)** | " + " | ".join(cells) + " |")
    withdraw = _mean(_per_call(run_, "withdraw", "gas") for run_ in runs)
    cells = [f"{_blockfl(run_)['txs']:,} | {_blockfl(run_)['gas']:,.0f}" for run_ in runs]
    lines.append("| BlockFL-style (derived) | " + " | ".join(cells) + " |")
    lines.append("| centralised QFL | " + " | ".join("0 | 0" for _ in runs) + " |")
    lines += [
        "",
        "Totals, the per-round table below, the fees and the energy inputs leave out `withdraw` (a pull of the "
        f"rewards, {withdraw:,.0f} gas): the simulator pulls every client's rewards after every round, a node "
        "every 10 rounds. `drawCommittee` counts twice: the call that arms the draw and the one that draws.",
        "",
        "Per round (totals):",
        "",
    ]
    lines += [
        "| clients | round | accuracy | txs | gas | calldata (B) | new storage slots | store bytes put |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run_ in runs:
        prev = run_["storage_slots_before"]
        for r in run_["rounds"]:
            lines.append(
                f"| {run_['n_clients']} | {r['round']} | {r['accuracy']:.3f} | {_total(r, 'txs')} | "
                f"{_total(r, 'gas'):,} | {_total(r, 'calldata'):,} | {r['storage_slots'] - prev} | {sum(r['up']):,} |"
            )
            prev = r["storage_slots"]
    ratios = [
        _mean(_total(r, "gas") for r in run_["rounds"]) / max(1.0, _blockfl(run_)["gas"]) for run_ in runs
    ]
    lines += [
        "",
        "QFLchain costs "
        + " and ".join(f"{x:.1f}x" for x in ratios)
        + " the gas of the BlockFL-style baseline per round at "
        + " and ".join(str(r["n_clients"]) for r in runs)
        + " clients: the committee draw, the hidden two-step votes, per-update settlement, proposals, "
        "attestations and seat settlements are what buys judgment, slashing and an attested model; "
        "centralised QFL spends no gas at all.",
        "",
    ]
    lines += _latency(results)
    lines += _cost(results, runs, l1_points, l2_points, eth_usd, mid, dated)
    lines += _storage(runs)
    lines += _attacks(results)
    lines += _reading(results, runs, mid, eth_usd)
    lines += _figures(results, figures)
    return lines


def _reading(results: dict, runs: list[dict], mid: float, eth_usd: float) -> list[str]:
    """Where QFLchain loses, in numbers from the tables above."""
    r0 = runs[0]
    gas = _mean(_total(r, "gas") for r in r0["rounds"])
    blockfl = _blockfl(r0)
    mean_fee = _mean(_client_gas(r0)) * mid * GWEI
    calldata = _mean(_total(r, "calldata") + _total(r, "logs") for r in r0["rounds"])
    off = _mean(sum(r["up"]) for r in r0["rounds"])
    lines = [
        "### Reading: where QFLchain loses on the chain pillars",
        "",
        f"- Against centralised QFL (no chain) everything above is extra: at {r0['n_clients']} clients "
        f"{_mean(_total(r, 'txs') for r in r0['rounds']):.0f} transactions and {gas / 1e6:.2f}M gas a round, "
        f"{_usd(mean_fee, eth_usd)} per client per round on Ethereum L1 at {mid:g} gwei (cents or less on an "
        "OP-stack L2), and a committee member downloads every update, twice.",
        f"- Against the BlockFL-style chain (no judgment): {gas / blockfl['gas']:.1f}x its gas and "
        f"{_mean(_total(r, 'txs') for r in r0['rounds']) / blockfl['txs']:.1f}x its transactions per round at "
        f"{r0['n_clients']} clients, and 11 sequential blocks a round against 4.",
        f"- Bytes: a round puts {calldata:,.0f} bytes of calldata and logs on chain against {off:,.0f} bytes "
        "into the off-chain store: with a 16-parameter circuit the coordination, not the model, is the traffic.",
    ]
    rows = results["attacks"]
    gaining = [r for r in rows if r["rewards_attackers_eth"] > r["slashed_attackers_eth"]]
    if gaining:
        worst = max(gaining, key=lambda r: r["rewards_attackers_eth"] - r["slashed_attackers_eth"])
        lowest = min(rows, key=lambda r: r["final_accuracy"])
        lines.append(
            f"- Attacks: in {len(gaining)} of {len(rows)} attack runs the attackers came out ahead (paid more "
            f"than they were slashed; most: {worst['kind']} at {worst['fraction']:.0%}, {worst['split']}, "
            f"{worst['rewards_attackers_eth'] - worst['slashed_attackers_eth']:+.3f} ETH over the run); the "
            f"lowest accuracy after an attack was {lowest['final_accuracy']:.3f} ({lowest['kind']} at "
            f"{lowest['fraction']:.0%}, {lowest['split']}). The committee's judge tells these updates from "
            "honest ones of a skewed client poorly (docs/learning.md); slashing only punishes what it rejects."
        )
    return lines + [""]


def _method_order(name: str) -> tuple:
    return (ROUND_METHODS.index(name) if name in ROUND_METHODS else len(ROUND_METHODS), name)


def _latency(results: dict) -> list[str]:
    lines = ["### Consensus: blocks and latency per round", ""]
    blocks = results["block_time"]
    if not blocks:
        return lines + [
            "Not measured in this run (the quick run leaves out the multi-process block-time runs).",
            "",
        ]
    b0 = blocks[0]
    lines += [
        f"{b0['nodes']} `qflchain node` processes (one OS process and account each) on anvil mining a block "
        f"every T seconds (`--block-time T`), {len(b0['rounds'])} rounds, read back afterwards: the blocks "
        "from a round's `startRound` to its accepted model and to the next round's `startRound`, and the same "
        "spans in seconds from the blocks' timestamps. Round 1 includes every node's first XLA compile."
        + (
            f" {b0['nodes']} nodes, fewer than the overhead runs' clients, to keep this part within its "
            "10-minute budget on 2 cores (starting the node processes dominates it); a round's phases, and so "
            "its sequential inclusions, do not depend on the number of nodes."
            if b0["nodes"] < min(r["n_clients"] for r in results["overhead"])
            else ""
        ),
        "",
        "| block time | round | blocks to accepted model | blocks to next start | seconds to accepted | "
        "seconds to next start | at 12 s blocks | at 2 s blocks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in blocks:
        for r in b["rounds"]:
            span = r["to_next"] if r["to_next"] is not None else r["to_accepted"]
            lines.append(
                f"| {b['block_time']:g} s | {r['round']} | {r['to_accepted']} | "
                f"{r['to_next'] if r['to_next'] is not None else '-'} | {r['seconds_to_accepted']} s | "
                f"{r['seconds_to_next'] if r['seconds_to_next'] is not None else '-'}"
                f"{' s' if r['seconds_to_next'] is not None else ''} | {span * 12} s | {span * 2} s |"
            )
    pairs = [(b, b["rounds"][1]) for b in blocks if len(b["rounds"]) > 2]
    steady = [r for _, r in pairs]
    lines += [""]
    if steady:
        spans = ", ".join(f"{r['to_next']} blocks at {b['block_time']:g} s" for b, r in pairs)
        best = min(r["to_next"] for r in steady)
        worst = max(r["to_next"] for r in steady)
        span12 = f"{best * 12} s" if best == worst else f"{best * 12}-{worst * 12} s"
        span2 = f"{best * 2} s" if best == worst else f"{best * 2}-{worst * 2} s"
        lines += [
            f"The steady round (round 2, start to next start) took {spans}: at 12 s blocks that is "
            f"{span12} a round, at 2 s blocks {span2}. The protocol needs 11 sequential inclusions "
            "(start, commit, reveal, the block before the armed draw, draw, commitVote, revealVote, settle, "
            "postGlobalModel, attestGlobalModel, settleValidator), 132 s at 12 s blocks and 22 s at 2 s"
            + (
                "; the steady rounds here met that minimum"
                if worst == 11
                else "; the rest is nodes missing a block on this shared 2-core machine"
            )
            + ". Round 1 is longer (every node compiles its circuits first, and at 1 s blocks that costs more "
            "blocks). A BlockFL-style round needs 4 inclusions (start, commit, reveal, post the model: 48 s / "
            f"8 s, derived), centralised QFL none: on the same chain QFLchain's round takes {best}/4 = "
            f"{best / 4:.2f}x the BlockFL-style latency at best. The 50-client federation was not run as separate processes "
            "(anvil funds 20 accounts); its phases are the same, so its count of sequential inclusions is too.",
            "",
        ]
    return lines


def _cost(results, runs, l1_points, l2_points, eth_usd, mid, dated) -> list[str]:
    lines = [
        "### Cost: fees per client per round",
        "",
        "Fees = each client's own transactions' gas (what the read-back attributes to its address) x the gas "
        "price; on an OP-stack L2 plus each transaction's L1 data fee, computed from its signed bytes with the "
        "Fjord formula (`qfl.chain.fees`) and the L1 prices and Ecotone scalars of "
        f"`configs/chains/l1-data-fee.yaml` ({dated['source']}, {dated['as_of']}: L1 base fee "
        f"{dated['l1_base_fee_wei'] / GWEI:.1f} gwei, blob base fee {dated['blob_base_fee_wei']} wei, scalars "
        f"{dated['base_fee_scalar']} / {dated['blob_base_fee_scalar']}). **Assumptions** (not measured, stated "
        f"in chain.yaml): L1 gas prices {', '.join(f'{p:g}' for p in l1_points)} gwei (the middle one is the "
        "dated L1 base fee above; the others a quiet and a busy day), OP-stack L2 execution gas prices "
        f"{', '.join(f'{p:g}' for p in l2_points)} gwei, and ETH at ${eth_usd:,.0f}. 'Mean client' is the mean "
        "over clients of each one's fees per round; 'busiest' the client that paid most (it also settled "
        "every update in batches and released the reserve).",
        "",
        "| chain and prices | "
        + " | ".join(f"{r['n_clients']} clients: mean client | busiest client" for r in runs)
        + " |",
        "|---|" + "---:|---:|" * len(runs),
    ]
    for p in l1_points:
        cells = []
        for run_ in runs:
            gas = _client_gas(run_)
            mean_fee, max_fee = _mean(gas) * p * GWEI, max(gas) * p * GWEI
            cells.append(
                f"{_eth(mean_fee)} ETH ({_usd(mean_fee, eth_usd)}) | {_eth(max_fee)} ETH ({_usd(max_fee, eth_usd)})"
            )
        lines.append(f"| Ethereum L1, {p:g} gwei | " + " | ".join(cells) + " |")
    for q in l2_points:
        for p in l1_points:
            cells = []
            for run_ in runs:
                gas, l1 = _client_gas(run_), _client_l1(run_, f"{p:g}")
                fees = [g * q * GWEI + f for g, f in zip(gas, l1, strict=True)]
                cells.append(
                    f"{_eth(_mean(fees))} ETH ({_usd(_mean(fees), eth_usd)}) | "
                    f"{_eth(max(fees))} ETH ({_usd(max(fees), eth_usd)})"
                )
            lines.append(
                f"| OP-stack L2, {q:g} gwei + L1 data fee at L1 {p:g} gwei | " + " | ".join(cells) + " |"
            )
    cells = []
    for run_ in runs:
        n = run_["n_clients"]
        per_client = _blockfl(run_)["gas"] / n * mid * GWEI
        cells.append(f"{_eth(per_client)} ETH ({_usd(per_client, eth_usd)}) | -")
    lines.append(f"| BlockFL-style (derived), Ethereum L1, {mid:g} gwei | " + " | ".join(cells) + " |")
    lines.append("| centralised QFL | " + " | ".join("0 | 0" for _ in runs) + " |")
    share = [
        _mean(_client_l1(run_, f"{mid:g}"))
        / max(1.0, _mean(g * l2_points[0] * GWEI for g in _client_gas(run_)))
        for run_ in runs
    ]
    r0 = runs[0]
    mean_gas = _mean(_client_gas(r0))
    lines += [
        "",
        f"On Ethereum L1 at {mid:g} gwei a mean client of the {r0['n_clients']}-client federation pays "
        f"{_usd(mean_gas * mid * GWEI, eth_usd)} a round ({mean_gas:,.0f} gas): for a model this small that is "
        "the whole cost of taking part, and centralised QFL charges nothing. On an OP-stack L2 the same round "
        f"costs cents or less; there the L1 data fee is "
        + " and ".join(f"{x:.1f}x" for x in share)
        + f" the L2 execution fee at {l2_points[0]:g} gwei (at {' and '.join(str(r['n_clients']) for r in runs)} "
        "clients), so the data, not the computation, is most of an L2 client's bill.",
        "",
    ]
    return lines


def _storage(runs) -> list[str]:
    lines = [
        "### Storage: on-chain growth against off-chain bytes",
        "",
        "On-chain: the federation contract's non-zero storage slots after each round, counted from anvil's "
        "state dump (`anvil_dumpState`: every account's storage; no per-slot `eth_getStorageAt` needed, and "
        "slots freed in a round are not counted). Off-chain: bytes put into the content store in the round "
        "(updates and proposed aggregates).",
        "",
        "| clients | slots before round 1 | new slots per round (mean) | on-chain bytes per round (32 per slot) | "
        "off-chain bytes per round | off-chain / on-chain |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for run_ in runs:
        before = run_["storage_slots_before"]
        rounds = run_["rounds"]
        new = _slots_per_round(run_)
        off = _mean(sum(r["up"]) for r in rounds)
        lines.append(
            f"| {run_['n_clients']} | {before:,} | {new:,.1f} | {new * 32:,.0f} | {off:,.0f} | "
            f"{off / max(1.0, new * 32):,.1f} |"
        )
    growth = ""
    if len(runs) >= 2:
        (n0, g0), (n1, g1) = ((r["n_clients"], _slots_per_round(r)) for r in (runs[0], runs[-1]))
        slope = (g1 - g0) / (n1 - n0)
        growth = (
            f" Between {n0} and {n1} clients a round adds about {slope:.2f} slots per client plus "
            f"{g0 - slope * n0:.0f} (two points, so a line through them, not a fit)."
        )
    w_u = runs[0]["update_bytes"]
    lines += [
        "",
        "Every round leaves state behind for good (commitments, scores, settlements, the global model's "
        "digest), and every full node keeps it; the weights stay off chain." + growth + f" With a {w_u}-byte "
        "update (a 4-qubit, 2-layer circuit has 16 parameters) the off-chain bytes are within a few times the "
        "on-chain growth, and the calldata and logs of a round are larger than both: for a model this "
        "compact the chain, not the store, carries most of the bytes. Centralised QFL keeps nothing on a "
        "chain; a BlockFL-style chain keeps the commitments, reveals and the posted model.",
        "",
    ]
    return lines


def _slots_per_round(run_: dict) -> float:
    return (run_["rounds"][-1]["storage_slots"] - run_["storage_slots_before"]) / len(run_["rounds"])


def _attacks(results) -> list[str]:
    rows = results["attacks"]
    s = results["settings"]["attacks"]
    lines = [
        "### The money of attacks",
        "",
        f"In-process federations on anvil, {s['clients']} clients, {s['rounds']} rounds, seeds "
        f"{', '.join(str(x) for x in s['seeds'])}; the last clients attack (a 'colluding group' of one client "
        "sends the global model minus its own step: a sign flip). Slashed stake is burned; rewards are what "
        "each group was paid in all (withdrawn or withdrawable; committee pay included). Profit = rewards - "
        "slashed, over the attackers (their gas fees not counted). 'Conserved': the contract's balance equals stakes + withdrawable + pool "
        "+ reserved + burned after the run.",
        "",
        "| attack | share | split | attackers' updates: slashed (how settled) | honest updates slashed | "
        "slashed: attackers / honest (ETH) | rewards: attackers / honest (ETH) | attacker profit (ETH) | "
        "accuracy after | conserved |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        profit = r["rewards_attackers_eth"] - r["slashed_attackers_eth"]
        settled = ", ".join(f"{n} {k.lower().replace('_', ' ')}" for k, n in r["attacker_outcomes"].items())
        honest = sum(r["honest_outcomes"].values())
        lines.append(
            f"| {r['kind']} | {r['fraction']:.0%} | {r['split']} | "
            f"{r['attacker_slashed_updates']}/{r['attacker_updates']} ({settled}) | "
            f"{r['honest_slashed_updates']}/{honest} | {r['slashed_attackers_eth']:.3f} / "
            f"{r['slashed_honest_eth']:.3f} | {r['rewards_attackers_eth']:.3f} / {r['rewards_honest_eth']:.3f} | "
            f"{profit:+.3f} | {r['final_accuracy']:.3f} | {'yes' if r['money_conserved'] else '**no**'} |"
        )
    losing = [r for r in rows if r["rewards_attackers_eth"] - r["slashed_attackers_eth"] < 0]
    gaining = [r for r in rows if r["rewards_attackers_eth"] - r["slashed_attackers_eth"] > 0]
    honest_hit = [r for r in rows if r["slashed_honest_eth"] > 0]
    lines += [
        "",
        f"Attackers lost money in {len(losing)} of {len(rows)} runs and profited in {len(gaining)}"
        + (
            " (" + ", ".join(f"{r['kind']} {r['fraction']:.0%} {r['split']}" for r in gaining) + ")"
            if gaining
            else ""
        )
        + f"; honest clients were slashed in {len(honest_hit)} of {len(rows)} runs"
        + (
            f" (at most {max(r['slashed_honest_eth'] for r in honest_hit):.3f} ETH in one run)"
            if honest_hit
            else ""
        )
        + f". Money was conserved in {sum(1 for r in rows if r['money_conserved'])} of {len(rows)} runs. "
        "Each cell is one run: on anvil the committee draw takes anvil's random `prevrandao`, so a rerun "
        "draws other committees and single cells move; read the pattern across splits and kinds, not one cell.",
        "",
    ]
    return lines


def _figures(results: dict, figures: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures.mkdir(parents=True, exist_ok=True)
    runs = results["overhead"]
    methods = sorted({m for run_ in runs for r in run_["rounds"] for m in r["by_method"]}, key=_method_order)
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(runs)
    for k, run_ in enumerate(runs):
        ax.barh(
            [i + k * width for i in range(len(methods))],
            [_method(run_, m, "gas") / 1e6 for m in methods],
            height=width,
            label=f"{run_['n_clients']} clients",
        )
    ax.set_yticks([i + width * (len(runs) - 1) / 2 for i in range(len(methods))], methods)
    ax.invert_yaxis()
    ax.set(xlabel="gas per round (millions)", title="QFLchain: gas per round by method (anvil)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figures / "chain-gas.png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    lines = ["![gas per round by method](case-study/chain-gas.png)", ""]
    rows = results["attacks"]
    if rows:
        fig, ax = plt.subplots(figsize=(8, 3.8))
        labels = [f"{r['kind']} {r['fraction']:.0%}\n{r['split']}" for r in rows]
        xs = list(range(len(rows)))
        ax.bar(
            [x - 0.2 for x in xs],
            [r["rewards_attackers_eth"] - r["slashed_attackers_eth"] for r in rows],
            width=0.4,
            label="attackers' profit",
        )
        ax.bar(
            [x + 0.2 for x in xs],
            [(r["rewards_honest_eth"] - r["slashed_honest_eth"]) / max(1, r["honest"]) for r in rows],
            width=0.4,
            label="one honest client's profit",
        )
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(xs, labels, fontsize=7, rotation=45, ha="right")
        ax.set(ylabel="ETH", title="Rewards - slashed stake over the run")
        ax.legend()
        fig.tight_layout()
        fig.savefig(figures / "chain-attacks.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        lines += ["![attacker and honest profit](case-study/chain-attacks.png)", ""]
    return lines
