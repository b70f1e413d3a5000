"""`ape run status --network ...`: the recorded federation's current round and members, as tables."""

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from qfl.orchestration.deployment import deployments_option


@click.command(cls=ConnectedProviderCommand)
@deployments_option
def cli(provider, deployments_dir: Path) -> None:
    """Phase of the current round, its committee and updates; each member's reputation and money."""
    from rich.console import Console

    from qfl.chain import Federation
    from qfl.chain.toolchain import configure_environment, project
    from qfl.orchestration.deployment import deployment_file, has_code, read_deployment
    from qfl.orchestration.status import render_status

    configure_environment()
    path = deployment_file(deployments_dir, provider)
    record = read_deployment(path)
    if not has_code(record["address"]):
        hint = (
            "ethereum:local:test is a fresh in-process chain in every command; `ape run round` on it deploys "
            "and prints the status at the end"
            if provider.name == "test"
            else "was the node restarted, or is this another chain? deploy again with `ape run deploy`"
        )
        raise click.UsageError(
            f"{path} records federation {record['address']}, not deployed on this chain: {hint}"
        )
    click.echo(
        f"{record['ecosystem']}:{record['network']} (chain {record['chain_id']}), deployed at block "
        f"{record['block']} from {record['config']}"
    )
    Console(width=160).print(
        render_status(Federation.at(project(), record["address"], record.get("block", 0)))
    )
