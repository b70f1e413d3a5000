"""The rest of a member's and a sponsor's life, for the `qflchain` commands leave, withdraw, sweep, history,
export, cid and store: each function checks what the contract would refuse first and says, in one line
(a click.ClickException), what to wait for or do instead; nothing is sent when the answer is known to be no.

What the contract enforces (contracts/federation/Membership.sol, QFLFederation.sol):
- `leave` needs a registered member with its last update settled and no committee duty pending
  (EngagedInRound); the whole stake becomes withdrawable and the address waits `rejoinCooldown` to return.
- `withdraw` pays the withdrawable balance (rewards, stake released by leave, a swept pool); nothing owed is
  NothingToWithdraw. `withdrawStake` takes stake out while staying a member: min stake must remain
  (StakeBelowMinimum) and nothing may be unsettled (EngagedInRound).
- `sweepPool` is the sponsor's (NotSponsor), once the last round is done (FederationNotOver), with a
  non-empty pool (ZeroAmount); the pool is credited to the sponsor's withdrawable balance.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from qfl.orchestration.config import wei_to_eth

# What to wait for or do, per contract error of the calls made here (FederationError.error -> line).
REFUSALS = {
    "NotRegistered": "this account is not a member (never registered, or already left)",
    "EngagedInRound": "this account's update or committee seat of the current round is not settled yet: wait "
    "until the round is done and settled (running nodes settle it), then rerun",
    "StakeBelowMinimum": "at least the minimum stake must stay while a member: withdraw less, or "
    "`qflchain leave` first and then withdraw everything",
    "NothingToWithdraw": "nothing is owed to this account",
    "NotSponsor": "only the sponsor (the account that deployed the federation) may sweep the pool",
    "FederationNotOver": "the pool can be swept only once the last round is done",
    "ZeroAmount": "the amount is zero (for sweep: the pool is already empty)",
}


def _eth(wei: int) -> str:
    return f"{wei_to_eth(wei)} ETH"


def utc_time(timestamp: int) -> str:
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _refused(exc: Exception, what: str) -> click.ClickException:
    """A revert of `what` as one line saying what to wait for (any other exception is re-raised)."""
    from qfl.chain import FederationError

    if not isinstance(exc, FederationError):
        raise exc
    reason = REFUSALS.get(exc.error, str(exc).splitlines()[0])
    return click.ClickException(f"{what} refused by the contract ({exc.error}): {reason}")


@contextlib.contextmanager
def open_federation(choice: str, record: dict, deployment: Path, network: str) -> Iterator[Any]:
    """Connect to network `choice` (already checked), make sure the recorded federation is there, yield its
    binding."""
    import ape

    from qfl.chain import Federation
    from qfl.chain.toolchain import project
    from qfl.orchestration.deployment import require_federation

    with ape.networks.parse_network_choice(choice):
        require_federation(record, deployment, network)
        yield Federation.at(project(), record["address"], record.get("block", 0))


# ---------------------------------------------------------------------- leave and withdraw


@dataclass
class Left:
    stake: int  # wei released to the withdrawable balance
    withdrawable: int  # the whole withdrawable balance now
    cooldown_until: int  # unix time before which the account cannot register again


def why_not_free(federation: Any, address: str) -> str | None:
    """Why `address` may not leave or take stake out now (the contract's `_free`), or None if it may."""
    me = federation.client_view(address)
    if not me.registered:
        left = (
            f" (it left; it may register again after {utc_time(me.cooldown_until)})"
            if me.cooldown_until
            else ""
        )
        return f"{address} is not a member{left}: nothing to leave"
    current = federation.current_round()
    if not me.settled:
        return (
            f"{address}'s update of round {me.commit_round} is not settled yet: wait until round "
            f"{me.commit_round} is done and its updates settled (running nodes settle them), then rerun"
        )
    if me.pending_duties:
        return (
            f"{address} holds {me.pending_duties} unsettled committee seat(s) (round {current}): wait until "
            "the round is done and its committee seats settled (running nodes settle them), then rerun"
        )
    return None


def leave(federation: Any, signer: Any) -> Left:
    """Deregister `signer`: its whole stake becomes withdrawable (then `withdraw`)."""
    why = why_not_free(federation, signer.address)
    if why:
        raise click.ClickException(f"cannot leave: {why}")
    try:
        result = federation.leave(sender=signer)
    except Exception as exc:
        raise _refused(exc, "leave") from exc
    me = federation.client_view(signer.address)
    return Left(int(result.event("ClientLeft")["stakeReleased"]), me.withdrawable, me.cooldown_until)


@dataclass
class Withdrawal:
    stake_taken: int = 0  # wei of stake moved out while staying a member (withdrawStake)
    paid: int = 0  # wei of the withdrawable balance sent (withdraw)
    gas_wei: int = 0
    stake_left: int = 0  # stake still locked in the federation
    registered: bool = False
    notes: list[str] = field(default_factory=list)


def withdraw(federation: Any, signer: Any, stake_wei: int | None = None) -> Withdrawal:
    """Send `signer` everything it is owed (rewards, stake released by leave, a swept pool); with `stake_wei`
    first take that much stake out while staying a member (the minimum stake must remain)."""
    address = signer.address
    me = federation.client_view(address)
    out = Withdrawal()
    if stake_wei is not None:
        minimum = federation.params()["minStake"]
        if stake_wei <= 0:
            raise click.ClickException("--stake must be more than 0 ETH")
        why = why_not_free(federation, address)
        if why:
            raise click.ClickException(f"cannot take stake out: {why}")
        if me.stake - stake_wei < minimum:
            most = max(me.stake - minimum, 0)
            raise click.ClickException(
                f"cannot take {_eth(stake_wei)} of stake out: {address} stakes {_eth(me.stake)} and "
                f"{_eth(minimum)} must stay while a member (at most {_eth(most)} now): withdraw less, or "
                "`qflchain leave` first and then `qflchain withdraw` to get it all"
            )
        try:
            result = federation.withdraw_stake(stake_wei, sender=signer)
        except Exception as exc:
            raise _refused(exc, "withdrawStake") from exc
        out.stake_taken = stake_wei
        out.gas_wei += _gas_cost(federation, result)
        me = federation.client_view(address)
    if me.withdrawable:
        try:
            result = federation.withdraw_rewards(sender=signer)
        except Exception as exc:
            raise _refused(exc, "withdraw") from exc
        out.paid = int(result.event("Withdrawn")["amount"])
        out.gas_wei += _gas_cost(federation, result)
        me = federation.client_view(address)
    elif not out.stake_taken:
        if me.registered:
            hint = (
                f"its {_eth(me.stake)} of stake stays locked while it is a member: `qflchain leave` first "
                "(or --stake AMOUNT to take out what exceeds the minimum stake)"
            )
        else:
            hint = "rewards are credited when a round's updates and committee seats are settled"
        raise click.ClickException(f"nothing to withdraw for {address}: {hint}")
    out.stake_left = me.stake
    out.registered = me.registered
    return out


def _gas_cost(federation: Any, result: Any) -> int:
    """Wei the sender paid for `result`'s transaction (gas used times its effective price)."""
    try:
        receipt = federation._web3.eth.get_transaction_receipt(result.tx_hash)
        return int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice", 0))
    except Exception:  # a node that serves no receipt: the amount paid out is still exact
        return 0


# ---------------------------------------------------------------------- sponsor


@dataclass
class Sweep:
    released: int  # wei of the last round's reserve returned to the pool first
    swept: int  # wei moved from the pool to the sponsor's balance
    paid: int  # wei sent to the sponsor (its whole withdrawable balance)


def why_no_sweep(federation: Any, address: str) -> str | None:
    """Why `address` may not sweep the pool now, or None if it may."""
    from qfl.chain import RoundPhase

    sponsor = federation.sponsor()
    if sponsor.lower() != address.lower():
        return (
            f"only the sponsor {sponsor} (the deployer) may sweep the pool, not {address}: pass its --account"
        )
    rounds = federation.params()["numRounds"]
    current = federation.current_round()
    if current < rounds:
        return f"the federation is not over: {current} of {rounds} rounds started; sweep once round {rounds} is done"
    phase = federation.phase(current)
    if phase != RoundPhase.DONE:
        return f"the last round ({current}) is in phase {phase.name}: sweep once it is DONE"
    return None


def sweep(federation: Any, signer: Any) -> Sweep:
    """Sponsor, after the last round: return the last round's unpaid reserve to the pool (if it is fully
    settled), move the pool to the sponsor's balance and send it."""
    why = why_no_sweep(federation, signer.address)
    if why:
        raise click.ClickException(f"cannot sweep: {why}")
    released = 0
    view = federation.round_view(federation.current_round())
    if view.fully_settled and view.reserve_left > 0:
        released = view.reserve_left
        with contextlib.suppress(Exception):  # someone else released it meanwhile: the pool has it anyway
            federation.release_reserve(view.round, sender=signer)
    if federation.pool() == 0 and not federation.client_view(signer.address).withdrawable:
        raise click.ClickException("cannot sweep: the pool is empty (already swept, or spent on rewards)")
    swept = 0
    if federation.pool() > 0:
        try:
            result = federation.sweep_pool(sender=signer)
        except Exception as exc:
            raise _refused(exc, "sweepPool") from exc
        swept = int(result.event("PoolSwept")["amount"])
    paid = 0
    if federation.client_view(signer.address).withdrawable:
        try:
            result = federation.withdraw_rewards(sender=signer)
        except Exception as exc:
            raise _refused(exc, "withdraw") from exc
        paid = int(result.event("Withdrawn")["amount"])
    return Sweep(released, swept, paid)


# ---------------------------------------------------------------------- history and models


@dataclass
class RoundRow:
    round: int
    phase: str
    model_cid: str  # the round's global model ("" while it has none)
    accepted: int
    rejected: int
    other: int  # neutral, unvalidated, silent committers
    unsettled: int
    reward: int  # wei paid to trainers and committee
    burned: int
    mine: str = ""  # the account's outcome ("" without --account)
    my_reward: int = 0
    my_burned: int = 0


def history(federation: Any, account: str | None = None) -> list[RoundRow]:
    """One row per started round, from `getRound` and the round's events."""
    from qfl.chain import TrainerOutcome
    from qfl.storage import digest_to_cid

    rows = []
    for r in range(1, federation.current_round() + 1):
        view = federation.round_view(r)
        outcomes = [s.outcome for s in view.settlements.values()]
        accepted = sum(o == TrainerOutcome.ACCEPTED for o in outcomes)
        rejected = sum(o == TrainerOutcome.REJECTED for o in outcomes)
        row = RoundRow(
            round=r,
            phase=view.phase.name,
            model_cid=digest_to_cid(view.global_model) if any(view.global_model) else "",
            accepted=accepted,
            rejected=rejected,
            other=len(outcomes) - accepted - rejected,
            unsettled=len(view.unsettled_committers()),
            reward=sum(s.reward for s in view.settlements.values())
            + sum(v.reward for v in view.validator_settlements.values()),
            burned=sum(s.slashed for s in view.settlements.values())
            + sum(v.slashed for v in view.validator_settlements.values()),
        )
        if account:
            parts = []
            trained = view.settlement_of(account)
            if trained is not None:
                parts.append(f"update {trained.outcome.name}")
                row.my_reward += trained.reward
                row.my_burned += trained.slashed
            elif view.committed(account):
                parts.append("update unsettled")
            seat = next(
                (v for a, v in view.validator_settlements.items() if a.lower() == account.lower()), None
            )
            if seat is not None:
                parts.append(f"committee {seat.outcome.name}")
                row.my_reward += seat.reward
                row.my_burned += seat.slashed
            elif any(a.lower() == account.lower() for a in view.committee):
                parts.append("committee unsettled")
            row.mine = ", ".join(parts) or "not in this round"
        rows.append(row)
    return rows


def global_model_cid(federation: Any, round_: int) -> str:
    """The CID of `round_`'s global model on chain (round 0: the initial model)."""
    from qfl.storage import digest_to_cid

    current = federation.current_round()
    if not 0 <= round_ <= current:
        raise click.ClickException(
            f"--round {round_}: the federation has started rounds 1 to {current} (0 is the initial model)"
        )
    digest = federation.global_model(round_)
    if not any(digest):
        phase = federation.phase(round_).name
        raise click.ClickException(
            f"round {round_} has no global model yet (phase {phase}): wait until it is done and rerun"
        )
    return digest_to_cid(digest)


# ---------------------------------------------------------------------- content store


def open_store(address: str, *, must_exist: bool = True):
    """The content store at `address` (embedded directory or Kubo URL); a directory that holds no store is a
    one-line error when `must_exist`."""
    from qfl.orchestration.deployment import open_content_store

    if must_exist and not address.startswith(("http://", "https://")) and not Path(address).is_dir():
        raise click.ClickException(
            f"--store {address}: no such store directory: pass the --store the federation's nodes use"
        )
    return open_content_store(address)


def fetch(store: Any, address: str, cid: str) -> bytes:
    """The bytes of `cid` from `store`, verified against the CID; store errors as one line."""
    from qfl.storage import ContentMismatch, InvalidCID, NodeUnavailable, ObjectNotFound, StoreError

    try:
        return store.get(cid)
    except InvalidCID as exc:
        raise click.ClickException(f"{cid} is not a CID: {str(exc).splitlines()[0]}") from exc
    except ObjectNotFound as exc:
        raise click.ClickException(
            f"the store at {address} does not hold {cid}: pass the --store the federation's nodes publish to"
        ) from exc
    except ContentMismatch as exc:
        raise click.ClickException(
            f"the store at {address} returned bytes that are not {cid}: {exc}"
        ) from exc
    except NodeUnavailable as exc:
        raise click.ClickException(f"the store at {address} did not answer: start it and rerun") from exc
    except StoreError as exc:
        raise click.ClickException(f"the store at {address}: {str(exc).splitlines()[0]}") from exc


def put(store: Any, address: str, data: bytes) -> str:
    """Publish `data` to `store` and pin it; its CID."""
    from qfl.storage import NodeUnavailable, StoreError

    try:
        cid = store.put(data)
        store.pin(cid)
        return cid
    except NodeUnavailable as exc:
        raise click.ClickException(f"the store at {address} did not answer: start it and rerun") from exc
    except StoreError as exc:
        raise click.ClickException(f"the store at {address}: {str(exc).splitlines()[0]}") from exc


def read_file(path: Path) -> bytes:
    """The bytes of `path`; a one-line error when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from exc


def file_cid(path: Path) -> str:
    """The CID the project's store gives the bytes of `path` (as `ipfs add` with Kubo's defaults)."""
    from qfl.storage import compute_cid

    return compute_cid(read_file(path))


def write_out(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (all or nothing)."""
    from qfl.storage.atomic import atomic_write

    atomic_write(Path(path), data)
