"""The `qflchain` command."""

from __future__ import annotations

import click

from qfl.toolchain import configure_environment


@click.group()
def main() -> None:
    """QFLchain: quantum federated learning coordinated by Ethereum contracts."""
    configure_environment()


@main.command()
def demo() -> None:
    """Deploy the contracts to ape's in-process chain and show that they answer."""
    import ape

    with ape.networks.parse_network_choice("ethereum:local:test"):
        project = ape.Project(ape.project.path)
        publisher = ape.accounts.test_accounts[0]
        registry = publisher.deploy(project.ModelSpecRegistry)
        digest = bytes.fromhex("ab" * 32)
        receipt = registry.publish(digest, sender=publisher)
        click.echo(f"ModelSpecRegistry at {registry.address}; publish used {receipt.gas_used} gas")
        click.echo(f"publisherOf(0xabab..) = {registry.publisherOf(digest)}")
