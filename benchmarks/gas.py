"""Gas of a full Protocol v2 round at 10, 200, 1,000 and 10,000 revealed updates -> benchmarks/results/gas.md.

Run: `.venv/bin/python -m benchmarks.gas` (all four sizes, about three minutes on two cores),
     `.venv/bin/python -m benchmarks.gas --quick` (10 and 200 updates, well under two minutes),
     `.venv/bin/python -m benchmarks.gas --sizes 10,200 [--out PATH] [--no-audit]`.

One anvil per size (node_modules/.bin/anvil, hardfork prague, block gas limit 4e9 so the crowd's batches
fit, mining on demand), contract bytecode from `ape compile` of a snapshot of contracts/ (see
`compile_contracts`), and plain JSON-RPC (no ape at run time, no qfl.chain). A committee of 64 seats judges
every round; the 10,000-update round runs among 100,000 registered members (cohortSize 10,000 < members, so
the cohort lottery is on).

Who sends what:
- the crowd: `contracts/test/BenchCrowd.sol` creates thousands of members (EIP-1167 clones) and registers,
  commits and reveals for many of them in one transaction. Crowd transactions are never measured.
- measured clients: a few EOAs with local keys among the crowd; every per-client number (register, commit,
  reveal, settling its own update, withdraw, leave) is the receipt of a real signed single-member transaction.
- committee members are whoever the draw picks (mostly clones): each sends its own commitVote, revealVote,
  postGlobalModel and attestGlobalModel as a real transaction from its own address (anvil impersonation: no
  key, same gas as a signed transaction).
- anyone (a keeper address, impersonated): startRound, drawCommittee, settle in batches, settleValidator,
  releaseReserve.
Every measured transaction is sent with gas limit 16,777,216 (the EIP-7825 per-transaction cap), so it
could not have succeeded above the cap; the report also checks the largest receipt against it.

Each size plays two rounds: round 1 (every cohort member commits for the first time, n updates revealed) and
round 2 (the measured clients commit again; one crowd committer withholds its reveal, so reveals close by
deadline and the draw is armed first). Before the sizes, a traced 10-member federation
(`debug_traceTransaction`, anvil --steps-tracing) lists every SSTORE of register, commit and reveal by slot,
to account for the first-round commit surcharge.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_abi import decode, encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parent.parent
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
REPORT = ROOT / "benchmarks" / "results" / "gas.md"

TX_CAP = 16_777_216  # EIP-7825: most gas one transaction may use (Osaka)
BLOCK_GAS = 4_000_000_000  # anvil's block gas limit here: several crowd batches or 64 votes per block
CROWD_TX_GAS = 1_000_000_000  # gas limit of one crowd transaction (never measured)
ETHER = 10**18
SEATS = 64
COHORT = 10_000
SIZES = (10, 200, 1_000, 10_000)
QUICK = (10, 200)
LOTTERY_MEMBERS = {10_000: 100_000}  # registered members per size when not equal to the size
MEASURED = 8  # EOAs with local keys that commit and reveal in each round
SETTLE_BATCH = 32  # updates per settle transaction of the keeper (one score word: ~8M gas)
CROWD_REGISTER_BATCH = 2_000  # members created and registered per crowd transaction (~0.4G gas)
CROWD_UPDATE_BATCH = 2_000  # commits or reveals per crowd transaction
PERIOD = 7 * 24 * 3600
REJECT_EVERY = 10  # update i is scored 0 (rejected, slashed) when i % 10 == 3; the others 200

PARAMS_TYPE = "(bytes32,bytes32,uint32,uint256,uint64,uint64,uint64,uint64,uint16,uint32,uint256,uint16,uint32,uint16,uint64)"
MEMBERS_SLOT = 13  # storage slot of FederationState._members (see `slot_name`)


# ------------------------------------------------------------------ artifacts


def compile_contracts() -> Path:
    """Compile a snapshot of contracts/ with ape (the only use of ape here) and return its manifest.

    The snapshot lives in the system temp folder (ape skips sources under .build/) and only changed files
    are copied, so a second run compiles nothing. A private copy, because ape's incremental build
    of the shared .build can keep bytecode older than the sources when a file changes during a compile
    (seen here: .build held a QFLFederation without `register`'s commitment-slot write).
    """
    tag = keccak(text=str(ROOT)).hex()[:8]
    snap = Path(tempfile.gettempdir()) / f"qflchain-bench-compile-{tag}"
    (snap / "contracts").mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(ROOT) for p in (ROOT / "contracts").rglob("*.sol")}
    wanted.add(Path("ape-config.yaml"))
    for rel in wanted:
        src, dst = ROOT / rel, snap / rel
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    for p in (snap / "contracts").rglob("*.sol"):
        if p.relative_to(snap) not in wanted:
            p.unlink()
    env = dict(os.environ)
    env.setdefault("SOLCX_BINARY_PATH", str(ROOT / "tools" / "solc"))
    env.setdefault("APE_DATA_FOLDER", str(ROOT / ".ape-data"))
    env["PATH"] = f"{ROOT / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    ape = Path(sys.executable).parent / "ape"
    cmd = [str(ape), "compile"] if ape.exists() else [sys.executable, "-m", "ape", "compile"]
    out = subprocess.run(cmd, cwd=snap, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"ape compile failed:\n{out.stdout}\n{out.stderr}")
    manifest = snap / ".build" / "__local__.json"
    build = json.loads(manifest.read_text())
    for rel in wanted - {Path("ape-config.yaml")}:  # the manifest must describe exactly these sources
        if build["sources"].get(str(rel), {}).get("content") != (ROOT / rel).read_text():
            raise SystemExit(f"compiled sources differ from {rel}: rerun (a contract changed meanwhile?)")
    return manifest


def _abi_type(p: dict) -> str:
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in p["components"]) + ")" + t[len("tuple") :]
    return t


class Artifact:
    """ABI and bytecode of one contract from .build/__local__.json; encodes calls, decodes results."""

    def __init__(self, name: str, build: dict):
        ct = build["contractTypes"][name]
        self.name = name
        self.bytecode = bytes.fromhex(ct["deploymentBytecode"]["bytecode"].removeprefix("0x"))
        self.runtime_size = len(ct["runtimeBytecode"]["bytecode"].removeprefix("0x")) // 2
        self.functions: dict[str, tuple[bytes, list[str], list[str]]] = {}
        self.struct_fields: dict[str, list[str]] = {}
        self.events: dict[bytes, tuple[str, list[dict]]] = {}
        self.errors: dict[str, str] = {}
        for item in ct["abi"]:
            if item["type"] == "function":
                ins = [_abi_type(i) for i in item["inputs"]]
                outs = [_abi_type(o) for o in item["outputs"]]
                sel = keccak(text=f"{item['name']}({','.join(ins)})")[:4]
                self.functions[item["name"]] = (sel, ins, outs)
                if len(item["outputs"]) == 1 and item["outputs"][0]["type"] == "tuple":
                    self.struct_fields[item["name"]] = [c["name"] for c in item["outputs"][0]["components"]]
            elif item["type"] == "error":
                sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                self.errors["0x" + keccak(text=sig)[:4].hex()] = sig
            elif item["type"] == "event":
                sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                self.events[keccak(text=sig)] = (item["name"], item["inputs"])

    def data(self, fn: str, *args) -> bytes:
        sel, ins, _ = self.functions[fn]
        return sel + encode(ins, list(args))

    def decode_result(self, fn: str, raw: bytes):
        out = decode(self.functions[fn][2], raw)
        return out[0] if len(out) == 1 else out

    def decode_struct(self, fn: str, raw: bytes) -> dict:
        """A function returning one struct, as a dict by field name (robust to fields added later)."""
        (value,) = decode(self.functions[fn][2], raw)
        return dict(zip(self.struct_fields[fn], value, strict=True))

    def decode_logs(self, receipt: dict) -> list[tuple[str, dict]]:
        """(event name, args) for the logs of this ABI in a receipt."""
        found = []
        for log in receipt["logs"]:
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            if not topics or topics[0] not in self.events:
                continue
            name, inputs = self.events[topics[0]]
            indexed = [i for i in inputs if i.get("indexed")]
            plain = [i for i in inputs if not i.get("indexed")]
            values = dict(
                zip(
                    [i["name"] for i in plain],
                    decode([_abi_type(i) for i in plain], bytes.fromhex(log["data"][2:])),
                    strict=True,
                )
            )
            for i, t in zip(indexed, topics[1:], strict=True):
                values[i["name"]] = decode([_abi_type(i)], t)[0]
            found.append((name, values))
        return found


ERRORS: dict[str, str] = {}  # revert selectors of the loaded contracts, for readable failures


def load_artifacts(manifest: Path) -> dict[str, Artifact]:
    build = json.loads(manifest.read_text())
    arts = {n: Artifact(n, build) for n in ("QFLFederation", "BenchCrowd")}
    for a in arts.values():
        ERRORS.update(a.errors)
    return arts


# ------------------------------------------------------------------ anvil and transactions


class TxFailed(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def anvil_version() -> str:
    out = subprocess.run([str(ANVIL), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].removeprefix("anvil Version: ").strip() if out else "?"


class Node:
    """An anvil process that mines only when asked (`flush`), and raw JSON-RPC to it.

    anvil's cost per block grows with the state (about a second per block at 25,000 members, several at
    100,000), so transactions that do not depend on each other are queued and mined together: a phase of
    the round is a handful of blocks, not one block per transaction. Queued transactions are mined in the
    order they were sent (`--order fifo`). Receipts are per transaction, so batching changes no gas figure.
    """

    def __init__(self, *, steps_tracing: bool = False, extra: tuple[str, ...] = ()):
        import requests

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            str(ANVIL),
            "--port", str(self.port),
            "--hardfork", "prague",
            "--gas-limit", str(BLOCK_GAS),
            "--accounts", "1",
            "--auto-impersonate",
            "--no-mining",
            "--order", "fifo",
            "--disable-console-log",
        ]  # fmt: skip
        args.append("--steps-tracing" if steps_tracing else "--prune-history")
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.session = requests.Session()
        self._id = 0
        deadline = time.time() + 30
        while True:
            try:
                self.chain_id = int(self.rpc("eth_chainId"), 16)
                break
            except Exception:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)
        self.nonces: dict[str, int] = {}
        self.blocks = 0

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def rpc(self, method: str, *params):
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        reply = self.session.post(self.url, json=body, timeout=3600).json()
        if "error" in reply:
            raise TxFailed(f"{method}: {reply['error']}")
        return reply["result"]

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))

    def mine(self) -> None:
        self.rpc("evm_mine")
        self.blocks += 1

    def warp(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", hex(seconds))
        self.mine()

    def block(self) -> dict:
        return self.rpc("eth_getBlockByNumber", "latest", False)

    def call(self, to: str, data: bytes) -> bytes:
        return bytes.fromhex(self.rpc("eth_call", {"to": to, "data": "0x" + data.hex()}, "latest")[2:])

    def submit(self, sender, to: str | None, data: bytes, value: int = 0, gas: int = TX_CAP) -> str:
        """Queue one transaction; `sender` is a LocalAccount (signed here) or an address (impersonated)."""
        tx = {"value": value, "gas": gas, "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 0}
        if to is not None:
            tx["to"] = to
        frm = sender if isinstance(sender, str) else sender.address
        if frm not in self.nonces:
            self.nonces[frm] = int(self.rpc("eth_getTransactionCount", frm, "pending"), 16)
        tx["nonce"] = self.nonces[frm]
        self.nonces[frm] += 1
        if isinstance(sender, str):
            tx = {k: hex(v) for k, v in tx.items() if isinstance(v, int)} | {"to": to, "from": frm}
            tx["data"] = "0x" + data.hex()
            if to is None:
                del tx["to"]
            return self.rpc("eth_sendTransaction", tx)
        tx.update(data="0x" + data.hex(), chainId=self.chain_id, type=2)
        signed = Account.sign_transaction(tx, sender.key)
        return self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    def flush(self, hashes: list[str], labels: list[str] | None = None) -> list[dict]:
        """Mine until every queued transaction has a receipt; raise if any reverted."""
        receipts: dict[str, dict] = {}
        while True:
            self.mine()
            progress = False
            for h in hashes:
                if h not in receipts:
                    r = self.rpc("eth_getTransactionReceipt", h)
                    if r is not None:
                        receipts[h] = r
                        progress = True
            if len(receipts) == len(hashes):
                break
            if not progress:
                raise TxFailed(
                    f"{len(hashes) - len(receipts)} transactions not mined (gas above the block limit?)"
                )
        out = []
        for i, h in enumerate(hashes):
            r = receipts[h]
            r["gasUsed"] = int(r["gasUsed"], 16)
            if r["status"] != "0x1":
                label = labels[i] if labels else "?"
                raise TxFailed(f"{label}: transaction {h} reverted (gas {r['gasUsed']:,}){self._why(h)}")
            out.append(r)
        return out

    def _why(self, h: str) -> str:
        """Replay a reverted transaction on the latest state for a reason (approximate within a block)."""
        tx = self.rpc("eth_getTransactionByHash", h)
        try:
            self.rpc(
                "eth_call", {k: tx[k] for k in ("from", "to", "input", "value", "gas") if tx.get(k)}, "latest"
            )
            return ""
        except TxFailed as e:
            reason = str(e)
            for sel, sig in ERRORS.items():
                reason = reason.replace(f"custom error {sel}", sig).replace(f"custom error {sel[2:]}", sig)
            return f": {reason}"

    def send(self, sender, to: str | None, data: bytes, value: int = 0, gas: int = TX_CAP) -> dict:
        return self.flush([self.submit(sender, to, data, value, gas)])[0]

    def deploy(self, sender, art: Artifact, ctor_args: bytes = b"", value: int = 0) -> str:
        receipt = self.send(sender, None, art.bytecode + ctor_args, value=value, gas=30_000_000)
        return to_checksum_address(receipt["contractAddress"])


# ------------------------------------------------------------------ the benchmark


def commitment(cid: bytes, salt: bytes, samples: int, sender: str, round_: int) -> bytes:
    return keccak(
        encode(["bytes32", "bytes32", "uint32", "address", "uint256"], [cid, salt, samples, sender, round_])
    )


def vote_commitment(scores: bytes, salt: bytes, sender: str, round_: int) -> bytes:
    return keccak(encode(["bytes", "bytes32", "address", "uint256"], [scores, salt, sender, round_]))


def score_of(order: int) -> int:
    return 0 if order % REJECT_EVERY == 3 else 200


def clone_addresses(crowd: str, implementation: str, count: int) -> list[str]:
    """CREATE2 addresses of BenchCrowd's members 0 .. count-1 (EIP-1167 clones of `implementation`)."""
    init = (
        bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
        + bytes.fromhex(implementation[2:])
        + bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
    )
    code_hash = keccak(init)
    prefix = b"\xff" + bytes.fromhex(crowd[2:])
    return ["0x" + keccak(prefix + i.to_bytes(32, "big") + code_hash)[12:].hex() for i in range(count)]


