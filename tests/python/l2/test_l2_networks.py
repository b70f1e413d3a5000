"""L2 networks through ape's own plugins (ape-optimism, ape-base, ape-arbitrum): `--network optimism:sepolia`,
`base:sepolia`, `arbitrum:sepolia` resolve offline; a bare RPC URL whose node reports one of their chain ids
is signed for as that network; ECOSYSTEM:NETWORK:URL of a node on another chain is refused in one line, before
anything is sent. The nodes are real anvils started with the L2 chain ids (nothing here needs the internet)."""

from __future__ import annotations

import json

import ape
import click
import pytest
from click.testing import CliRunner

from qfl.chain.networks import ARBITRUM, BY_CHOICE, ETHEREUM, OP_STACK, fee_kind, network_for_chain_id
from qfl.cli import main
from qfl.orchestration.deployment import check_network
from qfl.orchestration.multiproc import LOCAL_CHAIN_ID, Anvil

L2 = {"optimism:sepolia": 11155420, "base:sepolia": 84532, "arbitrum:sepolia": 421614}


@pytest.mark.parametrize("choice", sorted(L2))
def test_l2_testnets_resolve_offline_with_the_chain_id_of_ape_s_plugin(choice):
    assert check_network(choice) == choice
    ecosystem, network = choice.split(":")
    assert ape.networks.get_ecosystem(ecosystem).get_network(network).chain_id == L2[choice]
    assert BY_CHOICE[(ecosystem, network)].chain_id == L2[choice]
    assert network_for_chain_id(L2[choice]).choice == choice


def test_every_known_chain_id_is_ape_s_own():
    """The table in qfl.chain.networks agrees with the installed plugins on every network it names."""
    for (ecosystem, network), known in BY_CHOICE.items():
        assert ape.networks.get_ecosystem(ecosystem).get_network(network).chain_id == known.chain_id
    assert (fee_kind("optimism"), fee_kind("base"), fee_kind("arbitrum")) == (OP_STACK, OP_STACK, ARBITRUM)
    assert fee_kind("ethereum") == ETHEREUM


def test_an_unknown_l2_network_lists_the_ones_there_are():
    with pytest.raises(click.ClickException) as info:
        check_network("base:goerli")
    assert "base has no network 'goerli'; its networks are " in info.value.message
    assert "sepolia" in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("choice", sorted(L2))
def test_a_bare_url_is_signed_for_as_the_l2_its_node_reports(choice):
    with Anvil(chain_id=L2[choice], optimism=not choice.startswith("arbitrum")) as node:
        resolved = check_network(node.url)
        assert resolved == f"{choice}:{node.url}"
        with ape.networks.parse_network_choice(resolved) as provider:
            assert provider.network.ecosystem.name == choice.split(":")[0]
            assert provider.chain_id == L2[choice]


@pytest.mark.fault(
    area="CLI",
    fault="--network ECOSYSTEM:NETWORK:URL of a node on another chain",
    outcome="rejected with a one-line error",
    tries=3,
)
def test_a_node_on_another_chain_is_refused_in_one_line(tmp_path):
    with Anvil() as local, Anvil(chain_id=L2["base:sepolia"], optimism=True) as base:
        for given, node, runs, hint in (
            ("optimism:sepolia", local, LOCAL_CHAIN_ID, f"or --network {local.url} for this one"),
            ("arbitrum:sepolia", base, 84532, f"or --network base:sepolia:{base.url} for this one"),
        ):
            with pytest.raises(click.ClickException) as info:
                check_network(f"{given}:{node.url}")
            message = info.value.message
            assert f"runs chain id {runs}, but {given} is chain id {L2[given]}" in message, message
            assert message.endswith(hint) and "\n" not in message
        # The same through the command line: one line, nothing read or sent.
        record = tmp_path / "deployment.json"
        record.write_text(json.dumps({"address": "0x" + "11" * 20, "block": 0}))
        network = f"optimism:sepolia:{local.url}"
        result = CliRunner().invoke(main, ["status", "--network", network, "--deployment", str(record)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: --network {network}: "), result.output
    assert f"runs chain id {LOCAL_CHAIN_ID}, but optimism:sepolia is chain id 11155420" in lines[0]
