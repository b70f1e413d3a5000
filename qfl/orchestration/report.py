"""Results of a run: per-round records, written as CSV/JSON, drawn as PNG plots, shown as a table."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from qfl.storage.atomic import atomic_write_text


@dataclass
class RoundRecord:
    """What one round did, as measured by the simulator."""

    round: int  # 1-based, as on chain and on the console (0 is the initial model)
    accuracy: float
    loss: float
    accepted: int
    rejected: int  # rejected updates; their trainers were slashed
    undecided: int  # neutral, unvalidated (no quorum or a tie) or committed and never revealed
    attackers_rejected: int
    attackers_total: int
    rewards_eth: float  # paid to trainers and committee members for this round
    burned_eth: float  # slashed stake of this round, burned (nobody receives it)
    gas: int
    train_seconds: float
    store_seconds: float
    chain_seconds: float
    other_seconds: float
    bytes_stored: int
    bytes_fetched: int
    global_cid: str
    # What the round's transactions cost their senders (qfl.chain.fees): gasUsed x effectiveGasPrice, and on
    # an OP-stack chain the L1 data fee (Arbitrum's L1 component is inside its gas, so in the first).
    execution_fee_wei: int = 0
    l1_fee_wei: int = 0

    @property
    def fee_wei(self) -> int:
        return self.execution_fee_wei + self.l1_fee_wei

    @property
    def wall_seconds(self) -> float:
        return self.train_seconds + self.store_seconds + self.chain_seconds + self.other_seconds


@dataclass
class ClientRecord:
    """One client's standing at the end of the run."""

    index: int
    address: str
    attack: str
    reputation: int
    stake_eth: float
    rewards_eth: float
    burned_eth: float  # of its stake, slashed and burned
    execution_fee_wei: int = 0  # its transactions' fees over the run (see RoundRecord)
    l1_fee_wei: int = 0


@dataclass
class RunReport:
    """Everything a run measured."""

    name: str
    initial_accuracy: float
    rounds: list[RoundRecord] = field(default_factory=list)
    clients: list[ClientRecord] = field(default_factory=list)
    gas_by_method: dict[str, int] = field(default_factory=dict)
    calls_by_method: dict[str, int] = field(default_factory=dict)
    money: dict[str, int] = field(default_factory=dict)  # the contract's final accounting, in wei

    @property
    def money_conserved(self) -> bool:
        """balance == total_staked + total_withdrawable + pool + reserved + burned."""
        parts = ("total_staked", "total_withdrawable", "pool", "reserved", "burned")
        return bool(self.money) and self.money["balance"] == sum(self.money[k] for k in parts)

    @classmethod
    def from_json(cls, data: dict) -> RunReport:
        """The report `to_json` wrote (how a resumed run picks up the rounds already played)."""
        round_fields = {f.name for f in fields(RoundRecord)}
        return cls(
            name=data["name"],
            initial_accuracy=data["initial_accuracy"],
            rounds=[
                RoundRecord(**_wei_ints({k: v for k, v in r.items() if k in round_fields}))
                for r in data["rounds"]
            ],
            clients=[ClientRecord(**_wei_ints(c)) for c in data["clients"]],
            gas_by_method=dict(data["gas_by_method"]),
            calls_by_method=dict(data["calls_by_method"]),
            money={k: int(v) for k, v in data["money"].items()},
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "initial_accuracy": self.initial_accuracy,
            "rounds": [_wei_strs(asdict(r) | {"wall_seconds": r.wall_seconds}) for r in self.rounds],
            "clients": [_wei_strs(asdict(c)) for c in self.clients],
            "gas_by_method": self.gas_by_method,
            "calls_by_method": self.calls_by_method,
            "money": {k: str(v) for k, v in self.money.items()},  # wei, beyond JSON's exact integers
            "money_conserved": self.money_conserved,
        }


_FEES = ("execution_fee_wei", "l1_fee_wei")


def round_cost(report: RunReport) -> dict[str, int]:
    """The mean fees of a round in wei (integer division): L2 execution, L1 data, both, and both per client
    (the round's fees over the clients: sponsor and committee transactions included)."""
    n = max(1, len(report.rounds))
    execution = sum(r.execution_fee_wei for r in report.rounds) // n
    l1 = sum(r.l1_fee_wei for r in report.rounds) // n
    return {
        "execution_fee_wei": execution,
        "l1_fee_wei": l1,
        "fee_wei": execution + l1,
        "per_client_wei": (execution + l1) // max(1, len(report.clients)),
    }


def _wei_strs(row: dict) -> dict:
    """Fees in wei as strings in JSON (beyond JSON's exact integers, as `money`)."""
    return row | {k: str(row[k]) for k in _FEES if k in row}


def _wei_ints(row: dict) -> dict:
    return row | {k: int(row[k]) for k in _FEES if k in row}


def write_results(report: RunReport, out_dir: Path, plots: bool = True) -> list[Path]:
    """Write rounds.csv, clients.csv, report.json (and PNG plots) into out_dir; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in (
        ("rounds.csv", report.to_json()["rounds"]),
        ("clients.csv", report.to_json()["clients"]),
    ):
        if not rows:
            continue
        path = out_dir / name
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())  # a reader (or a resumed run) sees a whole file
        written.append(path)
    path = out_dir / "report.json"
    atomic_write_text(path, json.dumps(report.to_json(), indent=2, sort_keys=True))
    written.append(path)
    if plots and report.rounds:
        written += _plot(report, out_dir)
    return written


def _plot(report: RunReport, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rounds = [0] + [r.round for r in report.rounds]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(rounds, [report.initial_accuracy] + [r.accuracy for r in report.rounds], marker="o")
    axes[0].set(title="global model test accuracy", xlabel="round", ylabel="accuracy", ylim=(0, 1.02))
    xs = [r.round for r in report.rounds]
    stacked = [0] * len(report.rounds)
    counts = {
        "accepted": [r.accepted for r in report.rounds],
        "honest rejected (slashed)": [r.rejected - r.attackers_rejected for r in report.rounds],
        "attackers rejected (slashed)": [r.attackers_rejected for r in report.rounds],
        "undecided": [r.undecided for r in report.rounds],
    }
    for label, values in counts.items():
        axes[1].bar(xs, values, bottom=stacked, label=label)
        stacked = [b + v for b, v in zip(stacked, values, strict=True)]
    axes[1].set(title="updates per round", xlabel="round")
    axes[1].legend()
    parts = {
        "train": [r.train_seconds for r in report.rounds],
        "store": [r.store_seconds for r in report.rounds],
        "chain": [r.chain_seconds for r in report.rounds],
        "other": [r.other_seconds for r in report.rounds],
    }
    bottom = [0.0] * len(report.rounds)
    for label, values in parts.items():
        axes[2].bar([r.round for r in report.rounds], values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes[2].set(title="wall time per round (s)", xlabel="round")
    axes[2].legend()
    for ax in axes:  # rounds are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"{report.name}: {len(report.rounds)} rounds")
    fig.tight_layout()
    path = out_dir / "rounds.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
