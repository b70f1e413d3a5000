"""The verdict at the top of docs/case-study.md: where QFLchain wins and where it loses, in this run's numbers.

Every figure is computed here from results.json; the sections below the verdict hold the tables behind it.
"""

from __future__ import annotations

import statistics

from benchmarks.casestudy import energy

ATTACK_NAMES = {
    "label_flip": "label flipping",
    "sign_flip": "sign flipping",
    "free_rider": "free riding",
    "colluding": "a colluding group",
}


def _mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else float("nan")


def _final(cells: list[dict], system: str, attack: str, fraction: float | None = None) -> float:
    """Mean final test accuracy of `system` over every cell with this attack (and fraction)."""
    return _mean(
        c["systems"][system]["accuracy"][-1]
        for c in cells
        if c["attack"] == attack and (fraction is None or abs(c["fraction"] - fraction) < 1e-9)
    )


def _recall(cells: list[dict], attack: str) -> float:
    tp = sum(c["committee"]["tp"] for c in cells if c["attack"] == attack)
    fn = sum(c["committee"]["fn"] for c in cells if c["attack"] == attack)
    return tp / (tp + fn) if tp + fn else float("nan")


def _learning(learning: dict) -> tuple[list[str], list[str]]:
    cells = learning["cells"]
    top = max(c["fraction"] for c in cells)
    wins, losses = [], []
    clean = {s: _final(cells, s, "none") for s in ("qflchain", "fedavg", "median", "krum", "classical")}
    local = _mean(x for c in learning["local"] for x in c["accuracy"])
    wins.append(
        f"**Without attackers it learns as well as a trusted server**: final test accuracy {clean['qflchain']:.3f}"
        f" against FedAvg's {clean['fedavg']:.3f} (mean over datasets, splits, client counts and seeds), above"
        f" coordinate median ({clean['median']:.3f}), Krum ({clean['krum']:.3f}) and training alone"
        f" ({local:.3f}): the committee accepts honest non-IID updates that robust rules throw away."
    )
    better, worse = [], []
    for attack in ("free_rider", "colluding", "label_flip", "sign_flip"):
        ours, server = _final(cells, "qflchain", attack, top), _final(cells, "fedavg", attack, top)
        robust = max(_final(cells, "median", attack, top), _final(cells, "krum", attack, top))
        recall = _recall(cells, attack)
        entry = (attack, ours, server, robust, recall)
        (better if ours - server > 0.01 and recall >= 0.5 else worse).append(entry)
    if better:
        wins.append(
            f"**It stops the attacks it detects**: at {top:.0%} malicious clients, "
            + "; ".join(
                f"{ATTACK_NAMES[a]} leaves it at {o:.3f} against FedAvg/BlockFL's {s:.3f} and the better robust"
                f" rule's {r:.3f} (committee recall {rc:.2f})"
                for a, o, s, r, rc in better
            )
            + "."
        )
    if worse:
        losses.append(
            f"**It misses label and sign flipping**: at {top:.0%} malicious clients, "
            + "; ".join(
                f"{ATTACK_NAMES[a]} leaves it at {o:.3f} against FedAvg/BlockFL's {s:.3f} (committee recall"
                f" {rc:.2f}; the better robust rule {r:.3f})"
                for a, o, s, r, rc in worse
            )
            + ". A flipped step from a client with skewed data looks like an honest step on other data to"
            " validators who hold skewed data too; the attackers are paid like honest clients."
        )
    comm = learning["communication"]
    for dataset in sorted({c["dataset"] for c in cells}):
        mine = [c for c in cells if c["dataset"] == dataset]
        ours, classical = _final(mine, "qflchain", "none"), _final(mine, "classical", "none")
        size = f"{comm[dataset]['vqc_bytes_float32']} B against {comm[dataset]['classical_bytes_float32']} B"
        if classical - ours > 0.01:
            losses.append(
                f"**On {dataset} a classical network of comparable size is better**: {classical:.3f} against"
                f" {ours:.3f} without attackers ({(classical - ours) * 100:.1f} points), for about the same bytes"
                f" ({size} in float32): no quantum advantage on this 4-feature task."
            )
        else:
            wins.append(
                f"**On {dataset} the VQC matches or beats a classical network of comparable size**:"
                f" {ours:.3f} against {classical:.3f} without attackers, in {size} (float32)."
            )
    return wins, losses


