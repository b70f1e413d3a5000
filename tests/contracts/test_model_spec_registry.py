import ape
import pytest

DIGEST = bytes.fromhex("11" * 32)


def test_publish_records_publisher_and_emits(spec_registry, publisher):
    receipt = spec_registry.publish(DIGEST, sender=publisher)
    assert spec_registry.publisherOf(DIGEST) == publisher.address
    logs = list(receipt.decode_logs(spec_registry.SpecPublished))
    assert len(logs) == 1 and logs[0].publisher == publisher.address


def test_publish_twice_reverts(spec_registry, publisher, accounts):
    spec_registry.publish(DIGEST, sender=publisher)
    with ape.reverts(spec_registry.SpecAlreadyPublished):
        spec_registry.publish(DIGEST, sender=accounts[1])
    assert spec_registry.publisherOf(DIGEST) == publisher.address


@pytest.mark.parametrize("digest", [bytes(32)])
def test_empty_digest_reverts(spec_registry, publisher, digest):
    with ape.reverts(spec_registry.EmptySpec):
        spec_registry.publish(digest, sender=publisher)
