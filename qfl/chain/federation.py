"""Typed binding to `QFLFederation`: every transaction returns a TxResult and feeds a GasLedger.

The node, simulator and CLI use this module only; they never touch ape contract objects.
"""

from __future__ import annotations

import ast
import bisect
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from ape.exceptions import ContractLogicError, OutOfGasError, VirtualMachineError
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError as Web3ContractLogicError
from web3.exceptions import TransactionNotFound, Web3RPCError

from qfl.chain.errors import ChainUnavailable, FederationError, TransactionNotMined
from qfl.chain.fees import FeeLedger, TxFee, detect_fee_kind, load_l1_fee_params, transaction_fee
from qfl.chain.networks import fee_kind
from qfl.chain.sender import FeeCache, JsonRpc, NonceBook, local_signer, receipt_of, rpc, sign_raw
from qfl.chain.types import (
    ClientView,
    FederationEvent,
    FederationParams,
    GasLedger,
    ProposalStatus,
    ProposalView,
    RevealedUpdate,
    RoundPhase,
    RoundView,
    SeatFlag,
    TrainerOutcome,
    TrainerSettlement,
    TxResult,
    ValidatorOutcome,
    ValidatorSettlement,
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
    if isinstance(value, SimpleNamespace):
        return {k: _plain(v) for k, v in vars(value).items()}
    return str(value)


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


def _custom_error(method: str, exc: Exception, contract_type: Any = None) -> FederationError:
    """The FederationError naming the contract's custom error (or the raw revert message), from ape's
    ContractLogicError or web3's (whose `data` holds the revert bytes)."""
    abi = getattr(exc, "abi", None)
    if abi is not None and getattr(abi, "type", "") == "error":
        inputs = getattr(exc, "inputs", {}) or {}
        return FederationError(method, abi.name, {k: _plain(v) for k, v in inputs.items()})
    raw = getattr(exc, "data", None)
    data = _revert_data(raw) if isinstance(raw, str) else None
    if data is None:
        data = _revert_data(str(getattr(exc, "message", "") or ""))
    if data is not None and len(data) >= 4 and contract_type is not None:
        # Some providers hand back the revert bytes undecoded: match the selector ourselves.
        for err in contract_type.errors:
            if function_signature_to_4byte_selector(err.selector) == data[:4]:
                types = [i.canonical_type for i in err.inputs]
                values = decode(types, data[4:])
                return FederationError(
                    method,
                    err.name,
                    {i.name: _plain(_named(i, v)) for i, v in zip(err.inputs, values, strict=True)},
                )
    return FederationError(method, "Revert", message=str(exc))


def _out_of_gas(exc: Exception) -> bool:
    """Whether ape's error is an out-of-gas failure (ape raises OutOfGasError, or a plain VirtualMachineError
    whose message says so, depending on the provider)."""
    if isinstance(exc, OutOfGasError):
        return True
    text = str(exc).lower()
    if "out of gas" in text or "outofgas" in text:
        return True
    receipt = getattr(getattr(exc, "txn", None), "receipt", None) or getattr(exc, "receipt", None)
    try:
        return int(receipt.gas_used) >= int(receipt.gas_limit) > 0
    except (AttributeError, TypeError, ValueError):
        return False


class _BoundedHTTPProvider(HTTPProvider):
    """web3's HTTP provider with a short request timeout, no silent retries, and every connection failure or
    timeout raised as ChainUnavailable (ape's own provider waits up to 30 minutes per request)."""

    def make_request(self, method: Any, params: Any) -> Any:
        try:
            return super().make_request(method, params)
        except ChainUnavailable:
            raise
        except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
            raise ChainUnavailable(f"RPC node {self.endpoint_uri} did not answer {method}: {exc}") from exc


def _rpc_url(provider: Any) -> str | None:
    """The HTTP RPC URL of an ape provider talking to a node (anvil, geth, a hosted endpoint); None for the
    in-process EthTester chain, whose 'URL' is only a default."""
    if getattr(provider, "name", "") == "test":
        return None
    try:
        endpoint = getattr(provider.web3.provider, "endpoint_uri", None) or provider.http_uri
    except Exception:  # noqa: BLE001 - providers without an HTTP endpoint (IPC, websockets)
        return None
    return str(endpoint) if endpoint and str(endpoint).startswith(("http://", "https://")) else None


@dataclass
class _InFlight:
    """A transaction signed for `nonce` and handed to the node, with no receipt yet: every signature made for
    that nonce (re-sent or replaced at a higher fee) by hash, with the call it carries and its raw bytes."""

    nonce: int
    gas: int
    max_fee: int
    tip: int
    sent_at: float
    signed: dict[str, tuple[tuple, bytes]] = field(default_factory=dict)
    latest: str = ""  # the hash of the newest signature
    tx: dict = field(default_factory=dict)  # the newest signature's call as a transaction dict
    bumps: int = 0  # fee raises so far (at most MAX_FEE_BUMPS)


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


class _EventDecoder:
    """Raw logs -> FederationEvent by plain eth_abi, and the topic0 of every event by name."""

    def __init__(self, contract_type: Any, address: str):
        self.address = address.lower()
        self.by_topic: dict[bytes, Any] = {}
        self.topic_of: dict[str, str] = {}
        for abi in contract_type.events:
            topic = keccak(text=abi.selector)
            self.by_topic[topic] = abi
            self.topic_of[abi.name] = "0x" + topic.hex()

    def decode(self, raw: Any) -> FederationEvent | None:
        if str(raw["address"]).lower() != self.address:
            return None
        topics = [bytes(HexBytes(t)) for t in raw["topics"]]
        abi = self.by_topic.get(topics[0]) if topics else None
        if abi is None:
            return None
        indexed = [i for i in abi.inputs if i.indexed]
        plain = [i for i in abi.inputs if not i.indexed]
        args: dict[str, Any] = {}
        for item, topic in zip(indexed, topics[1:], strict=True):
            args[item.name] = _plain(_named(item, decode([item.canonical_type], topic)[0]))
        values = decode([i.canonical_type for i in plain], bytes(HexBytes(raw["data"])))
        for item, value in zip(plain, values, strict=True):
            args[item.name] = _plain(_named(item, value))
        return FederationEvent(
            name=abi.name,
            block_number=int(raw["blockNumber"]),
            log_index=int(raw["logIndex"]),
            tx_hash=HexBytes(raw["transactionHash"]).to_0x_hex(),
            args={i.name: args[i.name] for i in abi.inputs},
        )


@dataclass
class _LogCursor:
    """Events of one query (a round's, or the membership's): final below `next_block`; those of
    `next_block` itself (the newest block read) are read again next time, in case a node served that block
    before all its logs."""

    next_block: int
    events: list[FederationEvent] = field(default_factory=list)


def _key(event: FederationEvent) -> tuple[int, int]:
    return (event.block_number, event.log_index)


@dataclass
class _RoundFold:
    """A round's events, in chain order, folded into the parts of a RoundView that only events hold."""

    seen: int = 0  # events folded
    last: tuple[int, int] | None = None  # (block, log index) of the last one
    counts: Counter = field(default_factory=Counter)
    orders: set[int] = field(default_factory=set)
    committers: list[str] = field(default_factory=list)
    reveals: list[RevealedUpdate] = field(default_factory=list)  # by reveal order
    scores: dict[str, bytes] = field(default_factory=dict)
    settlements: dict[str, TrainerSettlement] = field(default_factory=dict)
    validator_settlements: dict[str, ValidatorSettlement] = field(default_factory=dict)
    proposal_events: list[FederationEvent] = field(default_factory=list)

    def add(self, e: FederationEvent) -> None:
        self.counts[e.name] += 1
        if e.name == "UpdateCommitted":
            self.committers.append(e["client"])
        elif e.name == "UpdateRevealed":
            update = RevealedUpdate(
                client=e["client"],
                reveal_order=int(e["revealOrder"]),
                cid_digest=e["cidDigest"],
                samples=int(e["samples"]),
                reputation=int(e["reputation"]),
            )
            self.orders.add(update.reveal_order)
            bisect.insort(self.reveals, update, key=lambda u: u.reveal_order)
        elif e.name == "VoteRevealed":
            self.scores[e["validator"]] = bytes(e["scores"])
        elif e.name == "TrainerSettled":
            self.settlements[e["client"]] = TrainerSettlement(
                client=e["client"],
                outcome=TrainerOutcome(int(e["outcome"])),
                score=int(e["score"]),
                reputation=int(e["reputation"]),
                reward=int(e["reward"]),
                slashed=int(e["slashed"]),
            )
        elif e.name == "ValidatorSettled":
            self.validator_settlements[e["validator"]] = ValidatorSettlement(
                validator=e["validator"],
                outcome=ValidatorOutcome(int(e["outcome"])),
                agreed=int(e["agreed"]),
                decisions=int(e["decisions"]),
                reputation=int(e["reputation"]),
                reward=int(e["reward"]),
                slashed=int(e["slashed"]),
            )
        elif e.name.startswith("GlobalModel"):
            self.proposal_events.append(e)


# Events whose first indexed argument is the round: a round's events are one topic-filtered query.
ROUND_EVENTS = (
    "RoundStarted",
    "UpdateCommitted",
    "UpdateRevealed",
    "DrawArmed",
    "CommitteeSelected",
    "VoteCommitted",
    "VoteRevealed",
    "TrainerSettled",
    "ValidatorSettled",
    "ReserveReleased",
    "GlobalModelPosted",
    "GlobalModelAttested",
    "GlobalModelAccepted",
    "GlobalModelRefused",
    "GlobalModelCarriedOver",
)
MEMBERSHIP_EVENTS = ("ClientRegistered", "ClientLeft")

# web3's default middleware (by name) that ape's web3 carries and the binding's own client leaves out: the
# binding checksums its addresses, sets its own fees and gas, and knows its chain.
WEB3_DEFAULT_MIDDLEWARE = frozenset(
    {"gas_price_strategy", "ens_name_to_address", "validation", "gas_estimate"}
)

PARAM_NAMES = (
    "numRounds minStake commitPeriod revealPeriod votePeriod attestPeriod committeeSize cohortSize "
    "rewardPerRound slashFractionBps maxSamples maxShareBps rejoinCooldown"
).split()


class Federation:
    """One deployed QFLFederation; signers are ape accounts passed as `sender`.

    Reads go through plain eth_call. What a round's storage no longer holds (reveals, revealed scores,
    settlements, proposals) comes from its events, read incrementally: each round keeps a cursor and only
    blocks after the last read are queried, in one topic-filtered `eth_getLogs` per read.
    """

    # A view result is reused while the chain head has not moved and for at most this many seconds (phases
    # can also turn by wall-clock time with no new block, so a cached read never outlives a second).
    VIEW_TTL = 1.0

    # Sending on a node reached by URL (`_send`). Gas limit = estimate x GAS_MULTIPLIER + GAS_EXTRA, at most
    # GAS_CAP: a committee draw's cost changes with prevrandao from block to block (200k to 306k gas for five
    # seats on anvil, three draws in a row), and a racing transaction can make an attest or a settle cost more
    # than when estimated; EIP-7825 caps a transaction at 16,777,216 gas. The same margin as ape-config's
    # for Sepolia. `gas_multiplier` can be set per object (tests use it to force an out-of-gas).
    GAS_MULTIPLIER = 2.0
    GAS_EXTRA = 20_000
    GAS_CAP = 15_000_000
    RPC_TIMEOUT = 10.0  # seconds per JSON-RPC request
    FEE_BUMP = 1.15  # a replacement pays this much more (nodes want at least 10% more to replace)
    MAX_FEE_BUMPS = 5  # then the same signature is only re-sent: at most 1.15**5 = 2x the fees of the first

    def __init__(self, contract: Any, from_block: int = 0, *, sole_writer: bool = False):
        self._contract = contract
        # Every transaction to the contract goes through this object (the in-process simulator, where all
        # nodes share one binding): its receipts then hold every event, and no log query is needed.
        self.sole_writer = sole_writer
        self._own_events: list[FederationEvent] = []
        # Stronger: nothing else sends to the chain at all (the in-process simulator): every new block is one
        # of this binding's transactions or a clock warp it is told of (`head_moved`), so the head and the
        # current round are known without asking (see `_head`, `current_round`).
        self.sole_sender = False
        self.gas = GasLedger()
        self.fees = FeeLedger()  # what each sender paid: L2 execution and L1 data fees (qfl.chain.fees)
        self._fee_kind: str | None = None  # found on the first transaction
        self.from_block = int(from_block)  # no federation event is older (the deployment block)
        self._views: dict[tuple, tuple[int, float, Any]] = {}
        self._address = str(contract.address)
        # On a node reached by URL the binding reads and sends through its own web3 client (bounded timeouts,
        # ChainUnavailable on failure) and signs its transactions itself (see `_send`); on ape's in-process
        # EthTester chain it uses ape's web3 and ape's send path.
        self._rpc_url = _rpc_url(contract.provider)
        if self._rpc_url:
            provider = _BoundedHTTPProvider(
                self._rpc_url,
                request_kwargs={"timeout": self.RPC_TIMEOUT},
                exception_retry_configuration=None,
            )
            self._web3 = Web3(provider, middleware=[])  # raw answers, no hidden extra requests
            # The hot path (estimate, send, receipt, eth_call, head) skips web3 and requests altogether.
            self._rpc = JsonRpc(self._rpc_url, self.RPC_TIMEOUT, ChainUnavailable)
            for middleware, name in contract.provider.web3.middleware_onion.middleware:
                # ape's own (a POA chain's extraData fix), not web3's defaults: 'validation' asks the node
                # for its chain id before every estimate and call (an extra request each).
                if name not in WEB3_DEFAULT_MIDDLEWARE:
                    self._web3.middleware_onion.add(middleware, name)
        else:
            self._web3 = contract.provider.web3
        network = contract.provider.network
        self.receipt_timeout = float(network.transaction_acceptance_timeout)
        self.resend_after = max(1.0, min(self.receipt_timeout / 4, 30.0))
        self._inflight: dict[str, _InFlight] = {}
        self.gas_multiplier = self.GAS_MULTIPLIER
        self._estimate_block: str | None = "pending"
        self._chain_id: int | None = None
        self._fees = FeeCache(self._web3)
        self._nonces = NonceBook(self._web3)
        self._signers: dict[str, Any] = {}  # address -> eth_account signer, or None: ape signs
        self._abis: dict[str, Any] = {}
        self._events = _EventDecoder(contract.contract_type, self._address)
        self._round_logs: dict[int, _LogCursor] = {}
        self._folds: dict[int, _RoundFold] = {}
        self._member_log = _LogCursor(self.from_block)
        self._params: dict[str, int] | None = None
        self._call_from: str | None | bool = False  # False: not looked up yet
        self._timestamps: dict[int, int] = {}
        self._known_head: tuple[int, float] | None = None  # (head, when read): see `_head`
        self._round_now: int | None = None  # a sole writer's current round: see `current_round`

    def _call(self, method: str, *args: Any, block: int | None = None) -> Any:
        """A view call by plain eth_call + eth_abi: the node's hot reads, ~5x faster than through ape's
        contract objects (which re-check the code, serialise and decode into pydantic models every time)."""
        abi = self._abis.get(method)
        if abi is None:
            abi = next(a for a in self._contract.contract_type.view_methods if a.name == method)
            self._abis[method] = abi
        types = [i.canonical_type for i in abi.inputs]
        data = function_signature_to_4byte_selector(abi.selector) + encode(types, list(args))
        tx = {"to": self._address, "data": data}
        if self._call_from is False:
            # A local node's first account as the caller: without one, web3's EthTester middleware asks the
            # node for its accounts on every call (and a caller with no ETH cannot pay for the call's gas).
            try:
                accounts = self._web3.eth.accounts
            except Exception:  # noqa: BLE001 - public RPC providers may refuse eth_accounts
                accounts = []
            self._call_from = str(accounts[0]) if accounts else None
        if self._call_from:
            tx["from"] = self._call_from
        if self._rpc_url:  # straight to the node: web3's formatters cost more CPU than the call itself
            request = {**tx, "data": "0x" + data.hex()}
            at = hex(block) if block is not None else "latest"
            raw = HexBytes(rpc(self._rpc, "eth_call", [request, at]))
        else:
            raw = self._web3.eth.call(tx, block) if block is not None else self._web3.eth.call(tx)
        values = decode([o.canonical_type for o in abi.outputs], bytes(raw))
        named = [_named(o, v) for o, v in zip(abi.outputs, values, strict=True)]
        return named[0] if len(named) == 1 else tuple(named)

    def _head(self) -> int:
        """The newest block number. A sole sender keeps it until one of its transactions lands,
        `head_moved()` is called (a block mined outside the binding) or VIEW_TTL passes: the chain mines no
        block but ours (automine), so the many reads of one simulator pass share one head."""
        now = time.monotonic()
        if self.sole_sender and self._known_head is not None and now - self._known_head[1] < self.VIEW_TTL:
            return self._known_head[0]
        if self._rpc_url:
            head = int(rpc(self._rpc, "eth_blockNumber", []), 16)
        else:
            head = int(self._web3.eth.block_number)
        self._known_head = (head, now)
        return head

    def head_moved(self) -> None:
        """A block was mined outside this binding (a clock warp): read the head again."""
        self._known_head = None

    def block_timestamp(self, block: int) -> int:
        """The timestamp of block `block` (the clock a view read at that block saw)."""
        if block not in self._timestamps:
            if len(self._timestamps) > 4096:
                self._timestamps.clear()
            self._timestamps[block] = int(self._web3.eth.get_block(block)["timestamp"])
        return self._timestamps[block]

    def _view(self, key: tuple, read: Callable[[int], Any]) -> Any:
        """`read(head)` once per block: many nodes polling the same round in one process share the answer."""
        head = self._head()
        now = time.monotonic()
        hit = self._views.get(key)
        if hit is not None and hit[0] == head and now - hit[1] < self.VIEW_TTL:
            return hit[2]
        value = read(head)
        if len(self._views) > 4096:
            self._views.clear()
        self._views[key] = (head, now, value)
        return value

    def _logs(self, cursor: _LogCursor, names: Sequence[str], head: int, round_: int | None = None) -> list:
        """`cursor`'s events up to block `head`, querying only the blocks it has not read yet."""
        if head >= cursor.next_block and self.sole_writer:
            wanted = set(names)
            start = bisect.bisect_left(self._own_events, cursor.next_block, key=lambda e: e.block_number)
            cursor.events.extend(
                e
                for e in self._own_events[start:]
                if e.block_number <= head
                and e.name in wanted
                and (round_ is None or e.args.get("round") == round_)
            )
            cursor.next_block = head + 1
        elif head >= cursor.next_block:
            topics: list[Any] = [[self._events.topic_of[n] for n in names]]
            if round_ is not None:
                topics.append("0x" + round_.to_bytes(32, "big").hex())
            raw = self._web3.eth.get_logs(
                {"address": self._address, "fromBlock": cursor.next_block, "toBlock": head, "topics": topics}
            )
            new = [e for e in (self._events.decode(r) for r in raw) if e is not None]
            cursor.events = [e for e in cursor.events if e.block_number < cursor.next_block]
            cursor.events.extend(sorted(new, key=lambda e: (e.block_number, e.log_index)))
            cursor.next_block = head
        return [e for e in cursor.events if e.block_number <= head]

    def round_events(self, round_: int, head: int | None = None) -> list[FederationEvent]:
        """Every event of `round_` (RoundStarted .. GlobalModelAccepted) up to `head`, in chain order."""
        head = self._head() if head is None else head
        cursor = self._round_logs.get(round_)
        if cursor is None:
            cursor = self._round_logs[round_] = _LogCursor(self._round_floor(round_))
        return self._logs(cursor, ROUND_EVENTS, head, round_)

    def _round_floor(self, round_: int) -> int:
        """The first block that can hold an event of `round_`: the start of the latest earlier round read
        (rounds run one after another), else the deployment block."""
        earlier = [r for r in self._round_logs if r < round_]
        for r in sorted(earlier, reverse=True):
            started = [e.block_number for e in self._round_logs[r].events if e.name == "RoundStarted"]
            if started:
                return started[0]
        return self.from_block

    def forget_cache(self) -> None:
        """Drop every answer cached from the chain (views, log cursors, timestamps): after an RPC outage the
        node may be back on a chain that lost its last blocks, whose heads reuse block numbers we cached."""
        self._views.clear()
        self._round_logs.clear()
        self._folds.clear()
        self._timestamps.clear()
        self._known_head = None
        self._round_now = None
        self._member_log = _LogCursor(self.from_block)
        self._nonces.forget()
        self._fees.forget()

    @property
    def own_events(self) -> list[FederationEvent]:
        """Events of the transactions sent through this binding (all of the federation's, when it is the sole
        writer), oldest first."""
        return self._own_events

    def seed_own_events(self, events: Sequence[FederationEvent]) -> None:
        """Start the sole writer's event list from `events` read off the chain (a resumed simulation)."""
        self._own_events = list(events)

    # ------------------------------------------------------------------ construction
    @classmethod
    def at(cls, project: Any, address: str, from_block: int = 0) -> Federation:
        """Attach to a federation already deployed at `address` (in block `from_block`, if known)."""
        return cls(project.QFLFederation.at(address), from_block)

    @property
    def address(self) -> str:
        """The contract address."""
        return self._address

    # ------------------------------------------------------------------ plumbing
    def _transact(self, name: str, method: str, *args: Any, sender: Any, value: int = 0) -> TxResult:
        if self._rpc_url:
            receipt = self._send(name, method, args, value, sender=sender)
            logs, gas_used = receipt["logs"], int(receipt["gasUsed"])
            tx_hash, block = HexBytes(receipt["transactionHash"]).to_0x_hex(), int(receipt["blockNumber"])
        else:
            # EthTester: ape's path, with ape-config's `gas_limit: max` (no estimate run first; one block per
            # transaction, so the block gas limit never leaves another transaction waiting).
            fn = getattr(self._contract, method)
            try:
                receipt = fn(*args, sender=sender, value=value) if value else fn(*args, sender=sender)
            except ContractLogicError as exc:
                raise _custom_error(name, exc, self._contract.contract_type) from exc
            except VirtualMachineError as exc:
                if _out_of_gas(exc):
                    raise FederationError(name, "OutOfGas", message=str(exc)) from exc
                raise
            logs, gas_used = receipt.logs, int(receipt.gas_used)
            tx_hash, block = HexBytes(receipt.txn_hash).to_0x_hex(), int(receipt.block_number)
        events = tuple(e for e in (self._events.decode(log) for log in logs) if e is not None)
        result = TxResult(name=name, gas_used=gas_used, tx_hash=tx_hash, block_number=block, events=events)
        self.gas.record(result)
        self.fees.record(self._fee_of(str(sender.address), receipt))
        # A sole sender on an automining chain: its transaction's block is the head now (read again after
        # VIEW_TTL, or at once after `head_moved`). Anyone else reads the head again.
        self._known_head = (block, time.monotonic()) if self.sole_sender else None
        if self.sole_writer:
            self._own_events.extend(events)
            for e in events:
                if e.name == "RoundStarted":
                    self._round_now = max(self._round_now or 0, int(e["round"]))
        return result

    def round_fees(self, round_: int) -> FeeLedger:
        """What the transactions of `round_` (those that emitted its events: withdrawals are no round's) cost
        their senders, from their receipts: any federation, whoever sent them (`qflchain history --fees`)."""
        ledger = FeeLedger()
        for tx_hash in dict.fromkeys(e.tx_hash for e in self.round_events(round_)):
            receipt = dict(self._web3.eth.get_transaction_receipt(tx_hash))
            ledger.record(self._fee_of(str(receipt["from"]), receipt))
        ledger.kind = self.fees.kind
        return ledger

    def _fee_of(self, sender: str, receipt: Any) -> TxFee:
        """What the transaction of `receipt` (a JSON-RPC receipt dict, or ape's receipt on EthTester) cost."""
        if self._fee_kind is None:
            kind = fee_kind(self._contract.provider.network.ecosystem.name)
            # A bare URL is signed for as ethereum:local even on `anvil --optimism`: ask the node.
            self._fee_kind = self.fees.kind = detect_fee_kind(kind, self._web3) if self._rpc_url else kind
        if isinstance(receipt, dict):
            fields = receipt
            tx_hash = receipt["transactionHash"]

            def signed() -> bytes | None:
                return bytes(self._web3.eth.get_raw_transaction(tx_hash))
        else:
            fields = {"gasUsed": receipt.gas_used, "effectiveGasPrice": receipt.gas_price or 0}

            def signed() -> bytes | None:
                return bytes(receipt.transaction.serialize_transaction())

        return transaction_fee(self._fee_kind, sender, fields, signed, load_l1_fee_params)

    # ------------------------------------------------------------------ sending on a node reached by URL
    # ape's send path cannot re-send or replace a transaction (it waits for one hash, then raises), so on a
    # node the binding builds, signs and sends the raw transaction itself (qfl.chain.sender: eth_account signs
    # with the key in memory, else the ape account signs; fees cached, nonces counted here):
    #   gas    estimate (against the pending block) x GAS_MULTIPLIER + GAS_EXTRA, at most GAS_CAP;
    #   wait   poll the receipt of every signature made for the nonce; after `resend_after` seconds without
    #          one, re-send the same raw bytes if the node no longer knows the hash (dropped from its pool),
    #          else sign the same call again at the same nonce with FEE_BUMP higher fees (replacement);
    #   bound  after `receipt_timeout` (ape's transaction_acceptance_timeout) raise TransactionNotMined and
    #          remember the nonce: the next send from that account first looks for a receipt of any of its
    #          signatures, so a call is applied at most once, and a different call takes over the nonce.
    def _send(self, name: str, method: str, args: tuple, value: int, *, sender: Any) -> dict:
        address = str(sender.address)
        call = (method, args, int(value))
        flight = self._inflight.get(address)
        if flight is not None:
            receipt, nonce_used = self._landed(flight, address)
            if receipt is not None or nonce_used:
                del self._inflight[address]
                self._nonces.forget(address)  # read the next one from the node
                if receipt is not None and flight.signed[_hash_of(receipt)][0] == call:
                    return self._checked(name, receipt)  # the earlier try landed: not sent twice
                flight = None  # an earlier call (or another sender of this key) took the nonce
            elif flight.signed[flight.latest][0] != call:  # a different call now: it takes over the nonce
                self._sign_and_send(
                    name, flight, sender, call, *self._prepare(name, method, args, address, value)
                )
            elif not self._known(flight.latest):  # the same call, lost (dropped, node restarted): again
                self._broadcast(name, flight, flight.signed[flight.latest][1])
        if flight is None:
            tx = self._prepare(name, method, args, address, value)
            for _ in range(2):
                cached = self._nonces.cached(address)
                flight = _InFlight(nonce=self._nonces.next(address), gas=0, max_fee=0, tip=0, sent_at=0.0)
                self._inflight[address] = flight
                if self._sign_and_send(name, flight, sender, call, *tx, fresh=True) or not cached:
                    break
                # The counted nonce is behind the node's (this key also sent from elsewhere): read it again.
                self._nonces.forget(address)
                del self._inflight[address]
        return self._await(name, flight, sender, call, address)

    def _prepare(self, name: str, method: str, args: tuple, address: str, value: int) -> tuple[dict, int]:
        """The call as a transaction dict, and its gas limit (the estimate with the margin); a call that would
        revert raises its FederationError here, before anything is signed."""
        abi = self._abis.get(("tx", method))
        if abi is None:
            abi = next(a for a in self._contract.contract_type.mutable_methods if a.name == method)
            self._abis[("tx", method)] = abi
        types = [i.canonical_type for i in abi.inputs]
        data = function_signature_to_4byte_selector(abi.selector) + encode(types, list(args))
        tx = {"from": address, "to": self._address, "data": HexBytes(data).to_0x_hex(), "value": int(value)}
        try:
            # Against the pending block: a draw runs only in its armed block, and estimated against the latest
            # block (one before) it takes the cheap not-yet branch: a limit from that runs out of gas.
            request = {**tx, "value": hex(tx["value"])}
            block = [self._estimate_block] if self._estimate_block else []
            answer = rpc(self._rpc, "eth_estimateGas", [request, *block])
            try:
                estimate = int(answer, 16)
            except (TypeError, ValueError) as exc:  # a broken or hostile node: an outage, not a crash
                raise ChainUnavailable(
                    f"RPC node answered eth_estimateGas with {answer!r}; try another node"
                ) from exc
        except Web3ContractLogicError as exc:
            raise _custom_error(name, exc, self._contract.contract_type) from exc
        except Web3RPCError as exc:
            if self._estimate_block == "pending" and "pending" in _rpc_message(exc).lower():
                self._estimate_block = None  # a node without a pending block: its default
                return self._prepare(name, method, args, address, value)
            raise FederationError(name, "Rejected", message=_rpc_message(exc)) from exc
        return tx, _gas_limit(estimate, self.gas_multiplier, self.GAS_EXTRA)

    def _sign_and_send(
        self, name: str, flight: _InFlight, sender: Any, call: tuple, tx: dict, gas: int, fresh: bool = False
    ) -> bool:
        """Sign `tx` at the flight's nonce (fees: the node's price, and at least FEE_BUMP over the flight's
        last signature unless `fresh`) and hand it to the node. False when the node says a fresh signature's
        nonce is too low (the caller counts it again)."""
        if self._chain_id is None:
            self._chain_id = int(self._web3.eth.chain_id)
        if not fresh:
            self._fees.forget()  # a replacement: the node's price now
        tip, max_fee = self._fees.get()
        if not fresh:
            tip = max(tip, int(flight.tip * self.FEE_BUMP) + 1)
            max_fee = max(max_fee, int(flight.max_fee * self.FEE_BUMP) + 1)
            flight.bumps += 1
        address = str(sender.address)
        if address not in self._signers:
            self._signers[address] = local_signer(sender)
        signer = self._signers[address]
        if signer is not None:  # the key is in memory: eth_account signs, no ape on the path
            raw = sign_raw(
                signer,
                {
                    "chainId": self._chain_id,
                    "nonce": flight.nonce,
                    "to": tx["to"],
                    "data": tx["data"],
                    "value": tx["value"],
                    "gas": gas,
                    "maxFeePerGas": max_fee,
                    "maxPriorityFeePerGas": tip,
                    "type": 2,
                },
            )
        else:
            txn = self._contract.provider.network.ecosystem.create_transaction(
                chain_id=self._chain_id,
                nonce=flight.nonce,
                receiver=tx["to"],
                data=tx["data"],
                value=tx["value"],
                gas_limit=gas,
                max_fee=max_fee,
                max_priority_fee=tip,
                type=2,
            )
            signed = sender.sign_transaction(txn)
            if signed is None:
                raise FederationError(name, "NotSigned", message=f"{sender} declined to sign")
            raw = bytes(signed.serialize_transaction())
        tx_hash = "0x" + keccak(raw).hex()
        # Remembered before it leaves: if the send times out, the next try knows what may be out there.
        flight.signed[tx_hash] = (call, raw)
        flight.latest, flight.gas, flight.max_fee, flight.tip, flight.tx = tx_hash, gas, max_fee, tip, tx
        return self._broadcast(name, flight, raw, fresh=fresh)

    def _broadcast(self, name: str, flight: _InFlight, raw: bytes, fresh: bool = False) -> bool:
        """Hand `raw` to the node; False only when a fresh signature's nonce was already used (nothing of
        this flight is out there then: it is forgotten)."""
        flight.sent_at = time.monotonic()
        try:
            rpc(self._rpc, "eth_sendRawTransaction", ["0x" + raw.hex()])
        except Web3RPCError as exc:
            text = _rpc_message(exc).lower()
            if any(s in text for s in ("already known", "already imported", "known transaction")):
                return True  # the node has it
            if fresh and len(flight.signed) == 1 and "nonce too low" in text:
                # Unless the node has this very transaction (a node that took it, then answered "too low":
                # signing the call again at the next nonce would apply it twice).
                return self._known("0x" + keccak(raw).hex())
            if "nonce too low" in text or "underpriced" in text:
                return True  # an earlier signature landed or is still pending: the receipt wait sorts it out
            if "fee" in text:
                self._fees.forget()  # the base fee rose past the cached price: read it again next time
            tx_hash = "0x" + keccak(raw).hex()
            flight.signed.pop(tx_hash, None)
            if not flight.signed:
                self._inflight = {a: f for a, f in self._inflight.items() if f is not flight}
            else:
                flight.latest = next(reversed(flight.signed))
            raise FederationError(name, "Rejected", message=_rpc_message(exc)) from exc
        return True

    # How long a used nonce may show before a receipt of ours does (anvil under load serves the new account
    # state a moment before the receipt) until the nonce counts as taken by another transaction.
    RECEIPT_LAG = 3.0

    def _landed(self, flight: _InFlight, address: str, nonce_check: bool = True) -> tuple[dict | None, bool]:
        """The receipt of whichever signature of `flight` was mined, else (None, whether the nonce is used;
        not asked without `nonce_check`: False)."""
        waited_until = time.monotonic() + self.RECEIPT_LAG
        pause = 0.01
        while True:
            for tx_hash in reversed(flight.signed):
                receipt = receipt_of(self._rpc, tx_hash)
                if receipt is not None:
                    return receipt, True
            if not nonce_check:
                return None, False
            if int(self._web3.eth.get_transaction_count(address, "latest")) <= flight.nonce:
                return None, False
            if time.monotonic() >= waited_until:
                return None, True
            time.sleep(pause)  # the nonce is used: ours, with its receipt not served yet?
            pause = min(pause * 2, 0.25)

    # The receipt poll: at once, then after POLL_FIRST seconds, doubling up to POLL_MAX (web3's own wait
    # sleeps 100 ms; a local node mines in about a millisecond). The account's nonce is only asked once a
    # transaction has been out NONCE_CHECK_AFTER seconds without a receipt.
    POLL_FIRST = 0.002
    POLL_MAX = 0.5
    NONCE_CHECK_AFTER = 0.25

    def _await(self, name: str, flight: _InFlight, sender: Any, call: tuple, address: str) -> dict:
        deadline = time.monotonic() + self.receipt_timeout
        pause = self.POLL_FIRST
        while True:
            slow = time.monotonic() - flight.sent_at >= self.NONCE_CHECK_AFTER
            receipt, nonce_used = self._landed(flight, address, nonce_check=slow)
            if receipt is not None or nonce_used:
                self._inflight.pop(address, None)
                if receipt is None:
                    self._nonces.forget(address)
                    raise FederationError(
                        name, "NonceTaken", message=f"nonce {flight.nonce} of {address} was used by another "
                        "transaction (the same account sending from elsewhere?)",
                    )  # fmt: skip
                self._nonces.landed(address, flight.nonce)
                if flight.signed[_hash_of(receipt)][0] != call:
                    return self._send(name, *call, sender=sender)
                return self._checked(name, receipt)
            now = time.monotonic()
            if now >= deadline:
                raise TransactionNotMined(
                    f"{name}: no receipt for {flight.latest} (nonce {flight.nonce}) within "
                    f"{self.receipt_timeout:.0f}s; it is remembered and resolved by the next send",
                    tx_hash=flight.latest,
                    nonce=flight.nonce,
                )
            if now - flight.sent_at >= self.resend_after:
                if self._known(flight.latest) and flight.bumps < self.MAX_FEE_BUMPS:
                    # Still pending: the same call and gas at the same nonce, paying more. (Not estimated
                    # again: a node's pending state may already hold this very transaction.)
                    self._sign_and_send(name, flight, sender, call, flight.tx, flight.gas)
                else:  # dropped (or fees raised enough): the same bytes again
                    self._broadcast(name, flight, flight.signed[flight.latest][1])
            time.sleep(min(pause, max(0.0, deadline - now)))
            pause = min(pause * 2, self.POLL_MAX)

    def _known(self, tx_hash: str) -> bool:
        """Whether the node knows `tx_hash` (pending or mined); False once it dropped it from its pool."""
        try:
            return self._web3.eth.get_transaction(tx_hash) is not None
        except TransactionNotFound:
            return False

    def _checked(self, name: str, receipt: dict) -> dict:
        """`receipt` if it succeeded; else its FederationError: OutOfGas when it used all its gas, or the
        revert the call gives when replayed on the state of its block (a racing transaction's doing)."""
        if int(receipt["status"]) == 1:
            return receipt
        tx = self._web3.eth.get_transaction(receipt["transactionHash"])
        if int(receipt["gasUsed"]) >= int(tx["gas"]):
            raise FederationError(
                name, "OutOfGas", message=f"used all {int(tx['gas'])} gas in {_hash_of(receipt)}"
            )
        replay = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        try:
            self._web3.eth.call(replay, int(receipt["blockNumber"]))
        except Web3ContractLogicError as exc:
            raise _custom_error(name, exc, self._contract.contract_type) from exc
        except Web3RPCError as exc:
            raise FederationError(name, "Revert", message=_rpc_message(exc)) from exc
        raise FederationError(name, "Revert", message=f"{_hash_of(receipt)} failed; a replay did not revert")

    # ------------------------------------------------------------------ money and membership
    def fund(self, amount_wei: int, *, sender: Any) -> TxResult:
        """Add `amount_wei` to the reward pool."""
        return self._transact("fund", "fund", sender=sender, value=amount_wei)

    def register(self, stake_wei: int, *, sender: Any) -> TxResult:
        """Register `sender` with `stake_wei` of stake (>= min_stake); it may commit from the next round."""
        return self._transact("register", "register", sender=sender, value=stake_wei)

    def add_stake(self, amount_wei: int, *, sender: Any) -> TxResult:
        """Add `amount_wei` to `sender`'s stake."""
        return self._transact("add_stake", "addStake", sender=sender, value=amount_wei)

    def leave(self, *, sender: Any) -> TxResult:
        """Deregister `sender` (every update and committee duty settled first); its stake becomes withdrawable."""
        return self._transact("leave", "leave", sender=sender)

    def activate_stake(self, account: Any, *, sender: Any) -> TxResult:
        """Move `account`'s waiting stake into the committee draw (anyone; a no-op while a draw is ahead)."""
        who = str(getattr(account, "address", account))
        return self._transact("activate_stake", "activateStake", who, sender=sender)

    def emergency_exit(self, *, sender: Any) -> TxResult:
        """Leave without settling, only while the current round is stuck (last resort)."""
        return self._transact("emergency_exit", "emergencyExit", sender=sender)

    def withdraw_stake(self, amount_wei: int, *, sender: Any) -> TxResult:
        """Take `amount_wei` of stake out while staying registered (min_stake must remain; nothing unsettled)."""
        return self._transact("withdraw_stake", "withdrawStake", amount_wei, sender=sender)

    def withdraw_rewards(self, *, sender: Any) -> TxResult:
        """Send `sender` its whole withdrawable balance (rewards and stake released by leave)."""
        return self._transact("withdraw_rewards", "withdraw", sender=sender)

    def sweep_pool(self, *, sender: Any) -> TxResult:
        """Sponsor only, after the last round: move the leftover pool to the sponsor's balance."""
        return self._transact("sweep_pool", "sweepPool", sender=sender)

    def sweep_excess(self, *, sender: Any) -> TxResult:
        """Move ETH forced in without a call (selfdestruct) into the pool (anyone)."""
        return self._transact("sweep_excess", "sweepExcess", sender=sender)

    # ------------------------------------------------------------------ rounds
    def start_round(self, *, sender: Any) -> TxResult:
        """Open the next round; the new number is `result.event('RoundStarted')['round']`."""
        return self._transact("start_round", "startRound", sender=sender)

    def commit_update(self, round_: int, commitment: bytes, *, sender: Any) -> TxResult:
        """Post `make_commitment(cid_digest, salt, samples, sender, round_)`."""
        return self._transact("commit_update", "commitUpdate", round_, commitment, sender=sender)

    def reveal_update(
        self, round_: int, cid_digest: bytes, salt: bytes, samples: int, *, sender: Any
    ) -> TxResult:
        """Reveal the committed CID digest, its salt and the sample count (1..max_samples)."""
        return self._transact(
            "reveal_update", "revealUpdate", round_, cid_digest, salt, samples, sender=sender
        )

    def draw_committee(self, round_: int, *, sender: Any) -> TxResult:
        """Draw the committee (phase SELECT). It runs only in the armed block (the one after the last reveal,
        or after an arming call); a call in any later block only re-arms for the next block (DrawArmed),
        one before it reverts DrawTooEarly. Drawn: event CommitteeSelected."""
        return self._transact("draw_committee", "drawCommittee", round_, sender=sender)

    def commit_vote(self, round_: int, commitment: bytes, *, sender: Any) -> TxResult:
        """Post `make_vote_commitment(scores, salt, sender, round_)` (phase VOTE_COMMIT)."""
        return self._transact("commit_vote", "commitVote", round_, commitment, sender=sender)

    def reveal_vote(self, round_: int, scores: bytes, salt: bytes, *, sender: Any) -> TxResult:
        """Reveal the committed scores: byte i scores `round_view(round_).reveals[i]` (phase VOTE_REVEAL)."""
        return self._transact("reveal_vote", "revealVote", round_, bytes(scores), salt, sender=sender)

    def settle(self, round_: int, trainers: Sequence[str], *, sender: Any) -> TxResult:
        """Settle these committers' updates of `round_` (anyone, once votes are closed; any batch; entries
        already settled are skipped)."""
        batch = [str(getattr(t, "address", t)) for t in trainers]
        return self._transact("settle", "settle", round_, batch, sender=sender)

    def settle_validator(self, round_: int, validator: str, *, sender: Any) -> TxResult:
        """Settle committee member `validator`'s round (anyone; once every update is settled or after the
        cut-off, attest deadline + attest period)."""
        who = str(getattr(validator, "address", validator))
        return self._transact("settle_validator", "settleValidator", round_, who, sender=sender)

    def post_global_model(self, round_: int, cid_digest: bytes, *, sender: Any) -> TxResult:
        """A committee member who revealed scores proposes the round's aggregate, once; the id is event
        'GlobalModelPosted'."""
        return self._transact("post_global_model", "postGlobalModel", round_, cid_digest, sender=sender)

    def attest_global_model(self, round_: int, proposal_id: int, approve: bool, *, sender: Any) -> TxResult:
        """A committee member who revealed scores says yes/no to `proposal_id` with all its seats; accepted
        once yes-seats are more than half of the revealed seats."""
        return self._transact(
            "attest_global_model", "attestGlobalModel", round_, proposal_id, approve, sender=sender
        )

    def close_round(self, round_: int, *, sender: Any) -> TxResult:
        """Store a done round's global model (startRound does it for the previous round)."""
        return self._transact("close_round", "closeRound", round_, sender=sender)

    def release_reserve(self, round_: int, *, sender: Any) -> TxResult:
        """Return what is left of a done, fully settled round's reserve to the pool (anyone)."""
        return self._transact("release_reserve", "releaseReserve", round_, sender=sender)

    # ------------------------------------------------------------------ views
    def current_round(self) -> int:
        """The last round started (0 before the first). A sole sender reads it once, then follows its own
        RoundStarted events (every startRound goes through it)."""
        if self.sole_sender and self._round_now is not None:
            return self._round_now
        value = self._view(("currentRound",), lambda head: int(self._call("currentRound", block=head)))
        if self.sole_sender:
            self._round_now = value
        return value

    def phase(self, round_: int) -> RoundPhase:
        """The phase `round_` is in now."""
        return RoundPhase(int(self._call("phase", round_)))

    def pool(self) -> int:
        """The free reward pool in wei."""
        return int(self._call("pool"))

    def global_model(self, round_: int) -> bytes:
        """The global model digest of `round_` (zero bytes until it is done; round 0 = initial model)."""
        return self._view(
            ("globalModelOf", round_), lambda head: bytes(self._call("globalModelOf", round_, block=head))
        )

    def model_spec(self) -> bytes:
        """Digest of the model spec CID every node builds its circuit from."""
        return bytes(self._call("modelSpec"))

    def sponsor(self) -> str:
        """The address that deployed the federation."""
        return str(self._call("sponsor"))

    def member_count(self) -> int:
        """Registered members now."""
        return self._view(("memberCount",), lambda head: int(self._call("memberCount", block=head)))

    def members(self) -> tuple[str, ...]:
        """Registered members now, in order of (last) registration, from the membership events."""
        head = self._head()
        expected = int(self._call("memberCount", block=head))
        for attempt in range(self.LOG_RETRIES + 1):
            current: dict[str, None] = {}
            for e in self._logs(self._member_log, MEMBERSHIP_EVENTS, head):
                current.pop(e["client"], None)
                if e.name == "ClientRegistered":
                    current[e["client"]] = None
            if len(current) == expected:
                return tuple(current)
            self._member_log = _LogCursor(self.from_block)  # logs behind the state: read them again
            time.sleep(min(0.05 * 2**attempt, 1.0))  # up to ~7 s in all
        raise FederationError(
            "members",
            "EventsMissing",
            message=f"{expected} members at block {head} but the logs from block {self.from_block} show "
            f"{len(current)}: is the node's log index behind, or from_block wrong?",
        )

    def in_cohort(self, round_: int, address: Any) -> bool:
        """Whether `address` holds a cohort seat in `round_` (always, unless the round runs a lottery)."""
        return bool(self._call("inCohort", round_, str(getattr(address, "address", address))))

    def params(self) -> dict[str, int]:
        """The numeric federation parameters as the contract holds them (immutable: read once)."""
        if self._params is None:
            self._params = {n: int(self._call(n)) for n in PARAM_NAMES}
        return dict(self._params)

    def min_validator_reputation(self) -> int:
        """Members below this reputation hold no weight in committee draws (a contract constant)."""
        return self._view(
            ("MIN_VALIDATOR_REPUTATION",), lambda head: int(self._call("MIN_VALIDATOR_REPUTATION"))
        )

    def balance(self) -> int:
        """The contract's ETH balance in wei."""
        return int(self._web3.eth.get_balance(self._address))

    def accounting(self) -> dict[str, int]:
        """Balance and its parts; the contract keeps
        balance == total_staked + total_withdrawable + pool + reserved + burned (+ ETH forced in, swept by
        `sweep_excess`). Slashed stake is burned: locked in the contract for good."""
        return {
            "balance": self.balance(),
            "total_staked": int(self._call("totalStaked")),
            "total_withdrawable": int(self._call("totalWithdrawable")),
            "pool": self.pool(),
            "reserved": int(self._call("reserved")),
            "burned": int(self._call("burned")),
        }

    def proposal(self, round_: int, proposal_id: int) -> dict[str, Any]:
        """`getProposal`: cid_digest, poster, yes_seats, no_seats, attested_mask (bit p-1 = position p
        attested), status (0 pending, 1 accepted, 2 refused)."""
        cid, poster, yes, no, attested, status = self._call("getProposal", round_, proposal_id)
        return {
            "cid_digest": bytes(cid),
            "poster": str(poster),
            "yes_seats": int(yes),
            "no_seats": int(no),
            "attested_mask": int(attested),
            "status": ProposalStatus(int(status)),
        }

    def score_of(self, round_: int, position: int, index: int) -> int:
        """Score committee position `position` (from 1) gave the `index`-th revealed update (0 if none)."""
        return int(self._call("scoreOf", round_, position, index))

    def client_view(self, address: Any) -> ClientView:
        """A member's stake, reputation, withdrawable balance, latest update and open duties."""
        address = str(getattr(address, "address", address))
        return self._view(("getClient", address.lower()), lambda head: self._client_view(address, head))

    def _client_view(self, address: str, head: int) -> ClientView:
        v = self._call("getClient", address, block=head)
        return ClientView(
            address=address,
            registered=bool(v.registered),
            stake=int(v.stake),
            reputation=int(v.reputation),
            withdrawable=int(v.withdrawable),
            eligible_from=int(v.eligibleFrom),
            commit_round=int(v.commitRound),
            revealed=bool(v.revealed),
            settled=bool(v.settled),
            samples=int(v.samples),
            reveal_order=int(v.revealOrder),
            pending_duties=int(v.pendingDuties),
            draw_weight=int(v.drawWeight),
            cooldown_until=int(v.cooldownUntil),
        )

    def round_view(self, round_: int) -> RoundView:
        """A round: `getRound` and the round's events, both read at the same block."""
        return self._view(("getRound", round_), lambda head: self._round_view(round_, head))

    # How often a round's logs are read again when they disagree with its counters at the same block.
    LOG_RETRIES = 10

    def _round_view(self, round_: int, head: int) -> RoundView:
        v = self._call("getRound", round_, block=head)
        for attempt in range(self.LOG_RETRIES + 1):
            fold = self._fold(round_, self.round_events(round_, head))
            counts, orders = fold.counts, fold.orders
            if (
                counts["UpdateCommitted"] == int(v.commitCount)
                and len(fold.reveals) == len(orders) == int(v.revealCount)
                and (not orders or (min(orders) == 0 and max(orders) == len(orders) - 1))
                and counts["VoteRevealed"] == int(v.voteReveals)
                and counts["TrainerSettled"] == int(v.settledCount)
                and counts["GlobalModelPosted"] == int(v.proposalCount)
            ):
                break
            # A node can report a block before its logs are served (seen on anvil under load): read the
            # round's logs again from its first block, after a short pause.
            self._round_logs.pop(round_, None)
            self._folds.pop(round_, None)
            time.sleep(min(0.05 * 2**attempt, 1.0))  # up to ~7 s in all
        else:
            raise FederationError(
                "round_view",
                "EventsMissing",
                message=f"round {round_} at block {head}: its logs from block {self._round_floor(round_)} do not "
                f"match its counters ({int(v.revealCount)} reveals, {len(orders)} in the logs); is the node's "
                "log index behind, or from_block wrong?",
            )
        committee = tuple(str(a) for a in v.committee)
        seats = tuple(int(s) for s in v.seats)
        return RoundView(
            round=round_,
            block=head,
            phase=RoundPhase(int(v.phase)),
            commit_deadline=int(v.commitDeadline),
            reveal_deadline=int(v.revealDeadline),
            vote_commit_deadline=int(v.voteCommitDeadline),
            vote_reveal_deadline=int(v.voteRevealDeadline),
            attest_deadline=int(v.attestDeadline),
            expected_committers=int(v.expectedCommitters),
            commit_count=int(v.commitCount),
            reveal_count=int(v.revealCount),
            settled_count=int(v.settledCount),
            decided_count=int(v.decidedCount),
            vote_commits=int(v.voteCommits),
            vote_reveals=int(v.voteReveals),
            validators_settled=int(v.validatorsSettled),
            proposal_count=int(v.proposalCount),
            total_seats=int(v.totalSeats),
            lottery=bool(v.lottery),
            draw_block=int(v.drawBlock),
            reward=int(v.reward),
            reserve_left=int(v.reserveLeft),
            weight_sum=int(v.weightSum),
            revealed_seats=int(v.revealedSeats),
            cohort_seed=int(v.cohortSeed),
            committee_seed=bytes(v.committeeSeed),
            start_model=bytes(v.startModel),
            global_model=bytes(v.globalModel),
            committee=committee,
            seats=seats,
            seat_flags=tuple(SeatFlag(int(f)) for f in v.seatFlags),
            committers=tuple(fold.committers),
            reveals=tuple(fold.reveals),
            scores=dict(fold.scores),
            settlements=dict(fold.settlements),
            validator_settlements=dict(fold.validator_settlements),
            proposals=_proposals(fold.proposal_events, committee, seats),
        )

    def _fold(self, round_: int, events: list[FederationEvent]) -> _RoundFold:
        """The round's events folded into what RoundView holds, folding only the events not seen before:
        a view per block would otherwise re-walk every event of the round (quadratic in the federation's
        size over a round). Refolded from scratch when the event list no longer starts with what was folded
        (a cursor read again)."""
        fold = self._folds.get(round_)
        if (
            fold is None
            or fold.seen > len(events)
            or (fold.seen and _key(events[fold.seen - 1]) != fold.last)
        ):
            fold = self._folds[round_] = _RoundFold()
        for e in events[fold.seen :]:
            fold.add(e)
        fold.seen = len(events)
        fold.last = _key(events[-1]) if events else None
        return fold

    def events_since(self, block: int, stop_block: int | None = None) -> list[FederationEvent]:
        """Every federation event from `block` (inclusive) to `stop_block` (default: the head), decoded, in
        chain order. One query over the whole range: for a round's events use `round_events`."""
        head = self._head() if stop_block is None else stop_block
        if block > head:
            return []
        raw = self._web3.eth.get_logs({"address": self._address, "fromBlock": block, "toBlock": head})
        events = [e for e in (self._events.decode(r) for r in raw) if e is not None]
        return sorted(events, key=lambda e: (e.block_number, e.log_index))


def _proposals(events: Sequence[FederationEvent], committee: Sequence[str], seats: Sequence[int]) -> tuple:
    """The round's proposals rebuilt from GlobalModelPosted/Attested/Accepted/Refused events."""
    seats_of = {m.lower(): s for m, s in zip(committee, seats, strict=True)}
    posted: dict[int, dict[str, Any]] = {}
    for e in events:
        if e.name == "GlobalModelPosted":
            posted[int(e["proposalId"])] = {
                "cid": e["cidDigest"],
                "poster": e["poster"],
                "attested": {},
                "status": ProposalStatus.PENDING,
            }
        elif e.name == "GlobalModelAttested" and int(e["proposalId"]) in posted:
            posted[int(e["proposalId"])]["attested"][e["validator"]] = bool(e["approve"])
        elif e.name == "GlobalModelAccepted" and int(e["proposalId"]) in posted:
            posted[int(e["proposalId"])]["status"] = ProposalStatus.ACCEPTED
        elif e.name == "GlobalModelRefused" and int(e["proposalId"]) in posted:
            posted[int(e["proposalId"])]["status"] = ProposalStatus.REFUSED
    return tuple(
        ProposalView(
            id=pid,
            cid_digest=p["cid"],
            poster=p["poster"],
            yes_seats=sum(seats_of.get(a.lower(), 0) for a, yes in p["attested"].items() if yes),
            no_seats=sum(seats_of.get(a.lower(), 0) for a, yes in p["attested"].items() if not yes),
            attested=p["attested"],
            status=p["status"],
        )
        for pid, p in sorted(posted.items())
    )


def _gas_limit(estimate: int, multiplier: float, extra: int) -> int:
    """The gas a transaction declares on a node: its estimate with the margin, within [21,000, GAS_CAP]."""
    gas = int(estimate * multiplier) + extra
    return max(21_000, min(gas, Federation.GAS_CAP))


def _hash_of(receipt: Any) -> str:
    return HexBytes(receipt["transactionHash"]).to_0x_hex()


def _rpc_message(exc: Exception) -> str:
    """The node's message in a web3 RPC error (web3 puts the JSON-RPC error dict in args[0])."""
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, dict):
        return str(detail.get("message", detail))
    return str(detail)


