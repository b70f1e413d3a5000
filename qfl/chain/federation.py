"""Typed binding to `QFLFederation`: every transaction returns a TxResult and feeds a GasLedger.

The node, simulator and CLI use this module only; they never touch ape contract objects.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from ape.exceptions import ContractLogicError, OutOfGasError
from ape.types import LogFilter
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from qfl.chain.commitment import bits_to_words, words_to_bits
from qfl.chain.errors import FederationError
from qfl.chain.types import (
    ClientView,
    FederationEvent,
    FederationParams,
    GasLedger,
    ParticipantView,
    RoundPhase,
    RoundView,
    TxResult,
)


def _plain(value: Any) -> Any:
    """Convert ape/web3 values (HexBytes, structs, lists) to bytes, str, int, dict and tuple."""
    if isinstance(value, (HexBytes, bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return str(value)


def _to_event(log: Any) -> FederationEvent:
    """A decoded ape ContractLog as a FederationEvent."""
    return FederationEvent(
        name=log.event_name,
        block_number=int(log.block_number),
        log_index=int(log.log_index),
        tx_hash=HexBytes(log.transaction_hash).to_0x_hex(),
        args={k: _plain(v) for k, v in log.event_arguments.items()},
    )


def _revert_data(message: str) -> bytes | None:
    """Raw revert bytes from a message ape could not decode ('0x..' hex or a Python bytes literal)."""
    text = message.strip().strip("'")
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return None
    if text.startswith(("b'", 'b"')):
        try:
            value = ast.literal_eval(text)
        except (SyntaxError, ValueError):
            return None
        return value if isinstance(value, bytes) else None
    return None


def _custom_error(method: str, exc: ContractLogicError, contract_type: Any = None) -> FederationError:
    """The FederationError naming the contract's custom error (or the raw revert message)."""
    abi = getattr(exc, "abi", None)
    if abi is not None and getattr(abi, "type", "") == "error":
        inputs = getattr(exc, "inputs", {}) or {}
        return FederationError(method, abi.name, {k: _plain(v) for k, v in inputs.items()})
    data = _revert_data(str(getattr(exc, "message", "") or ""))
    if data is not None and len(data) >= 4 and contract_type is not None:
        # Some providers hand back the revert bytes undecoded: match the selector ourselves.
        for err in contract_type.errors:
            if function_signature_to_4byte_selector(err.selector) == data[:4]:
                types = [i.canonical_type for i in err.inputs]
                values = decode(types, data[4:])
                return FederationError(
                    method, err.name, {i.name: _plain(v) for i, v in zip(err.inputs, values, strict=True)}
                )
    return FederationError(method, "Revert", message=str(exc))


def _named(abi_type: Any, value: Any) -> Any:
    """An eth_abi value as the shape ape would give: structs with attribute names, checksummed addresses."""
    kind = abi_type.type
    if kind.startswith("tuple"):
        if kind.endswith("[]"):
            item = abi_type.model_copy(update={"type": kind[:-2]})
            return [_named(item, v) for v in value]
        return SimpleNamespace(
            **{c.name: _named(c, v) for c, v in zip(abi_type.components, value, strict=True)}
        )
    if kind == "address":
        return to_checksum_address(value)
    if kind == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