def lottery_winners(seed: bytes, members_at_start: int, cohort: int, addresses: list[str]) -> set[str]:
    """The members whose ticket wins the cohort lottery (Rounds._wins)."""
    threshold = ((2**256 - 1) // members_at_start) * cohort
    pad = b"\x00" * 12
    return {
        a for a in addresses if int.from_bytes(keccak(seed + pad + bytes.fromhex(a[2:])), "big") < threshold
    }


@dataclass
class Gas:
    """Receipts' gasUsed per row label."""

    rows: dict[str, list[int]] = field(default_factory=dict)

    def add(self, label: str, receipt: dict) -> None:
        self.rows.setdefault(label, []).append(receipt["gasUsed"])

    def mean(self, label: str) -> float | None:
        v = self.rows.get(label)
        return statistics.mean(v) if v else None

    def max(self, label: str) -> int | None:
        v = self.rows.get(label)
        return max(v) if v else None

    def largest(self) -> tuple[int, str]:
        return max(((max(v), k) for k, v in self.rows.items()), default=(0, ""))


@dataclass
class SizeResult:
    updates: int
    members: int
    lottery: bool
    committee_len: int
    seats: int
    slots: int  # member slots in the stake tree (its size)
    gas: Gas  # both rounds; labels say which
    round_total: int  # every transaction of round 1, the crowd's commit+reveal at the measured gas
    blocks: int
    seconds: float
    setup_seconds: float
    lottery_tries: list[int] = field(default_factory=list)
    views: dict[str, int] = field(default_factory=dict)  # eth_estimateGas of each view a node calls


class Bench:
    """One federation on one anvil, played for `n` revealed updates (round 1) and once more (round 2)."""

    def __init__(self, node: Node, arts: dict[str, Artifact], n: int, log=print, members: int | None = None):
        self.node, self.n, self.log = node, n, log
        self.fed_art, self.crowd_art = arts["QFLFederation"], arts["BenchCrowd"]
        self.members_total = members or LOTTERY_MEMBERS.get(n, n)
        self.lottery = self.members_total > COHORT
        # With the lottery about a tenth of the EOAs win a ticket each round, so register more of them.
        self.eoa_count = 200 if self.lottery else min(MEASURED, n - 2)
        accts = [Account.from_key(keccak(text=f"qfl-bench-{i}")) for i in range(self.eoa_count)]
        self.eoas = accts
        self.keeper = to_checksum_address("0x" + keccak(text="qfl-bench-keeper")[:20].hex())  # anyone
        for a in [*accts, self.keeper]:
            node.set_balance(a if isinstance(a, str) else a.address, 10**30)
        self.eoa_by_addr = {a.address.lower(): a for a in self.eoas}
        self.gas = Gas()
        self.round_total = 0
        self.lottery_tries: list[int] = []
        self.before_settle = None  # a hook for --trace-style investigations

    # -------------------------------------------------------------- helpers
    def fed_call(self, fn: str, *args):
        return self.fed_art.decode_result(fn, self.node.call(self.fed, self.fed_art.data(fn, *args)))

    def queue(self, jobs: list, label: str | None, sender, fn: str, *args, value: int = 0) -> None:
        jobs.append((label, self.node.submit(sender, self.fed, self.fed_art.data(fn, *args), value=value)))

    def queue_crowd(self, jobs: list, fn: str, *args) -> None:
        data = self.crowd_art.data(fn, *args)
        jobs.append((None, self.node.submit(self.keeper, self.crowd_addr, data, gas=CROWD_TX_GAS)))

    def run(self, jobs: list, count: bool = True) -> list[dict]:
        """Mine the queued jobs; book measured ones; `count` adds them to the round-1 total."""
        receipts = self.node.flush([h for _, h in jobs], [lbl or "crowd" for lbl, _ in jobs])
        for (label, _), r in zip(jobs, receipts, strict=True):
            if label is not None:
                self.gas.add(label, r)
                if count:
                    self.round_total += r["gasUsed"]
        return receipts

    def one(self, label: str | None, sender, fn: str, *args, value: int = 0, count: bool = True) -> dict:
        jobs: list = []
        self.queue(jobs, label, sender, fn, *args, value=value)
        return self.run(jobs, count)[0]

    def sender_of(self, address: str):
        """The EOA's key when the address is a measured client, else the address (impersonated)."""
        return self.eoa_by_addr.get(address.lower(), to_checksum_address(address))

    def draw(self, label: str, rnd: int, count: bool = True) -> None:
        """Run the armed draw: it executes only in block `drawBlock` (a few blocks after arming), so mine
        empty blocks up to the one before it, then send drawCommittee."""
        node, target = self.node, self.round_view(rnd)["drawBlock"]
        while int(node.block()["number"], 16) + 1 < target:
            node.mine()
        self.one(label, self.keeper, "drawCommittee", rnd, count=count)
        assert self.phase(rnd) == 4, "the committee was drawn"

    def round_view(self, rnd: int) -> dict:
        return self.fed_art.decode_struct(
            "getRound", self.node.call(self.fed, self.fed_art.data("getRound", rnd))
        )

    def client(self, address: str) -> dict:
        return self.fed_art.decode_struct(
            "getClient", self.node.call(self.fed, self.fed_art.data("getClient", address))
        )

    def phase(self, rnd: int) -> int:
        return self.fed_call("phase", rnd)

    def view_gas(self) -> dict[str, int]:
        """Gas of every view `qfl.chain.Federation` calls (eth_estimateGas of the eth_call, 21,000 included),
        read after round 2 on round 1: n revealed updates, a full committee, its proposal, every settlement."""
        member = self.eoas_r1[0].address
        calls = {
            "getRound(round)": ("getRound", 1),
            "getClient(member)": ("getClient", member),
            "currentRound()": ("currentRound",),
            "memberCount()": ("memberCount",),
            "phase(round)": ("phase", 1),
            "globalModelOf(round)": ("globalModelOf", 1),
            "inCohort(round, member)": ("inCohort", 1, member),
            "getProposal(round, 1)": ("getProposal", 1, 1),
            "scoreOf(round, 1, last update)": ("scoreOf", 1, 1, self.n - 1),
            "pool()": ("pool",),
            "totalStaked()": ("totalStaked",),
        }
        return {
            label: int(
                self.node.rpc(
                    "eth_estimateGas",
                    {"to": self.fed, "data": "0x" + self.fed_art.data(*call).hex()},
                    "latest",
                ),
                16,
            )
            for label, call in calls.items()
        }

    # -------------------------------------------------------------- set-up
    def deploy(self) -> None:
        params = (
            b"\xaa" * 32, b"\xbb" * 32, 10, ETHER, PERIOD, PERIOD, PERIOD, PERIOD,
            SEATS, COHORT, 10 * ETHER, 1000, 10_000, 5000, 0,
        )  # fmt: skip
        self.fed = self.node.deploy(
            self.keeper, self.fed_art, encode([PARAMS_TYPE], [params]), value=100 * ETHER
        )
        self.crowd_addr = self.node.deploy(self.keeper, self.crowd_art)
        impl_raw = self.node.call(self.crowd_addr, self.crowd_art.data("IMPLEMENTATION"))
        impl = to_checksum_address(self.crowd_art.decode_result("IMPLEMENTATION", impl_raw))
        self.node.set_balance(self.crowd_addr, 10**30)
        crowd_n = self.members_total - self.eoa_count
        self.crowd_members = [to_checksum_address(a) for a in clone_addresses(self.crowd_addr, impl, crowd_n)]
        first = self.crowd_art.decode_result(
            "memberAddress", self.node.call(self.crowd_addr, self.crowd_art.data("memberAddress", 0))
        )
        assert first.lower() == self.crowd_members[0].lower(), "CREATE2 address mismatch"
        # The crowd in batches, the EOAs spread among them (so they get low and high member slots); a few
        # crowd batches per block.
        batches = [
            (i, min(i + CROWD_REGISTER_BATCH, crowd_n)) for i in range(0, crowd_n, CROWD_REGISTER_BATCH)
        ]
        per_block = max(1, BLOCK_GAS // CROWD_TX_GAS)
        t = time.perf_counter()
        e = 0
        for b0 in range(0, len(batches), per_block):
            jobs: list = []
            for b in range(b0, min(b0 + per_block, len(batches))):
                while e < self.eoa_count and e * len(batches) <= b * self.eoa_count:
                    self.queue(jobs, "register", self.eoas[e], "register", value=ETHER)
                    e += 1
                self.queue_crowd(jobs, "spawnAndRegister", self.fed, *batches[b], ETHER)
            self.run(jobs, count=False)
            if len(batches) > per_block:
                done = batches[min(b0 + per_block, len(batches)) - 1][1] + e
                self.log(f"    {done:,} members registered ({time.perf_counter() - t:.0f} s)")
        jobs = []
        for k in range(e, self.eoa_count):
            self.queue(jobs, "register", self.eoas[k], "register", value=ETHER)
        if jobs:
            self.run(jobs, count=False)
        assert self.fed_call("memberCount") == self.members_total
        self.all_members = [a.address for a in self.eoas] + self.crowd_members

    def start_round(self, rnd: int, ok) -> set[str]:
        """startRound. With the lottery, first mine empty blocks until the block hash that will seed the
        tickets gives `ok(winners)`; returns the members holding a ticket."""
        if not self.lottery:
            self.one("startRound", self.keeper, "startRound", count=rnd == 1)
            return set(self.all_members)
        tries = 0
        while True:
            parent = bytes.fromhex(self.node.block()["hash"][2:])
            # Rounds.startRound keeps the low 64 bits; _wins hashes abi.encode(uint64 seed, address).
            full = keccak(encode(["bytes32", "uint256", "address"], [parent, rnd, self.fed]))
            seed_int = int.from_bytes(full, "big") & (2**64 - 1)
            winners = lottery_winners(
                seed_int.to_bytes(32, "big"), self.members_total, COHORT, self.all_members
            )
            tries += 1
            if ok(winners):
                break
            self.node.mine()
        self.lottery_tries.append(tries)
        self.log(f"    round {rnd}: {len(winners):,} tickets won ({tries} block(s) tried for the seed)")
        self.one("startRound", self.keeper, "startRound", count=rnd == 1)
        view = self.round_view(rnd)
        assert view["phase"] == 1 and view["lottery"] is True, "round open with the lottery on"
        assert view["cohortSeed"] == seed_int, "ticket seed as predicted"
        return winners

    # -------------------------------------------------------------- round 1: n revealed updates
    def round1(self) -> None:
        rnd, salt = 1, b"\x07" * 32

        most = 2 * MEASURED if self.lottery else MEASURED

        def enough(w: set[str]) -> bool:
            eoa_w = sum(a.address in w for a in self.eoas)
            return eoa_w >= MEASURED and len(w) - eoa_w >= self.n - min(eoa_w, most)

        winners = self.start_round(rnd, enough)
        eoas = [a for a in self.eoas if a.address in winners][:most]
        crowd = [a for a in self.crowd_members if a in winners][: self.n - len(eoas)]
        assert len(eoas) + len(crowd) == self.n
        cids = {a.address: keccak(text=f"cid-{rnd}-{a.address}") for a in eoas}
        jobs: list = []
        for a in eoas:
            self.queue(
                jobs,
                "commitUpdate (first round)",
                a,
                "commitUpdate",
                rnd,
                commitment(cids[a.address], salt, 100, a.address, rnd),
            )
        for i in range(0, len(crowd), CROWD_UPDATE_BATCH):
            self.queue_crowd(jobs, "commitMany", self.fed, rnd, crowd[i : i + CROWD_UPDATE_BATCH])
        self.run(jobs)
        assert self.phase(rnd) == 2, "everyone committed: reveal phase"
        jobs = []
        for a in eoas:
            self.queue(jobs, "revealUpdate (first round)", a, "revealUpdate", rnd, cids[a.address], salt, 100)
        for i in range(0, len(crowd), CROWD_UPDATE_BATCH):
            self.queue_crowd(jobs, "revealMany", self.fed, rnd, crowd[i : i + CROWD_UPDATE_BATCH])
        self.run(jobs)
        assert self.phase(rnd) == 3, "everyone revealed: select phase"
        # The crowd's commits and reveals count in the round total at the measured single-member gas.
        cr = self.gas.mean("commitUpdate (first round)") + self.gas.mean("revealUpdate (first round)")
        self.round_total += round(cr * len(crowd))
        self.draw("drawCommittee (draw)", rnd)
        committee = self.vote(rnd, self.n, "")
        self.eoas_r1 = eoas
        self.committee_r1 = committee
        if self.before_settle is not None:
            self.before_settle(rnd, crowd)
        # Each measured client settles its own update (a batch of 1); the keeper settles the rest in batches.
        jobs = []
        for a in eoas:
            order = self.client(a.address)["revealOrder"]
            kind = "accepted" if score_of(order) >= 128 else "rejected"
            self.queue(jobs, f"settle own update, batch of 1 ({kind})", a, "settle", rnd, [a.address])
        for i in range(0, len(crowd), SETTLE_BATCH):
            batch = crowd[i : i + SETTLE_BATCH]
            label = (
                f"settle, batch of {SETTLE_BATCH}"
                if len(batch) == SETTLE_BATCH
                else "settle, last partial batch"
            )
            self.queue(jobs, label, self.keeper, "settle", rnd, batch)
        self.run(jobs)
        self.finish(rnd, committee, "")
        jobs = []
        for a in eoas[:3]:
            self.queue(jobs, "withdraw", a, "withdraw")
        self.run(jobs, count=False)

    def vote(self, rnd: int, revealed: int, tag: str) -> list[tuple[str, int]]:
        view = self.round_view(rnd)
        assert view["phase"] == 4, "vote commit phase"
        committee = list(zip(view["committee"], view["seats"], strict=True))
        scores = bytes(score_of(i) for i in range(revealed))
        salt = b"\x09" * 32
        jobs: list = []
        for m, _ in committee:
            self.node.set_balance(m, 10**24)  # clones pay their own gas
            self.queue(
                jobs,
                f"commitVote{tag}",
                self.sender_of(m),
                "commitVote",
                rnd,
                vote_commitment(scores, salt, to_checksum_address(m), rnd),
            )
        self.run(jobs, count=not tag)
        assert self.phase(rnd) == 5, "vote reveal phase"
        jobs = []
        for m, _ in committee:
            self.queue(jobs, f"revealVote{tag}", self.sender_of(m), "revealVote", rnd, scores, salt)
        self.run(jobs, count=not tag)
        assert self.phase(rnd) == 6, "aggregate phase"
        return committee

    def finish(self, rnd: int, committee: list[tuple[str, int]], tag: str) -> None:
        view = self.round_view(rnd)
        assert view["settledCount"] == view["commitCount"], (
            f"settled {view['settledCount']} of {view['commitCount']}"
        )
        jobs: list = []
        for m, _ in committee:
            self.queue(jobs, f"settleValidator{tag}", self.keeper, "settleValidator", rnd, m)
        self.run(jobs, count=not tag)
        self.one(
            f"postGlobalModel{tag}",
            self.sender_of(committee[0][0]),
            "postGlobalModel",
            rnd,
            keccak(text=f"global-{rnd}"),
            count=not tag,
        )
        total, yes, jobs = sum(s for _, s in committee), 0, []
        for m, seats in committee:  # just enough attestations for a majority of seats
            self.queue(jobs, f"attestGlobalModel{tag}", self.sender_of(m), "attestGlobalModel", rnd, 1, True)
            yes += seats
            if 2 * yes > total:
                break
        self.run(jobs, count=not tag)
        assert self.phase(rnd) == 7, "the proposal was accepted"
        self.one(f"releaseReserve{tag}", self.keeper, "releaseReserve", rnd, count=not tag)
        bal = int(self.node.rpc("eth_getBalance", self.fed, "latest"), 16)
        acc = sum(
            self.fed_call(f) for f in ("totalStaked", "totalWithdrawable", "pool", "reserved", "burned")
        )
        assert bal == acc, f"money invariant broken: balance {bal} != {acc}"

    # -------------------------------------------------------------- round 2: measured clients again
    def round2(self) -> None:
        """Measured clients of round 1 commit again (their later-round cost); a crowd member commits and
        never reveals, so reveals close by deadline and the draw is armed first; it is settled (slashed)."""
        rnd, salt = 2, b"\x08" * 32
        again = [a for a in self.eoas_r1 if self.client(a.address)["stake"] >= ETHER]  # not slashed

        def enough(w: set[str]) -> bool:
            return sum(a.address in w for a in again) >= 2

        winners = self.start_round(rnd, enough)
        eoas = [a for a in again if a.address in winners]
        silent = next(a for a in self.crowd_members if a in winners)
        cids = {a.address: keccak(text=f"cid-{rnd}-{a.address}") for a in eoas}
        jobs: list = []
        for a in eoas:
            self.queue(
                jobs,
                "commitUpdate (later round)",
                a,
                "commitUpdate",
                rnd,
                commitment(cids[a.address], salt, 100, a.address, rnd),
            )
        self.queue_crowd(jobs, "commitMany", self.fed, rnd, [silent])
        self.run(jobs, count=False)
        self.node.warp(PERIOD + 1)  # nobody else commits: commits close by deadline
        assert self.phase(rnd) == 2
        jobs = []
        for a in eoas:
            self.queue(jobs, "revealUpdate (later round)", a, "revealUpdate", rnd, cids[a.address], salt, 100)
        self.run(jobs, count=False)
        self.node.warp(PERIOD + 1)  # the silent committer never reveals: reveals close by deadline
        assert self.phase(rnd) == 3
        self.one("drawCommittee (arm)", self.keeper, "drawCommittee", rnd, count=False)
        self.draw(DRAW_AFTER_ARM, rnd, count=False)
        committee = self.vote(rnd, len(eoas), " (round 2)")
        self.committee_r2 = committee
        jobs = []
        self.queue(jobs, "settle silent committer, batch of 1", self.keeper, "settle", rnd, [silent])
        for a in eoas:
            self.queue(jobs, None, a, "settle", rnd, [a.address])
        self.run(jobs, count=False)
        self.finish(rnd, committee, " (round 2)")
        self.one("leave", eoas[0], "leave", count=False)


DRAW_AFTER_ARM = "drawCommittee (draw after arm)"


def run_size(arts: dict[str, Artifact], n: int, log=print, members: int | None = None) -> SizeResult:
    """Play one federation of `n` revealed updates among `members` registered members (default: n, or
    LOTTERY_MEMBERS[n]; more than COHORT turns the cohort lottery on)."""
    node = Node()
    try:
        start = time.perf_counter()
        bench = Bench(node, arts, n, log, members)
        log(f"  n = {n:,}: {bench.members_total:,} members, lottery {'on' if bench.lottery else 'off'}")
        bench.deploy()
        setup = time.perf_counter() - start
        bench.round1()
        log(f"    round 1 played ({time.perf_counter() - start:.0f} s)")
        bench.round2()
        views = bench.view_gas()
        slots = bench.fed_call("stakeSlot", 1)[2]
        return SizeResult(
            updates=n,
            members=bench.members_total,
            lottery=bench.lottery,
            committee_len=len(bench.committee_r1),
            seats=sum(s for _, s in bench.committee_r1),
            slots=slots,
            gas=bench.gas,
            round_total=bench.round_total,
            blocks=node.blocks,
            seconds=time.perf_counter() - start,
            setup_seconds=setup,
            lottery_tries=bench.lottery_tries,
            views=views,
        )
    finally:
        node.close()


# ------------------------------------------------------------------ the first-commit slot audit


def slot_names(
    fed: str, member: str, round_: int, cid: bytes | None, index: int | None = None
) -> dict[int, str]:
    """Storage slots register, commit and reveal touch, by name (FederationState's layout: `_tree` at 7-10,
    `_indexOwner` 12, `_members` 13, `_rounds` 15, `_cidSeen` 16; `slot_audit` checks it on the contract)."""

    def h(*words) -> int:
        raw = b"".join(w.to_bytes(32, "big") if isinstance(w, int) else w for w in words)
        return int.from_bytes(keccak(raw), "big")

    m = h(bytes(12) + bytes.fromhex(member[2:]), MEMBERS_SLOT)
    r = h(round_, 15)
    names = {
        0: "currentRound/memberCount",
        3: "totalStaked",
        8: "_tree.total",
        9: "_tree.size",
        10: "_tree.cap",
        m: "Member word 0 (stake, reputation, commitRound, samples, flags)",
        m + 1: "Member.commitment",
        m + 2: "Member word 2 (treeIndex, eligibleFrom, pendingDuties, cooldownUntil, drawWeight)",
        r: f"Round {round_} word 0 (stage, counters, commitDeadline, weightSum)",
        r + 2: f"Round {round_} word 2 (startTime, drawBlock, reserveLeft)",
    }
    if cid is not None:
        names[h(cid, 16)] = "_cidSeen[cid]"
    if index is not None:
        names[h(index, 12)] = f"_indexOwner[{index}]"
        i = index
        while i <= 1 << 20:
            names[h(i, 7)] = "_tree.nodes[i] (Fenwick ancestors)" if i != index else f"_tree.nodes[{index}]"
            i += i & -i
    return names


def slot_audit(arts: dict[str, Artifact]) -> dict:
    """Trace (geth struct logs) a member's register, first commit and reveal, and a later commit; list
    every SSTORE with its cost. Zero-to-nonzero writes cost 22,100 (cold) or 20,000 (warm)."""
    node = Node(steps_tracing=True)
    try:
        bench = Bench(node, arts, 10, log=lambda *a: None)
        bench.deploy()
        out: dict = {}
        a = bench.eoas[0]
        fed = bench.fed

        def sstores(h: str, names: dict[int, str]) -> list[tuple[int, str]]:
            t = node.rpc("debug_traceTransaction", h, {"disableStorage": True, "enableMemory": False})
            rows = []
            for step in t["structLogs"]:
                if step["op"] == "SSTORE" and step["depth"] == 1:
                    slot = int(step["stack"][-1], 16)
                    rows.append((step["gasCost"], names.get(slot, f"other slot {hex(slot)[:14]}...")))
            return rows

        # register: a fresh member, traced
        fresh = Account.from_key(keccak(text="qfl-bench-audit"))
        node.set_balance(fresh.address, 10**30)
        rec = node.send(fresh, fed, bench.fed_art.data("register"), value=ETHER)
        index = bench.fed_call("stakeSlot", 1)[2]  # the fresh member took the next slot
        assert bench.fed_call("stakeSlot", index)[0].lower() == fresh.address.lower()
        names = slot_names(fed, fresh.address, 0, None, index)
        out["register"] = (rec["gasUsed"], sstores(rec["transactionHash"], names))
        m_base = int.from_bytes(keccak(encode(["address", "uint256"], [a.address, MEMBERS_SLOT])), "big")
        word0 = int(node.rpc("eth_getStorageAt", fed, hex(m_base), "latest"), 16)
        assert word0 & (2**96 - 1) == bench.client(a.address)["stake"], "Member layout as assumed"
        bench.one("startRound", bench.keeper, "startRound")
        for rnd in (1, 2):
            cid, salt = keccak(text=f"audit-{rnd}"), b"\x01" * 32
            names = slot_names(fed, a.address, rnd, cid)
            rec = node.send(
                a, fed, bench.fed_art.data("commitUpdate", rnd, commitment(cid, salt, 100, a.address, rnd))
            )
            out[f"commit round {rnd}"] = (rec["gasUsed"], sstores(rec["transactionHash"], names))
            node.warp(PERIOD + 1)
            rec = node.send(a, fed, bench.fed_art.data("revealUpdate", rnd, cid, salt, 100))
            out[f"reveal round {rnd}"] = (rec["gasUsed"], sstores(rec["transactionHash"], names))
            seen = int(
                node.rpc(
                    "eth_getStorageAt",
                    fed,
                    hex(int.from_bytes(keccak(cid + (16).to_bytes(32, "big")), "big")),
                    "latest",
                ),
                16,
            )
            assert seen >> 16 == rnd + 1, "_cidSeen layout as assumed"
            node.warp(2 * PERIOD + 2)  # select expires unused (no draw): the round is done
            bench.one(None, bench.keeper, "settle", rnd, [a.address])
            if rnd == 1:
                bench.one(None, bench.keeper, "startRound", count=False)
        return out
    finally:
        node.close()


# ------------------------------------------------------------------ the report


def _f(x: float | None) -> str:
    return "-" if x is None else f"{round(x):,}"


def contracts_revision() -> str:
    """The commit the contracts come from, and whether contracts/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "contracts", ":!contracts/test"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown commit"
    return f"commit {head}" + (" with local changes under contracts/" if dirty else "")


def machine_note() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        cpu = (
            next(line for line in open("/proc/cpuinfo") if line.startswith("model name"))
            .split(":", 1)[1]
            .strip()
        )
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}, anvil {anvil_version()}"


def per_client_notes(results: list[SizeResult]) -> list[str]:
    """Prose for the per-client table, from the numbers."""
    crs = {
        r.updates: r.gas.mean("commitUpdate (first round)") + r.gas.mean("revealUpdate (first round)")
        for r in results
    }
    plain = [n for n, r in zip(crs, results, strict=True) if not r.lottery]
    lot = [n for n, r in zip(crs, results, strict=True) if r.lottery]
    notes = []
    if plain:
        notes.append(
            f"Commit + reveal is {_f(crs[plain[0]])} gas at every size without the lottery ("
            + ", ".join(f"n = {n:,}" for n in plain)
            + "): O(1) in updates and members."
        )
    for n in lot:
        r = next(x for x in results if x.updates == n)
        extra = r.gas.mean("commitUpdate (first round)") - (
            results[0].gas.mean("commitUpdate (first round)") if plain else 0
        )
        notes.append(
            f"At n = {n:,} (lottery on, {r.members:,} members) it is {_f(crs[n])}: the ticket check in `commitUpdate`"
            f" adds {_f(extra)} (the ticket hash; the 64-bit seed sits in the Round word every commit reads)"
            + (f", {_f(crs[n] - 110_000)} over the 110,000 target." if crs[n] > 110_000 else ".")
        )
    notes.append(
        "Settling an update reads one score per committee member who revealed (at most 64), so it grows with the"
        " committee, not with n: flat from n = 200 on, lower at n = 10 where the committee has 10 members."
    )
    return notes


def round_split(r: SizeResult) -> str:
    """Where round 1's gas goes: commit+reveal, votes, settlement, the rest."""
    g = r.gas.rows
    cr = (r.gas.mean("commitUpdate (first round)") + r.gas.mean("revealUpdate (first round)")) * r.updates
    votes = sum(g.get("commitVote", [])) + sum(g.get("revealVote", []))
    settle = sum(sum(v) for k, v in g.items() if k.startswith("settle own") or k.startswith("settle, "))
    rest = r.round_total - cr - votes - settle
    return " / ".join(f"{100 * x / r.round_total:.0f}%" for x in (cr, votes, settle, rest))


def render(results: list[SizeResult], audit: dict | None, command: str, seconds: float) -> str:
    cols = [f"{r.updates:,}" for r in results]
    head = "| transaction (gas) | " + " | ".join(cols) + " |"
    sep = "|---|" + "---:|" * len(results)

    def row(label: str, fn, bold: bool = False) -> str:
        vals = [fn(r) for r in results]
        cells = [(f"**{v}**" if bold and v != "-" else v) for v in vals]
        return f"| {'**' + label + '**' if bold else label} | " + " | ".join(cells) + " |"

    def mean(label):
        return lambda r: _f(r.gas.mean(label))

    def per_update_in_batch(r: SizeResult) -> str:
        m = r.gas.mean(f"settle, batch of {SETTLE_BATCH}")
        return "-" if m is None else f"{m / SETTLE_BATCH:,.0f}"

    def largest_batch(r: SizeResult) -> str:
        m = r.gas.max(f"settle, batch of {SETTLE_BATCH}")
        rej = r.gas.mean("settle own update, batch of 1 (rejected)") or 0
        acc = r.gas.mean("settle own update, batch of 1 (accepted)") or 0
        if m is None:
            return "-"
        worst = m / SETTLE_BATCH + max(0.0, rej - acc)  # as if every update in the batch were slashed
        return f"~{int(TX_CAP // worst)}"

    def fixed(r: SizeResult) -> tuple[int, str]:
        return max((max(v), k) for k, v in r.gas.rows.items() if not k.startswith("settle, "))

    def cr(r: SizeResult, when: str) -> float | None:
        c, v = r.gas.mean(f"commitUpdate ({when})"), r.gas.mean(f"revealUpdate ({when})")
        return None if c is None or v is None else c + v

    def biggest(r: SizeResult) -> tuple[int, str]:
        return r.gas.largest()

    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Gas of a Protocol v2 round, 10 to 10,000 revealed updates",
        "",
        f"Command: `{command}` ({date}, {seconds / 60:.1f} min in all).",
        f"Machine: {machine_note()}.",
        f"Contract: `contracts/QFLFederation.sol` at {contracts_revision()}, compiled by `ape compile` (solc 0.8.28,",
        "via-IR, optimizer 200 runs, cancun). Chain: anvil, hardfork prague, block gas limit 4e9 (for the crowd's",
        "batches only).",
        "",
        f"Each column is one federation with a committee of {SEATS} seats (drawn with replacement in proportion to",
        f"stake; every member stakes 1 ETH) and cohortSize {COHORT:,}. Round 1: every cohort member commits and reveals",
        "(n revealed updates), the committee is drawn, commits and reveals one score byte per update (every tenth",
        "update scored 0, the rest 200), every update is settled, every committee member is settled, one member",
        "proposes the global model and a majority of seats attests it, the reserve is released. Round 2: measured",
        "clients commit again; one committer never reveals, so reveals close by deadline, `drawCommittee` is first",
        "armed and then draws, and the silent committer is settled (slashed). Per-client rows are receipts of real",
        "single-member transactions: EOAs with local keys sign their own register, commit, reveal, settle, withdraw",
        "and leave; committee members (mostly crowd clones) send their own votes and attestations from their own",
        "address (anvil impersonation, same gas as signed). The crowd (`contracts/test/BenchCrowd.sol`: EIP-1167",
        "clones registered, committed and revealed in bulk) is never measured. Every measured transaction was sent",
        f"with gas limit {TX_CAP:,} (EIP-7825), so none could have used more. Mean gas per transaction.",
        "",
        head.replace("transaction (gas)", "revealed updates (n)"),
        sep,
        row("registered members", lambda r: f"{r.members:,}" + (" (lottery)" if r.lottery else "")),
        row("member slots in the stake tree", lambda r: f"{r.slots:,}"),
        row("committee: members / seats", lambda r: f"{r.committee_len} / {r.seats}"),
        row("register (mean)", mean("register")),
        row("register (max)", lambda r: _f(r.gas.max("register"))),
        row("startRound", mean("startRound")),
        row("commitUpdate, first round", mean("commitUpdate (first round)")),
        row("revealUpdate, first round", mean("revealUpdate (first round)")),
        row("commit + reveal per client, first round", lambda r: _f(cr(r, "first round")), bold=True),
        row("commitUpdate, later round", mean("commitUpdate (later round)")),
        row("revealUpdate, later round", mean("revealUpdate (later round)")),
        row("commit + reveal per client, later round", lambda r: _f(cr(r, "later round")), bold=True),
        row("drawCommittee: arm (reveals closed by deadline)", mean("drawCommittee (arm)")),
        row(f"drawCommittee: draw {SEATS} seats (round 1)", mean("drawCommittee (draw)")),
        row(f"drawCommittee: draw {SEATS} seats after arm (round 2)", mean(DRAW_AFTER_ARM)),
        row("commitVote", mean("commitVote")),
        row("revealVote (n score bytes)", mean("revealVote")),
        row("settle own update, batch of 1, accepted", mean("settle own update, batch of 1 (accepted)")),
        row(
            "settle own update, batch of 1, rejected (slash)",
            mean("settle own update, batch of 1 (rejected)"),
        ),
        row("settle silent committer, batch of 1 (slash)", mean("settle silent committer, batch of 1")),
        row(
            f"settle, batch of {SETTLE_BATCH} (whole transaction, mean)",
            mean(f"settle, batch of {SETTLE_BATCH}"),
        ),
        row(
            f"settle, batch of {SETTLE_BATCH} (whole transaction, max)",
            lambda r: _f(r.gas.max(f"settle, batch of {SETTLE_BATCH}")),
        ),
        row(f"settle per update within a batch of {SETTLE_BATCH}", per_update_in_batch),
        row("largest settle batch under the cap (estimate)", largest_batch),
        row("settleValidator", mean("settleValidator")),
        row("postGlobalModel", mean("postGlobalModel")),
        row("attestGlobalModel", mean("attestGlobalModel")),
        row("releaseReserve", mean("releaseReserve")),
        row("withdraw", mean("withdraw")),
        row("leave", mean("leave")),
        row("**max gas of any single transaction**", lambda r: f"**{biggest(r)[0]:,}**"),
        row("... which transaction", lambda r: biggest(r)[1]),
        row("largest transaction whose size no caller chooses", lambda r: "{:,} ({})".format(*fixed(r))),
        row(
            f"margin to the EIP-7825 cap {TX_CAP:,}",
            lambda r: f"{TX_CAP - biggest(r)[0]:,} ({100 * (TX_CAP - biggest(r)[0]) / TX_CAP:.0f}%)",
        ),
        row(
            "whole round 1 (every transaction; crowd commit+reveal at the measured gas)",
            lambda r: f"{r.round_total / 1e6:,.1f}M",
        ),
        row("... per revealed update", lambda r: f"{r.round_total / r.updates:,.0f}"),
        row("... commit+reveal / votes / settlement / rest", round_split),
        row("blocks mined / wall time", lambda r: f"{r.blocks} / {r.seconds:.0f} s"),
        "",
    ]
    over = [(r.updates, *biggest(r)) for r in results if biggest(r)[0] > TX_CAP]
    out.append("Every transaction is within the EIP-7825 cap." if not over else f"OVER THE CAP: {over}")
    out += ["", "## Per client per round", "", head.replace("transaction (gas)", "revealed updates (n)"), sep]
    out.append(row("commit + reveal, first round", lambda r: _f(cr(r, "first round"))))
    out.append(row("commit + reveal, later round", lambda r: _f(cr(r, "later round"))))
    out.append(
        row(
            "+ settling its own update (batch of 1, accepted)",
            lambda r: _f(
                (cr(r, "first round") or 0) + (r.gas.mean("settle own update, batch of 1 (accepted)") or 0)
            ),
        )
    )
    out.append(
        row(
            f"+ its share of keeper settlement instead (batch of {SETTLE_BATCH})",
            lambda r: (
                "-"
                if r.gas.mean(f"settle, batch of {SETTLE_BATCH}") is None
                else _f(
                    (cr(r, "first round") or 0)
                    + r.gas.mean(f"settle, batch of {SETTLE_BATCH}") / SETTLE_BATCH
                )
            ),
        )
    )
    if all(r.views for r in results):
        out += [
            "",
            "## Views a node calls (gas of the eth_call, 21,000 included; round 1 after it is done)",
            "",
            "| view | " + " | ".join(f"{r.updates:,}" for r in results) + " |",
            "|---|" + "---:|" * len(results),
        ]
        for label in results[0].views:
            out.append(f"| `{label}` | " + " | ".join(f"{r.views[label]:,}" for r in results) + " |")
        worst = max((v, k) for r in results for k, v in r.views.items())
        out += [
            "",
            f"Largest: {worst[0]:,} gas (`{worst[1]}`). A node reads its own state, the round's counters and the "
            "committee (at most 64 seats) by view; reveals, scores, settlements and proposals come from the "
            "round's events, read incrementally (`qfl.chain.Federation.round_view`).",
        ]
    out += [
        "",
        *per_client_notes(results),
        "",
        "## Where gas grows",
        "",
    ]
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        rv = (hi.gas.mean("revealVote") - lo.gas.mean("revealVote")) / (hi.updates - lo.updates)
        out.append(
            f"- `revealVote` grows with n: one score byte per revealed update, stored 32 to a word: {rv:,.0f} gas per"
            f" update (22,100 per new 32-byte word + 16 per calldata byte); {_f(hi.gas.mean('revealVote'))} at n = {hi.updates:,}."
        )
        d = [(r.slots, r.gas.mean("drawCommittee (draw)")) for r in results]
        out.append(
            "- `drawCommittee` grows with log2 of the member slots: each of the 64 seats walks the stake tree"
            " (one cold SLOAD per level, ~2.4k a level a seat), and each distinct member drawn writes two new"
            " seat records (~44k; at most 64): "
            + ", ".join(f"{_f(g)} at {s:,} slots (log2 = {s.bit_length() - 1})" for s, g in d)
            + "; no redraws since f11e8f4 (the tree holds only drawable weight), so this is also the worst case."
        )
        out.append(
            "- `settle` grows with the number of committee members who revealed (<= 64), not with n; a batch grows"
            f" linearly with its size, so the caller picks a batch under the cap (here {SETTLE_BATCH}, one score word)."
        )
        out.append("- Everything else is constant in n and in the membership.")
    if audit:
        c1, c2 = audit["commit round 1"][0], audit["commit round 2"][0]
        r1, r2 = audit["reveal round 1"][0], audit["reveal round 2"][0]
        out += [
            "",
            "## The first-round commit surcharge",
            "",
            "Every SSTORE of a fresh member's `register` and of one member's commit and reveal in its first and its",
            "second round, from `debug_traceTransaction` (anvil --steps-tracing) on the compiled contract. Zero to",
            "nonzero costs 20,000 (+2,100 when cold); nonzero to nonzero 2,900 (+2,100 cold); rewriting a slot",
            f"already written in the transaction 100. Here commit + reveal is {c1 + r1:,} in the first round and"
            f" {c2 + r2:,} later (this lone reveal is also the last one, so it arms the draw: Round word 2 and an event).",
            "",
            "| transaction | gas | zero -> nonzero | other SSTOREs |",
            "|---|---:|---|---|",
        ]
        for key in ("register", "commit round 1", "reveal round 1", "commit round 2", "reveal round 2"):
            g, rows = audit[key]
            fresh = sorted({f"{n} ({c:,})" for c, n in rows if c >= 20_000})
            rest: dict[tuple[str, int], int] = {}
            for c, n in rows:
                if c < 20_000:
                    rest[(n, c)] = rest.get((n, c), 0) + 1
            other = "; ".join(f"{n} {c:,}" + (f" x{k}" if k > 1 else "") for (n, c), k in rest.items())
            out.append(f"| {key} | {g:,} | {'; '.join(fresh) or 'none'} | {other} |")
        out += ["", AUDIT_NOTE]
    out += ["", "Per size: setup (registration) time and lottery tries for the seed:", ""]
    for r in results:
        tries = f", lottery seed found after {r.lottery_tries} block(s)" if r.lottery_tries else ""
        out.append(
            f"- n = {r.updates:,}: registration {r.setup_seconds:.0f} s, total {r.seconds:.0f} s{tries}"
        )
    return "\n".join(out) + "\n"


AUDIT_NOTE = """\
Where the ~126k first-round commit + reveal (vs ~109k later) came from: one SSTORE, on the committing
member's `Member.commitment`, storage slot `keccak256(abi.encode(member, uint256(12))) + 1` (`_members` is
slot 12 of FederationState; `commitment` is word 1 of `Member`). Traced on bytecode built without
`register`'s placeholder write (the shared `.build/` held such a build of 8e9fce0 while this was written:
register 283,448, first commit 61,510): that SSTORE cost 22,100 (zero to nonzero, cold) in a member's first
commit and 5,000 (nonzero to nonzero, cold) in every later one, +17,100; nothing else differed.

Fix (in the sources since 8e9fce0; keep it): `Membership.register` writes a nonzero placeholder,
`m.commitment = bytes32(uint256(1))`, for an address seen for the first time, so every commit rewrites a
live slot; `leave` keeps the slot, so a returning member never pays it again. The 22,100 moves into
`register`, once per address (the table shows it there, and no zero-to-nonzero SSTORE in any commit). The
one zero-to-nonzero write left per round is `_cidSeen[cid]` in reveal (20,000): every update needs its own
entry, so it is the floor. This benchmark compiles its own snapshot of `contracts/` because of that stale
build (see `compile_contracts`).

Under the cohort lottery (n = 10,000) `commitUpdate` also hashes the member's ticket. The 64-bit ticket seed
sits in the Round word every commit already reads (`lottery`, `membersAtStart`), so no extra cold SLOAD:
64 bits are enough, since the ticket seed only spreads training slots and whoever calls `startRound`
already picks the block it comes from."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=None, help="comma-separated revealed updates per round (default 10,200,1000,10000)"
    )
    parser.add_argument("--quick", action="store_true", help="10 and 200 updates only (< 2 minutes)")
    parser.add_argument(
        "--out", type=Path, default=REPORT, help="report path (default benchmarks/results/gas.md)"
    )
    parser.add_argument("--build", type=Path, default=None, help="use this ape manifest instead of compiling")
    parser.add_argument(
        "--no-audit", action="store_true", help="skip the traced slot audit of the first commit"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else tuple(int(x) for x in args.sizes.split(",")) if args.sizes else SIZES
    start = time.perf_counter()
    manifest = args.build or compile_contracts()
    arts = load_artifacts(manifest)
    print(
        f"compiled ({time.perf_counter() - start:.0f} s); QFLFederation runtime {arts['QFLFederation'].runtime_size:,} bytes",
        flush=True,
    )
    audit = None if args.no_audit else slot_audit(arts)
    results = []
    for n in sizes:
        results.append(run_size(arts, n, log=lambda *a: print(*a, flush=True)))
        r = results[-1]
        print(
            f"  n = {n:,} done in {r.seconds:.0f} s; largest transaction {r.gas.largest()[0]:,} ({r.gas.largest()[1]})",
            flush=True,
        )
    cmd = ".venv/bin/python -m benchmarks.gas" + (
        " --quick" if args.quick else f" --sizes {args.sizes}" if args.sizes else ""
    )
    report = render(results, audit, cmd, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
