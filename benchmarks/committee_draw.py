"""Monte Carlo of the committee draw: one attacker account vs many -> benchmarks/results/committee.md.

Run: `.venv/bin/python -m benchmarks.committee_draw` (20,000 draws per cell, 200 on-chain draws; ~2 minutes),
     `.venv/bin/python -m benchmarks.committee_draw --quick` (2,000 draws, 40 on-chain draws),
     `.venv/bin/python -m benchmarks.committee_draw --draws N --rounds R [--out PATH]`.

The model is the contract's draw (`Committee._draw`, `StakeTree.find`): `committeeSize` seats, each drawn
with replacement in proportion to draw weight (stake; weight that arrives during a round waits until that
round's committee is drawn, so the tree holds only drawable weight and every seat is filled). A member
drawn k times holds k seats, and votes and attestations count seats. The attacker holds a share s of the
stake, either as ONE account or split into MANY accounts of `minStake` each; honest stake is 100 members of
100 x minStake. For each cell: mean seat share, P(attacker holds a majority of the seats), P(at least half).

The section on 8e9fce0 models the earlier draw (weight that changed during the round stayed in the tree and
was redrawn, up to 3 attempts per seat, leaving the committee short when attempts ran out).

Validation against the real contract: one federation on anvil (eight 1-ETH attacker accounts against three
30-ETH members, the configuration of issue 9 item 8; 64 seats) plays `--rounds` rounds; every on-chain
committee is recomputed in Python from the round's committee seed with a port of StakeTree (Fenwick find) and
must match member for member and seat for seat; the on-chain attacker seat counts are then tested against the
model's distribution (chi-square).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import numpy as np
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from benchmarks.gas import (
    PARAMS_TYPE,
    Node,
    commitment,
    compile_contracts,
    contracts_revision,
    load_artifacts,
    machine_note,
)

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "benchmarks" / "results" / "committee.md"
SHARES = (0.05, 0.08, 0.25, 0.33, 0.49)
SEAT_COUNTS = (64, 3)
HONEST_MEMBERS = 100
HONEST_STAKE = 100  # in units of minStake
ETHER = 10**18
CAPACITY = 1 << 20
LEGACY_ATTEMPTS_PER_SEAT = 3  # 8e9fce0's DRAW_ATTEMPTS_PER_SEAT


# ------------------------------------------------------------------ the contract's draw, exactly


class StakeTree:
    """Port of contracts/lib/StakeTree.sol (Fenwick tree over slots 1..2^20)."""

    def __init__(self) -> None:
        self.nodes: dict[int, int] = {}
        self.total = 0
        self.size = 0

    def add(self, index: int, amount: int) -> None:
        if index > self.size:
            self.size = index
        self.total += amount
        i = index
        while i <= CAPACITY:
            self.nodes[i] = self.nodes.get(i, 0) + amount
            i += i & -i

    def find(self, x: int) -> int:
        step = 1
        while step << 1 <= self.size:
            step <<= 1
        pos = 0
        while step > 0:
            nxt = pos + step
            if nxt <= CAPACITY:
                node = self.nodes.get(nxt, 0)
                if node <= x:
                    pos = nxt
                    x -= node
            step >>= 1
        return pos + 1


def draw_exact(seed: bytes, tree: StakeTree, owner: dict[int, str], seats: int) -> list[tuple[str, int]]:
    """Committee._draw: seat k goes to the owner of find(keccak256(abi.encode(seed, k)) % total); positions
    in order of first draw. Returns [(member, seats)] as getRound reports it."""
    committee: list[list] = []
    pos: dict[str, int] = {}
    for k in range(seats):
        x = int.from_bytes(keccak(seed + k.to_bytes(32, "big")), "big") % tree.total
        who = owner[tree.find(x)]
        if who not in pos:
            pos[who] = len(committee)
            committee.append([who, 0])
        committee[pos[who]][1] += 1
    return [(m, s) for m, s in committee]


# ------------------------------------------------------------------ the Monte Carlo (vectorised)


def population(share: float, split: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights per member slot (honest first) and the attacker mask; the attacker holds `share` of the
    total, as one account or as accounts of 1 unit (minStake) each."""
    honest = HONEST_MEMBERS * HONEST_STAKE
    attacker = round(share / (1 - share) * honest)
    a_weights = np.ones(attacker, dtype=np.int64) if split else np.array([attacker], dtype=np.int64)
    weights = np.concatenate([np.full(HONEST_MEMBERS, HONEST_STAKE, dtype=np.int64), a_weights])
    mask = np.concatenate([np.zeros(HONEST_MEMBERS, dtype=bool), np.ones(len(a_weights), dtype=bool)])
    return weights, mask


