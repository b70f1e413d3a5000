"""qfl.chain: the typed binding the node, simulator and CLI use."""

import pytest
from conftest import ETHER, MIN_STAKE, cid_of, federation_params, salt_of
from eth_abi import encode
from eth_utils import keccak

from qfl.chain import (
    Federation,
    FederationError,
    RoundPhase,
    bits_to_words,
    cid_to_digest,
    deploy_federation,
    digest_to_cid,
    make_commitment,
    words_to_bits,
)

CID = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"


def test_cid_digest_round_trip():
    digest = cid_to_digest(CID)
    assert len(digest) == 32 and digest_to_cid(digest) == CID
    with pytest.raises(ValueError, match="only dag-pb content maps to a CIDv0"):
        cid_to_digest("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA")
    with pytest.raises(ValueError, match="not a valid base58"):
        cid_to_digest("Qm0OIl")


def test_bitmap_round_trip_across_words():
    bits = [i % 7 == 0 for i in range(300)]
    words = bits_to_words(bits)
    assert len(words) == 2 and words[0] & 1 and (words[1] >> (294 - 256)) & 1
    assert words_to_bits(words, 300) == bits
    assert bits_to_words([]) == []


def test_make_commitment_matches_abi_encoding(accounts):
    sender = accounts[1].address
    expected = keccak(
        encode(["bytes32", "bytes32", "address", "uint256"], [cid_of(1), salt_of(1), sender, 4])
    )
    assert make_commitment(cid_of(1), salt_of(1), sender, 4) == expected
    assert make_commitment(cid_of(1), salt_of(1), sender, 5) != expected
    with pytest.raises(ValueError):
        make_commitment(b"short", salt_of(1), sender, 4)


def test_python_commitment_is_accepted_by_the_contract(driver, clients):
    fed = driver.fed
    rnd = fed.start_round(sender=driver.sponsor).event("RoundStarted")["round"]
    digest = cid_to_digest(CID)
    for c in clients:
        fed.commit_update(rnd, make_commitment(digest, salt_of(3), c.address, rnd), sender=c)
    r = fed.reveal_update(rnd, digest, salt_of(3), 5, sender=clients[0])
    assert r.name == "reveal_update" and r.event("UpdateRevealed")["cidDigest"] == digest
    assert digest_to_cid(fed.round_view(rnd).reveals[0].digest) == CID


def test_tx_results_and_gas_ledger(registered, sponsor):
    fed = registered
    assert fed.gas.calls["register"] == 6 and fed.gas.gas["register"] > 6 * 21_000
    r = fed.start_round(sender=sponsor)
    assert r.gas_used > 21_000 and r.tx_hash.startswith("0x") and len(r.tx_hash) == 66
    assert r.block_number > 0 and [e.name for e in r.events] == ["RoundStarted"]
    assert fed.gas.calls["start_round"] == 1 and fed.gas.gas["start_round"] == r.gas_used
    assert fed.gas.total == sum(fed.gas.gas.values())
    assert fed.gas.mean("register") == fed.gas.gas["register"] / 6 and fed.gas.mean("vote") == 0.0
    with pytest.raises(KeyError, match="no Withdrawn"):
        r.event("Withdrawn")


def test_reverts_name_the_custom_error(registered, clients, outsider):
    fed = registered
    with pytest.raises(FederationError) as info:
        fed.register(MIN_STAKE, sender=clients[0])
    assert info.value.error == "AlreadyRegistered" and info.value.method == "register"
    assert info.value.args_["client"] == clients[0].address
    with pytest.raises(FederationError) as info:
        fed.withdraw_rewards(sender=outsider)
    assert info.value.error == "NothingToWithdraw"
    assert fed.gas.calls["withdraw_rewards"] == 0  # reverted calls are not booked


def test_views_are_typed(driver, clients):
    fed = driver.fed
    rnd = driver.to_vote()
    view = fed.round_view(rnd)
    assert view.phase is RoundPhase.VOTE and view.round == rnd == fed.current_round()
    assert view.commit_count == view.reveal_count == len(view.reveals) == 6
    assert [p.reveal_order for p in view.reveals] == list(range(6))
    assert view.start_model == b"\xbb" * 32 and view.global_model == bytes(32)
    assert len(view.committee) == 3 and view.votes == ((False,) * 6,) * 3 and view.accepted == ()
    cv = fed.client_view(clients[0])
    assert cv.address == clients[0].address and cv.registered and cv.commit_round == rnd and cv.revealed
    assert cv.samples == 10 and cv.stake == MIN_STAKE
    assert fed.phase(rnd) is RoundPhase.VOTE


def test_attach_and_rebuild_from_events(driver, project, clients):
    fed = driver.fed
    rnd = driver.full_round(model=b"\x0d" * 32)
    again = Federation.at(project, fed.address)
    assert again.address == fed.address and again.global_model(rnd) == b"\x0d" * 32
    events = again.events_since(0)
    names = [e.name for e in events]
    for name in (
        "FederationCreated",
        "PoolFunded",
        "ClientRegistered",
        "RoundStarted",
        "UpdateCommitted",
        "UpdateRevealed",
        "CommitteeSelected",
        "VoteCast",
        "TrainerSettled",
        "ValidatorSettled",
        "RoundFinalized",
        "GlobalModelPosted",
        "GlobalModelAttested",
        "GlobalModelAccepted",
    ):
        assert name in names, name
    assert events == sorted(events, key=lambda e: (e.block_number, e.log_index))
    # A node that only reads logs sees the same reveals, committee and model as the views.
    reveals = [e for e in events if e.name == "UpdateRevealed" and e["round"] == rnd]
    assert [e["cidDigest"] for e in reveals] == [p.digest for p in fed.round_view(rnd).reveals]
    committee = next(e for e in events if e.name == "CommitteeSelected")["committee"]
    assert committee == fed.round_view(rnd).committee
    accepted = next(e for e in events if e.name == "GlobalModelAccepted")
    assert accepted["cidDigest"] == b"\x0d" * 32
    later = again.events_since(accepted.block_number + 1)
    assert later == []
    assert len(again.events_since(events[-1].block_number)) >= 1


def test_deploy_federation_validates_in_python(project, sponsor):
    with pytest.raises(ValueError, match="committee_size"):
        federation_params(committee_size=0)
    fed = deploy_federation(project, sponsor, federation_params(num_rounds=2), fund_wei=ETHER)
    assert fed.pool() == ETHER and fed.params()["numRounds"] == 2
    assert Federation.at(project, fed.address).params() == fed.params()
    assert fed.model_spec() == b"\xaa" * 32 and fed.sponsor() == sponsor.address
