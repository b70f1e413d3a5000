"""`run_node`, the loop `qflchain node` runs, on a stand-in participant: outages of the RPC node and the
content store cost one line and a back-off, never the process; an outage longer than max_outage gives up
with one line; SIGINT/SIGTERM stop between steps; real errors still surface."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from qfl.chain import ChainUnavailable, FederationError
from qfl.orchestration.node import EXIT_GAVE_UP, Backoff, Node, run_node, transient_fault
from qfl.storage import NodeUnavailable, ObjectNotFound, StoreError


class FakeParticipant:
    """Steps through `script`: an exception is raised, anything else returned as the step's action."""

    def __init__(self, script, store=None):
        self.script = list(script)
        self.store = store
        self.identity = SimpleNamespace(index=7)
        self.federation = SimpleNamespace(current_round=lambda: 3)
        self.timers = SimpleNamespace(measure=lambda kind: _Null())
        self.steps = 0
        self.forgot = 0

    def finished(self) -> bool:
        return not self.script

    def step(self):
        self.steps += 1
        item = self.script.pop(0)
        if callable(item):
            item = item()
        if isinstance(item, BaseException):
            raise item
        return item

    def forget_chain_cache(self) -> None:
        self.forgot += 1


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def refused() -> Exception:
    """What web3 raised when anvil was down: CannotHandleRequest from requests' ConnectionError."""
    import requests
    from web3.exceptions import CannotHandleRequest

    try:
        try:
            raise requests.ConnectionError("HTTPConnectionPool(host='127.0.0.1'): Max retries exceeded")
        except requests.ConnectionError as inner:
            raise CannotHandleRequest("Could not discover provider while making request") from inner
    except CannotHandleRequest as exc:
        return exc


def run(participant, **kwargs):
    lines: list[str] = []
    backoff = kwargs.pop("backoff", Backoff(first=0.01, cap=1.0, max_outage=30))
    code = run_node(participant, lines.append, poll=0.0, backoff=backoff, **kwargs)
    return code, lines


def test_classifies_outages_and_lets_real_errors_through(tmp_path):
    assert transient_fault(refused()) == "chain"
    assert transient_fault(ChainUnavailable("down")) == "chain"
    assert transient_fault(ConnectionRefusedError(111, "Connection refused")) == "chain"
    assert transient_fault(NodeUnavailable("ipfs down")) == "store"
    try:
        raise StoreError("could not write") from PermissionError(13, "denied", str(tmp_path / "x"))
    except StoreError as exc:
        assert transient_fault(exc) == "store"
    store = SimpleNamespace(root=tmp_path)
    assert transient_fault(PermissionError(13, "denied", str(tmp_path / "objects" / "ab")), store) == "store"
    assert transient_fault(PermissionError(13, "denied", "/elsewhere")) is None
    assert transient_fault(FederationError("commit", "WrongPhase")) is None
    assert transient_fault(ObjectNotFound("Qm...", "store")) is None
    assert transient_fault(ValueError("bad weights")) is None


@pytest.mark.fault(
    area="chain", fault="RPC node refuses connections for a while", outcome="recovered", tries=1
)
def test_rpc_outage_backs_off_forgets_the_cache_and_resumes():
    node = FakeParticipant([refused(), ChainUnavailable("down"), refused(), "commit", None, "reveal"])
    code, lines = run(node)
    assert code == 0 and node.steps == 6
    assert node.forgot == 3  # every failed read drops what the binding cached
    outage = [line for line in lines if "RPC node" in line]
    assert len(outage) == 2, lines  # one line when it went away, one when it came back
    assert "unavailable" in outage[0] and "\n" not in outage[0] and "back after" in outage[1]
    assert "client 7 round 3: commit" in lines and "client 7 round 3: reveal" in lines


@pytest.mark.fault(
    area="chain", fault="RPC node down longer than --max-outage", outcome="rejected with a one-line error"
)
def test_an_outage_longer_than_max_outage_gives_up_with_one_line():
    node = FakeParticipant([refused()] * 1000)
    code, lines = run(node, backoff=Backoff(first=0.01, cap=0.02, max_outage=0.2))
    assert code == EXIT_GAVE_UP
    assert "giving up" in lines[-1] and "run the node again to resume" in lines[-1] and "\n" not in lines[-1]
    assert len(lines) < 20


def test_store_outage_is_retried_and_other_errors_propagate():
    node = FakeParticipant([NodeUnavailable("ipfs down"), "commit"])
    code, lines = run(node)
    assert code == 0 and "content store unavailable" in lines[0] and "content store back" in lines[1]
    with pytest.raises(FederationError, match="WrongPhase"):
        run(FakeParticipant([FederationError("commit", "WrongPhase")]))
    with pytest.raises(KeyError):
        run(FakeParticipant([KeyError("bug")]))
    code, lines = run(FakeParticipant([FederationError("round_view", "EventsMissing"), "reveal"]))
    assert code == 0 and "EventsMissing" in lines[0]


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(
            s,
            marks=pytest.mark.fault(
                area="node", fault=f"{s.name} in the middle of a step", outcome="nothing lost", tries=1
            ),
        )
        for s in (signal.SIGTERM, signal.SIGINT)
    ],
)
def test_a_stop_signal_ends_the_run_between_steps(sig):
    finished = []

    def step_that_gets_signalled():
        os.kill(os.getpid(), sig)  # arrives mid-step: the step still finishes
        finished.append(True)
        return "commit"

    node = FakeParticipant([step_that_gets_signalled, "reveal", "settle"])
    before = signal.getsignal(sig)
    code, lines = run(node)
    assert code == 128 + sig and finished and node.steps == 1
    assert lines[-1].startswith(f"client 7: stopped by {sig.name} between steps")
    assert signal.getsignal(sig) is before  # handlers restored


def test_an_unreachable_store_is_not_scored_as_a_bad_update():
    """A validator whose store is down must retry, not vote REJECT on every peer (and be slashed for it)."""

    class DownStore:
        def get(self, cid):
            raise NodeUnavailable("ipfs down")

    class MissingStore:
        def get(self, cid):
            raise ObjectNotFound(cid, "store")

    lines: list[str] = []
    node = object.__new__(Node)
    node.timers = SimpleNamespace(measure=lambda kind: _Null())
    node.identity = SimpleNamespace(index=1)
    node.log = lines.append
    node.store = DownStore()
    with pytest.raises(NodeUnavailable):
        node.fetch_update(bytes(32))
    node.store = MissingStore()
    assert node.fetch_update(bytes(32)) is None and "unusable" in lines[0]