def draw_seats(weights: np.ndarray, seats: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Slot index (0-based) of every seat of every draw: x uniform in [0, total), the slot whose interval
    [prefix(i-1), prefix(i)) holds x, which is what StakeTree.find returns (checked in `check_find`)."""
    cum = np.cumsum(weights)
    x = rng.integers(0, cum[-1], size=(draws, seats), dtype=np.int64)
    return np.searchsorted(cum, x, side="right")


def check_find(weights: np.ndarray, rng: np.random.Generator, samples: int = 2000) -> None:
    """The vectorised lookup equals the contract's Fenwick find on random points."""
    tree = StakeTree()
    for i, w in enumerate(weights.tolist()):
        tree.add(i + 1, w)
    cum = np.cumsum(weights)
    xs = rng.integers(0, cum[-1], size=samples, dtype=np.int64)
    fast = np.searchsorted(cum, xs, side="right") + 1
    for x, f in zip(xs.tolist(), fast.tolist(), strict=True):
        assert tree.find(x) == f, f"find({x}) = {tree.find(x)}, vectorised {f}"


def binom_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def cell(share: float, split: bool, seats: int, draws: int, rng: np.random.Generator) -> dict:
    weights, mask = population(share, split)
    idx = draw_seats(weights, seats, draws, rng)
    won = mask[idx]
    a_seats = won.sum(axis=1)
    positions = np.array([len(set(row[m].tolist())) for row, m in zip(idx, won, strict=True)])
    s = weights[mask].sum() / weights.sum()
    return {
        "share": s,
        "accounts": int(mask.sum()),
        "mean_share": a_seats.mean() / seats,
        "p_majority": float((2 * a_seats > seats).mean()),
        "p_half": float((2 * a_seats >= seats).mean()),
        "positions": float(positions.mean()),
        "exact_majority": binom_tail(seats, s, seats // 2 + 1),
        "exact_half": binom_tail(seats, s, (seats + 1) // 2),
    }


def legacy_cell(share: float, parked: float, seats: int, draws: int, rng: np.random.Generator) -> dict:
    """8e9fce0: weight that changed this round stayed in the tree; a seat landing on it was redrawn, with
    3 x seats attempts in all. `parked` is that weight's share of the tree; the attacker holds `share` of
    the drawable weight (one account)."""
    honest = HONEST_MEMBERS * HONEST_STAKE
    attacker = round(share / (1 - share) * honest)
    drawable = honest + attacker
    park = round(parked / (1 - parked) * drawable) if parked else 0
    weights = np.array(
        [HONEST_STAKE] * HONEST_MEMBERS + [attacker] + ([park] if park else []), dtype=np.int64
    )
    is_attacker = np.zeros(len(weights), dtype=bool)
    is_attacker[HONEST_MEMBERS] = True
    eligible = np.ones(len(weights), dtype=bool)
    if park:
        eligible[-1] = False
    idx = draw_seats(weights, LEGACY_ATTEMPTS_PER_SEAT * seats, draws, rng)
    ok = eligible[idx]
    taken = ok & (np.cumsum(ok, axis=1) <= seats)  # attempts stop once every seat is filled
    drawn = taken.sum(axis=1)
    a_seats = (taken & is_attacker[idx]).sum(axis=1)
    return {
        "parked": parked,
        "mean_seats": drawn.mean(),
        "p_short": float((drawn < seats).mean()),
        "p_majority": float((2 * a_seats > drawn).mean()),
    }


# ------------------------------------------------------------------ validation against the contract


def validate(rounds: int, log=print) -> dict:
    """Play `rounds` rounds on anvil and compare every committee with `draw_exact`; collect attacker seats."""
    arts = load_artifacts(compile_contracts())
    fed_art = arts["QFLFederation"]
    node = Node()
    try:
        period = 60
        seats = 64
        params = (
            b"\xaa" * 32, b"\xbb" * 32, rounds + 1, ETHER, period, period, period, period,
            seats, 10_000, 0, 1000, 10_000, 5000, 0,
        )  # fmt: skip
        keeper = to_checksum_address("0x" + keccak(text="committee-keeper")[:20].hex())
        node.set_balance(keeper, 10**30)
        fed = node.deploy(keeper, fed_art, encode([PARAMS_TYPE], [params]))
        attackers = [to_checksum_address("0x" + keccak(text=f"attacker-{i}")[:20].hex()) for i in range(8)]
        honest = [to_checksum_address("0x" + keccak(text=f"honest-{i}")[:20].hex()) for i in range(3)]
        stakes = {a: ETHER for a in attackers} | {h: 30 * ETHER for h in honest}
        members = honest[:1] + attackers[:4] + honest[1:2] + attackers[4:] + honest[2:]  # interleaved slots
        hashes = []
        for m in members:
            node.set_balance(m, 10**24)
            hashes.append(node.submit(m, fed, fed_art.data("register"), value=stakes[m]))
        node.flush(hashes)

        def call(fn, *args):
            return fed_art.decode_result(fn, node.call(fed, fed_art.data(fn, *args)))

        def struct(fn, *args):
            return fed_art.decode_struct(fn, node.call(fed, fed_art.data(fn, *args)))

        # The tree as the contract holds it: slot -> member, weights = drawWeight.
        tree, owner = StakeTree(), {}
        size = call("stakeSlot", 1)[2]
        for i in range(1, size + 1):
            who = to_checksum_address(call("stakeSlot", i)[0])
            owner[i] = who
            tree.add(i, struct("getClient", who)["drawWeight"])
        assert tree.total == call("stakeSlot", 1)[1], "tree total as on chain"
        matches, a_seats, committees = 0, [], []
        t0 = time.perf_counter()
        salt = b"\x05" * 32
        for rnd in range(1, rounds + 1):
            hashes = [node.submit(keeper, fed, fed_art.data("startRound"))]
            for m in members:
                cid = keccak(text=f"{rnd}-{m}")
                hashes.append(
                    node.submit(m, fed, fed_art.data("commitUpdate", rnd, commitment(cid, salt, 10, m, rnd)))
                )
            for m in members:
                cid = keccak(text=f"{rnd}-{m}")
                hashes.append(node.submit(m, fed, fed_art.data("revealUpdate", rnd, cid, salt, 10)))
            node.flush(hashes)  # one block: the last reveal arms the draw
            target = struct("getRound", rnd)["drawBlock"]  # the draw runs in exactly this block
            while int(node.block()["number"], 16) + 1 < target:
                node.mine()
            node.send(keeper, fed, fed_art.data("drawCommittee", rnd))
            view = struct("getRound", rnd)
            assert view["phase"] == 4, "drawn"
            onchain = [
                (to_checksum_address(m), s) for m, s in zip(view["committee"], view["seats"], strict=True)
            ]
            mine = draw_exact(view["committeeSeed"], tree, owner, seats)
            matches += onchain == mine
            a_seats.append(sum(s for m, s in onchain if m in set(attackers)))
            committees.append(len(onchain))
            node.warp(2 * period + 1)  # nobody votes: the round is done
            node.send(keeper, fed, fed_art.data("settle", rnd, members))
            if rnd % 50 == 0:
                log(
                    f"    {rnd} on-chain draws ({time.perf_counter() - t0:.0f} s), {matches} identical to the model"
                )
        share = sum(stakes[a] for a in attackers) / sum(stakes.values())
        return {
            "rounds": rounds,
            "seats": seats,
            "matches": matches,
            "attacker_seats": np.array(a_seats),
            "share": share,
            "distinct": float(np.mean(committees)),
            "seconds": time.perf_counter() - t0,
        }
    finally:
        node.close()


def chi_square(
    observed: np.ndarray, seats: int, draws: int, rng: np.random.Generator
) -> tuple[float, int, float]:
    """Chi-square of the observed attacker seat counts against the Monte Carlo distribution of the same
    configuration (bins merged until each expects >= 5). Returns (statistic, degrees of freedom, p-value)."""
    from scipy.stats import chi2

    weights = np.array([30, 30, 30] + [1] * 8, dtype=np.int64)
    mask = np.array([False] * 3 + [True] * 8)
    ref = mask[draw_seats(weights, seats, draws, rng)].sum(axis=1)
    expected = np.bincount(ref, minlength=seats + 1) / draws * len(observed)
    counts = np.bincount(observed, minlength=seats + 1)
    bins_e, bins_o, acc_e, acc_o = [], [], 0.0, 0
    for e, o in zip(expected, counts, strict=True):
        acc_e += e
        acc_o += o
        if acc_e >= 5:
            bins_e.append(acc_e)
            bins_o.append(acc_o)
            acc_e, acc_o = 0.0, 0
    if acc_e or acc_o:
        bins_e[-1] += acc_e
        bins_o[-1] += acc_o
    e, o = np.array(bins_e), np.array(bins_o)
    stat = float(((o - e) ** 2 / e).sum())
    dof = len(e) - 1
    return stat, dof, float(chi2.sf(stat, dof))


# ------------------------------------------------------------------ the report


def pct(x: float) -> str:
    if x == 0:
        return "0"
    return f"{100 * x:.2f}%" if x >= 0.0001 else f"{100 * x:.1e}%"


def render(
    mc: dict, legacy: list[dict], val: dict, chi: tuple, draws: int, command: str, seconds: float
) -> str:
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Committee draw: one account vs many",
        "",
        f"Command: `{command}` ({date}, {seconds:.0f} s). Machine: {machine_note()}.",
        f"Contracts: {contracts_revision()}.",
        "",
        "Model of `Committee._draw` (as since f11e8f4): each of the `committeeSize` seats goes, with replacement, to the",
        "member whose stake interval holds a uniform point of the stake tree (`StakeTree.find`); a member drawn",
        "k times holds k seats, and votes, quorums and attestations count seats. Honest stake: 100 members x 100",
        "minStake. The attacker holds stake share s as ONE account, or as MANY accounts of minStake each (the",
        f"cheapest split). {draws:,} draws per cell; the exact binomial tail is beside each estimate (seats won by",
        "the attacker ~ Binomial(seats, s) whatever the split). 'majority' = more than half the seats (decides",
        "an attestation or a median alone); '>= half' = at least half (can block: a tie is unvalidated).",
        "",
    ]
    for seats in SEAT_COUNTS:
        out += [
            f"## {seats} seats",
            "",
            "| attacker stake | split | accounts | mean seat share | P(majority) | exact | P(>= half) | exact | attacker committee positions (mean) |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for share in SHARES:
            for split in (False, True):
                c = mc[(share, split, seats)]
                out.append(
                    f"| {100 * c['share']:.1f}% | {'many' if split else 'one'} | {c['accounts']:,} | {100 * c['mean_share']:.2f}% |"
                    f" {pct(c['p_majority'])} | {pct(c['exact_majority'])} | {pct(c['p_half'])} | {pct(c['exact_half'])} |"
                    f" {c['positions']:.1f} |"
                )
        out.append("")
    out += [
        "Splitting gains nothing: ONE and MANY have the same seat share and the same tails (within Monte Carlo",
        f"error, about +-{100 * 2 * math.sqrt(0.25 / draws):.1f} points at worst); only the number of committee",
        "positions differs, and positions carry no extra weight. The mean seat share equals the stake share.",
        "",
        "## Validation against the contract",
        "",
        f"{val['rounds']} rounds on anvil (one federation, {val['seats']} seats, eight 1-ETH attacker accounts and three",
        "30-ETH members, every member commits and reveals, the draw runs in the armed block, seeded by its",
        f"prevrandao). {val['matches']} of {val['rounds']} on-chain committees are identical, member for member",
        "and seat for seat, to the Python port (`draw_exact`: keccak256(abi.encode(seed, k)) % total, then the",
        "Fenwick `find`) run on the committee seed the contract stored.",
        f"Attacker seat share on chain: {100 * val['attacker_seats'].mean() / val['seats']:.2f}% (stake share"
        f" {100 * val['share']:.2f}%, standard error {100 * val['attacker_seats'].std(ddof=1) / val['seats'] / math.sqrt(val['rounds']):.2f}"
        f" points); chi-square of the {val['rounds']} attacker seat counts against the model's distribution: {chi[0]:.2f}"
        f" on {chi[1]} degrees of freedom, p = {chi[2]:.2f}"
        + (" (consistent)." if chi[2] > 0.01 else " (INCONSISTENT)."),
        f"Mean distinct committee members: {val['distinct']:.1f} (11 members, 64 seats). Took {val['seconds']:.0f} s.",
        "",
        "## The 8e9fce0 draw, for comparison (redraws)",
        "",
        "8e9fce0 kept weight that joined or changed during the round in the tree and redrew a seat that landed",
        "on it, with 3 x seats attempts in all; once they ran out the committee stayed short. Parking stake (any",
        "refundable deposit made during the round) therefore shrank the committee and raised a minority's odds.",
        "f11e8f4 keeps such weight out of the tree until the draw, so every seat is filled. 64 seats, attacker",
        "with 25% of the drawable stake as one account:",
        "",
        "| parked share of the tree | mean seats drawn | P(committee short) | P(attacker majority of drawn seats) |",
        "|---:|---:|---:|---:|",
    ]
    for c in legacy:
        out.append(
            f"| {100 * c['parked']:.0f}% | {c['mean_seats']:.1f} | {pct(c['p_short'])} | {pct(c['p_majority'])} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20_000, help="draws per Monte Carlo cell")
    parser.add_argument("--rounds", type=int, default=200, help="on-chain draws for the validation")
    parser.add_argument("--quick", action="store_true", help="2,000 draws per cell, 40 on-chain draws")
    parser.add_argument("--seed", type=int, default=2026, help="Monte Carlo seed")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    draws, rounds = (2_000, 40) if args.quick else (args.draws, args.rounds)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    mc = {}
    for share in SHARES:
        for split in (False, True):
            check_find(population(share, split)[0], rng, samples=500)
            for seats in SEAT_COUNTS:
                mc[(share, split, seats)] = cell(share, split, seats, draws, rng)
    print(f"Monte Carlo done ({time.perf_counter() - start:.0f} s)", flush=True)
    legacy = [legacy_cell(0.25, f, 64, draws, rng) for f in (0.0, 0.5, 0.6, 2 / 3, 0.75, 0.9)]
    print("validating against the contract on anvil", flush=True)
    val = validate(rounds, log=lambda *a: print(*a, flush=True))
    chi = chi_square(val["attacker_seats"], val["seats"], 200_000, rng)
    cmd = ".venv/bin/python -m benchmarks.committee_draw" + (" --quick" if args.quick else "")
    if not args.quick and (args.draws, args.rounds) != (20_000, 200):
        cmd += f" --draws {args.draws} --rounds {args.rounds}"
    report = render(mc, legacy, val, chi, draws, cmd, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    ok = val["matches"] == val["rounds"] and chi[2] > 0.01
    if not ok:
        print("VALIDATION FAILED: the model and the contract disagree", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
