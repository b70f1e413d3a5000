"""The chain under test is the one the Makefile asked for (in-process EthTester or out-of-process anvil)."""

import os

import pytest


def test_provider_is_the_requested_one(networks):
    expected = os.environ.get("QFL_EXPECT_PROVIDER")
    if expected is None:
        pytest.skip("QFL_EXPECT_PROVIDER not set (set by `make test-contracts` / `make test-anvil`)")
    assert networks.provider.name == expected


def test_anvil_is_a_separate_process(networks):
    if networks.provider.name != "foundry":
        pytest.skip("only meaningful on anvil")
    assert networks.provider.uri.startswith("http://127.0.0.1:")
    assert networks.provider.web3.client_version.lower().startswith("anvil")