def _chain(chain: dict) -> tuple[list[str], list[str]]:
    wins, losses = [], []
    attacks = chain["attacks"]
    iid = [a for a in attacks if a["split"] == "IID"]
    lost = [a for a in iid if a["rewards_attackers_eth"] < a["slashed_attackers_eth"]]
    gaining = [a for a in attacks if a["rewards_attackers_eth"] > a["slashed_attackers_eth"]]
    honest_slashed = sum(a["slashed_honest_eth"] for a in attacks)
    conserved = sum(bool(a["money_conserved"]) for a in attacks)
    wins.append(
        f"**Cheating costs money where the committee sees it**: on chain, attackers were slashed more than they"
        f" were paid in {len(lost)} of {len(iid)} IID attack runs; honest clients lost {honest_slashed:.3f} ETH in all {len(attacks)} runs,"
        f" and the contract's money was conserved in {conserved} of {len(attacks)}."
    )
    if gaining:
        splits = sorted({a["split"] for a in gaining})
        losses.append(
            f"**Under skewed data some attackers profit**: {len(gaining)} of {len(attacks)} on-chain attack runs"
            f" paid the attackers more than they were slashed (all in {', '.join(splits)}), up to"
            f" {max(a['rewards_attackers_eth'] - a['slashed_attackers_eth'] for a in gaining):+.3f} ETH."
        )
    inputs = chain["energy_inputs"]
    n = min(int(k) for k in inputs)
    gas = inputs[str(n)]["gas_per_round"]
    txs = inputs[str(n)]["transactions_per_round"]
    blockfl_gas = _blockfl_gas(chain, n)
    steady = [r for b in chain["block_time"] for r in b["rounds"][1:2] if r.get("to_next")]
    blocks = sorted({int(r["to_next"]) for r in steady})
    span = f"{blocks[0]}-{blocks[-1]}" if len(blocks) > 1 else (str(blocks[0]) if blocks else "?")
    losses.append(
        f"**Coordination is expensive**: at {n} clients a round takes {txs:.0f} transactions and"
        f" {gas / 1e6:.2f}M gas ({gas / blockfl_gas:.1f}x a BlockFL-style chain without judgment; a trusted"
        f" server spends none) and {span} blocks, i.e. {_latency(blocks, 12)} on a 12 s chain and"
        f" {_latency(blocks, 2)} on a 2 s chain (BlockFL-style: 4 blocks). {_fee_text(chain, n)}"
    )
    return wins, losses


def _fee_text(chain: dict, n: int) -> str:
    """The mean client's fee per round on L1 at every stated price (Cost table)."""
    from benchmarks.casestudy.chain import _client_gas

    prices = chain["settings"]["prices"]
    run = next(r for r in chain["overhead"] if int(r["n_clients"]) == n)
    gas = _mean(_client_gas(run))
    usd = float(prices["eth_usd"][0])
    fees = ", ".join(f"${gas * p * 1e-9 * usd:,.2f} at {p:g} gwei" for p in prices["l1_gas_price_gwei"])
    return (
        f"A mean client's own transactions ({gas:,.0f} gas a round) cost {fees} on Ethereum L1 (ETH at"
        f" ${usd:,.0f}, assumed), and cents or less on an OP-stack L2 (Cost table)."
    )


def _blockfl_gas(chain: dict, n: int) -> float:
    from benchmarks.casestudy.chain import _blockfl

    run = next(r for r in chain["overhead"] if int(r["n_clients"]) == n)
    return _blockfl(run)["gas"]


def _latency(blocks: list[int], seconds: int) -> str:
    if not blocks:
        return "?"
    lo, hi = blocks[0] * seconds, blocks[-1] * seconds
    return f"{lo}-{hi} s" if lo != hi else f"{lo} s"


def _scaling(scaling: dict) -> tuple[list[str], list[str]]:
    points, fits, s = scaling["points"], scaling["fits"], scaling["settlement"]
    lo, hi = points[0], points[-1]
    wins = []
    if s.get("largest_gas"):
        wins.append(
            f"**Every transaction fits Ethereum's per-transaction cap at any size**: settling"
            f" {s['updates']:,} updates, the largest transaction ({s['largest_label']}) is {s['largest_gas']:,} gas,"
            f" {s['largest_gas'] / s['cap']:.0%} of EIP-7825's {s['cap']:,}; gas grows about linearly in the clients"
            f" (log-log slope {fits['gas']['slope']:.2f})."
        )
    losses = [
        f"**Rounds are slow at scale on one machine**: a steady round takes {hi['wall']:.1f} s at"
        f" {hi['clients']:,} clients against {lo['wall']:.2f} s at {lo['clients']:,}, and the chain is"
        f" {hi['chain'] / hi['wall']:.0%} of it; training is {hi['train']:.1f} s. Time grows"
        + (" about linearly" if fits["wall"]["slope"] <= 1.1 else " faster than linearly")
        + f" (log-log slope {fits['wall']['slope']:.2f}); in this set-up one anvil and one process carry every"
        " client, so the chain's time per transaction grows with the federation (Scalability)."
    ]
    return wins, losses


def _energy(results: dict) -> list[str]:
    d = energy.derive(results)
    t = d["train_j"]
    share = d["chain_j"] / (t["vqc_qpu"] + d["chain_j"])
    return [
        f"**Energy is the chain's, or the hardware's**: per client and round the chain's attributed share"
        f" ({energy.format_joules(d['chain_j'])}) dwarfs simulating a 4-qubit client"
        f" ({energy.format_joules(t['vqc_cpu'])}) and the network transfer"
        f" ({energy.format_joules(d['network_j'])}); on a quantum processor the training itself"
        f" ({energy.format_joules(t['vqc_qpu'])}) would dwarf the chain ({share:.1%} of the total). The marginal"
        " energy of the transactions on a proof-of-stake chain is close to zero (Energy)."
    ]


def render(results: dict) -> list[str]:
    parts = results["parts"]
    wins, losses = [], []
    for make in (_learning, _chain, _scaling):
        key = make.__name__.lstrip("_")
        w, lo = make(parts[key])
        wins += w
        losses += lo
    losses += _energy(results)
    return [
        "## Verdict",
        "",
        "QFLchain (a) against centralised QFL (b, a trusted FedAvg server), blockchain FL without validation (c,"
        " BlockFL-style), QFLchain's chain with a robust rule instead of the committee (d: median, Krum), classical"
        " FL with a small network (e) and local training only (f). Every figure below is from this run; the"
        " sections after the setup hold the tables.",
        "",
        "Where QFLchain wins:",
        "",
        *(f"- {w}" for w in wins),
        "",
        "Where QFLchain loses, and by how much:",
        "",
        *(f"- {lo}" for lo in losses),
        "",
    ]