def deploy_federation(project: Any, sender: Any, params: FederationParams, fund_wei: int = 0) -> Federation:
    """Deploy a QFLFederation from `sender` with `params`, funding the pool with `fund_wei`."""
    kwargs: dict[str, Any] = {"value": fund_wei} if fund_wei else {}
    container = project.QFLFederation
    if _rpc_url(sender.provider):
        # On a node: the estimate with the binding's margin, not ape-config's `max` for local chains (a
        # whole-block claim, over EIP-7825's per-transaction cap on chains that enforce it).
        types = [i.canonical_type for i in container.contract_type.constructor.inputs]
        code = HexBytes(container.contract_type.deployment_bytecode.bytecode)
        data = bytes(code) + encode(types, [params.as_tuple()])
        tx = {"from": str(sender.address), "data": HexBytes(data).to_0x_hex(), "value": int(fund_wei)}
        try:
            estimate = int(sender.provider.web3.eth.estimate_gas(tx))
        except Web3ContractLogicError as exc:
            raise _custom_error("deploy", exc, container.contract_type) from exc
        kwargs["gas_limit"] = _gas_limit(estimate, Federation.GAS_MULTIPLIER, Federation.GAS_EXTRA)
    try:
        contract = sender.deploy(project.QFLFederation, params.as_tuple(), **kwargs)
    except ContractLogicError as exc:
        raise _custom_error("deploy", exc, project.QFLFederation.contract_type) from exc
    from_block = 0
    if getattr(contract, "txn_hash", None):
        from_block = int(contract.provider.web3.eth.get_transaction_receipt(contract.txn_hash)["blockNumber"])
    return Federation(contract, from_block)