class Federation:
    """One deployed QFLFederation; signers are ape accounts passed as `sender`."""

    # A view result is reused while the chain head has not moved and for at most this many seconds (phases
    # can also turn by wall-clock time with no new block, so a cached read never outlives a second).
    VIEW_TTL = 1.0

    def __init__(self, contract: Any):
        self._contract = contract
        self.gas = GasLedger()
        self._views: dict[tuple, tuple[int, float, Any]] = {}
        self._address = str(contract.address)
        self._web3 = contract.provider.web3
        self._abis: dict[str, Any] = {}

    def _call(self, method: str, *args: Any) -> Any:
        """A view call by plain eth_call + eth_abi: the node's hot reads, ~5x faster than through ape's
        contract objects (which re-check the code, serialise and decode into pydantic models every time)."""
        abi = self._abis.get(method)
        if abi is None:
            abi = next(a for a in self._contract.contract_type.view_methods if a.name == method)
            self._abis[method] = abi
        types = [i.canonical_type for i in abi.inputs]
        data = function_signature_to_4byte_selector(abi.selector) + encode(types, list(args))
        raw = self._web3.eth.call({"to": self._address, "from": self._address, "data": data})
        values = decode([o.canonical_type for o in abi.outputs], bytes(raw))
        named = [_named(o, v) for o, v in zip(abi.outputs, values, strict=True)]
        return named[0] if len(named) == 1 else tuple(named)

    def _view(self, key: tuple, read: Callable[[], Any]) -> Any:
        """`read()` once per block: many nodes polling the same round in one process share the answer."""
        head = int(self._web3.eth.block_number)
        now = time.monotonic()
        hit = self._views.get(key)
        if hit is not None and hit[0] == head and now - hit[1] < self.VIEW_TTL:
            return hit[2]
        value = read()
        if len(self._views) > 4096:
            self._views.clear()
        self._views[key] = (head, now, value)
        return value

    # ------------------------------------------------------------------ construction
    @classmethod
    def at(cls, project: Any, address: str) -> Federation:
        """Attach to a federation already deployed at `address`."""
        return cls(project.QFLFederation.at(address))

    @property
    def address(self) -> str:
        """The contract address."""
        return str(self._contract.address)

    # ------------------------------------------------------------------ plumbing
    def _transact(self, name: str, method: str, *args: Any, sender: Any, value: int = 0) -> TxResult:
        fn = getattr(self._contract, method)
        try:
            receipt = fn(*args, sender=sender, value=value) if value else fn(*args, sender=sender)
        except ContractLogicError as exc:
            raise _custom_error(name, exc, self._contract.contract_type) from exc
        except OutOfGasError as exc:
            # On a live network the estimate is made one block before the transaction runs; a racing
            # transaction in between (another attest, a different committee draw) can make it cost more.
            raise FederationError(name, "OutOfGas", message=str(exc)) from exc
        events = tuple(_to_event(log) for log in receipt.decode_logs())
        result = TxResult(
            name=name,
            gas_used=int(receipt.gas_used),
            tx_hash=HexBytes(receipt.txn_hash).to_0x_hex(),
            block_number=int(receipt.block_number),
            events=events,
        )
        self.gas.record(result)
        return result

    # ------------------------------------------------------------------ money
    def fund(self, amount_wei: int, *, sender: Any) -> TxResult:
        """Add `amount_wei` to the reward pool."""
        return self._transact("fund", "fund", sender=sender, value=amount_wei)

    def register(self, stake_wei: int, *, sender: Any) -> TxResult:
        """Register `sender` with `stake_wei` of stake (>= min_stake)."""
        return self._transact("register", "register", sender=sender, value=stake_wei)

    def leave(self, *, sender: Any) -> TxResult:
        """Deregister `sender`; its stake becomes withdrawable."""
        return self._transact("leave", "leave", sender=sender)

    def withdraw_stake(self, amount_wei: int, *, sender: Any) -> TxResult:
        """Take `amount_wei` of stake out while staying registered (min_stake must remain)."""
        return self._transact("withdraw_stake", "withdrawStake", amount_wei, sender=sender)

    def withdraw_rewards(self, *, sender: Any) -> TxResult:
        """Send `sender` its whole withdrawable balance (rewards and stake released by leave)."""
        return self._transact("withdraw_rewards", "withdraw", sender=sender)

    def sweep_pool(self, *, sender: Any) -> TxResult:
        """Sponsor only, after the last round: move the leftover pool to the sponsor's balance."""
        return self._transact("sweep_pool", "sweepPool", sender=sender)

    # ------------------------------------------------------------------ rounds
    def start_round(self, *, sender: Any) -> TxResult:
        """Open the next round; the new number is `result.event('RoundStarted')['round']`."""
        return self._transact("start_round", "startRound", sender=sender)

    def commit_update(self, round_: int, commitment: bytes, *, sender: Any) -> TxResult:
        """Post `make_commitment(cid_digest, salt, sender, round_)`."""
        return self._transact("commit_update", "commitUpdate", round_, commitment, sender=sender)

    def reveal_update(
        self, round_: int, cid_digest: bytes, salt: bytes, samples: int, *, sender: Any
    ) -> TxResult:
        """Reveal the committed CID digest, its salt and the sample count."""
        return self._transact(
            "reveal_update", "revealUpdate", round_, cid_digest, salt, samples, sender=sender
        )

    def start_vote(self, round_: int, *, sender: Any) -> TxResult:
        """Close reveals and draw the committee (phase SELECT)."""
        return self._transact("start_vote", "startVote", round_, sender=sender)

    def vote(self, round_: int, accept: Sequence[bool], *, sender: Any) -> TxResult:
        """One vote: `accept[i]` judges `round_view(round_).reveals[i]`."""
        return self._transact("vote", "vote", round_, bits_to_words(accept), sender=sender)

    def finalize(self, round_: int, *, sender: Any) -> TxResult:
        """Tally the round (phase FINALIZE)."""
        return self._transact("finalize", "finalize", round_, sender=sender)

    def post_global_model(
        self, round_: int, cid_digest: bytes, accepted: Sequence[bool], *, sender: Any
    ) -> TxResult:
        """Propose an aggregate; `accepted` must equal the round's accepted set. Id: event 'GlobalModelPosted'."""
        return self._transact(
            "post_global_model", "postGlobalModel", round_, cid_digest, bits_to_words(accepted), sender=sender
        )

    def attest_global_model(self, round_: int, proposal_id: int, approve: bool, *, sender: Any) -> TxResult:
        """Committee member's yes/no on proposal `proposal_id`."""
        return self._transact(
            "attest_global_model", "attestGlobalModel", round_, proposal_id, approve, sender=sender
        )

    # ------------------------------------------------------------------ views
    def current_round(self) -> int:
        """The last round started (0 before the first)."""
        return self._view(("currentRound",), lambda: int(self._call("currentRound")))

    def phase(self, round_: int) -> RoundPhase:
        """The phase `round_` is in now."""
        return RoundPhase(int(self._contract.phase(round_)))

    def pool(self) -> int:
        """The reward pool in wei."""
        return int(self._contract.pool())

    def global_model(self, round_: int) -> bytes:
        """The global model digest of `round_` (zero bytes while not fixed; round 0 = initial model)."""
        return self._view(
            ("globalModelOf", round_),
            lambda: bytes(self._call("globalModelOf", round_)),
        )

    def model_spec(self) -> bytes:
        """Digest of the model spec CID every node builds its circuit from."""
        return bytes(self._contract.modelSpec())

    def sponsor(self) -> str:
        """The address that deployed the federation."""
        return str(self._contract.sponsor())

    def members(self) -> tuple[str, ...]:
        """Registered clients."""
        return self._view(("members",), lambda: tuple(str(a) for a in self._call("members")))

    def params(self) -> dict[str, int]:
        """The numeric federation parameters as the contract holds them."""
        names = (
            "numRounds minStake commitPeriod revealPeriod votePeriod attestPeriod committeeSize "
            "rewardPerRound slashFractionBps maxParticipants"
        ).split()
        return {n: int(getattr(self._contract, n)()) for n in names}

    def balance(self) -> int:
        """The contract's ETH balance in wei."""
        return int(self._contract.balance)

    def accounting(self) -> dict[str, int]:
        """Balance and its parts: stakes, withdrawable balances, free pool and the open round's reserved reward.

        The contract keeps balance == total_staked + total_withdrawable + pool + reserved.
        """
        return {
            "balance": self.balance(),
            "total_staked": int(self._contract.totalStaked()),
            "total_withdrawable": int(self._contract.totalWithdrawable()),
            "pool": self.pool(),
            "reserved": int(self._contract.reserved()),
        }

    def proposal(self, round_: int, proposal_id: int) -> dict[str, Any]:
        """A global-model proposal: cid_digest, poster, yes_mask, no_mask, status (0 pending 1 accepted 2 refused)."""
        cid, poster, yes, no, status = self._contract.getProposal(round_, proposal_id)
        return {
            "cid_digest": bytes(cid),
            "poster": str(poster),
            "yes_mask": int(yes),
            "no_mask": int(no),
            "status": int(status),
        }

    def client_view(self, address: Any) -> ClientView:
        """A client's stake, reputation, withdrawable balance and latest commitment."""
        address = str(getattr(address, "address", address))
        return self._view(("getClient", address.lower()), lambda: self._client_view(address))

    def _client_view(self, address: str) -> ClientView:
        v = self._call("getClient", address)
        return ClientView(
            address=address,
            registered=bool(v.registered),
            stake=int(v.stake),
            reputation=int(v.reputation),
            withdrawable=int(v.withdrawable),
            eligible_from=int(v.eligibleFrom),
            commit_round=int(v.commitRound),
            revealed=bool(v.revealed),
            samples=int(v.samples),
        )

    def round_view(self, round_: int) -> RoundView:
        """A whole round in one call (participants are complete for the current round only)."""
        return self._view(("getRound", round_), lambda: self._round_view(round_))

    def _round_view(self, round_: int) -> RoundView:
        v = self._call("getRound", round_)
        n = int(v.revealCount)
        words = (n + 255) // 256
        raw_votes = [int(x) for x in v.votes]
        committee = tuple(str(a) for a in v.committee)
        votes = tuple(
            tuple(words_to_bits(raw_votes[s * words : (s + 1) * words], n)) for s in range(len(committee))
        )
        participants = tuple(
            ParticipantView(
                client=str(p.client),
                digest=bytes(p.digest),
                revealed=bool(p.revealed),
                reveal_order=int(p.revealOrder),
                samples=int(p.samples),
            )
            for p in v.participants
        )
        return RoundView(
            round=round_,
            phase=RoundPhase(int(v.phase)),
            commit_deadline=int(v.commitDeadline),
            reveal_deadline=int(v.revealDeadline),
            vote_deadline=int(v.voteDeadline),
            attest_deadline=int(v.attestDeadline),
            expected_committers=int(v.expectedCommitters),
            commit_count=int(v.commitCount),
            reveal_count=n,
            accepted_count=int(v.acceptedCount),
            proposal_count=int(v.proposalCount),
            reward=int(v.reward),
            seed=bytes(v.seed),
            start_model=bytes(v.startModel),
            global_model=bytes(v.globalModel),
            committee=committee,
            voted_mask=int(v.votedMask),
            votes=votes,
            accepted=tuple(words_to_bits([int(x) for x in v.acceptedBitmap], n)) if v.acceptedBitmap else (),
            participants=participants,
        )

    def events_since(self, block: int, stop_block: int | None = None) -> list[FederationEvent]:
        """Every federation event from `block` (inclusive) on, decoded, in chain order."""
        abis = list(self._contract.contract_type.events)
        provider = self._contract.provider
        head = provider.get_block("latest").number if stop_block is None else stop_block
        if head is None or block > head:
            return []
        log_filter = LogFilter(
            addresses=[self._contract.address], events=abis, start_block=block, stop_block=head
        )
        logs = [_to_event(log) for log in provider.get_contract_logs(log_filter)]
        return sorted(logs, key=lambda e: (e.block_number, e.log_index))


def deploy_federation(project: Any, sender: Any, params: FederationParams, fund_wei: int = 0) -> Federation:
    """Deploy a QFLFederation from `sender` with `params`, funding the pool with `fund_wei`."""
    kwargs = {"value": fund_wei} if fund_wei else {}
    try:
        contract = sender.deploy(project.QFLFederation, params.as_tuple(), **kwargs)
    except ContractLogicError as exc:
        raise _custom_error("deploy", exc, project.QFLFederation.contract_type) from exc
    return Federation(contract)
