"""`ape run deploy --config configs/X.yaml --network ...`: publish the model, deploy and fund a federation.

The record lands in deployments/<chain id>.json (written atomically, one file per chain), where
`ape run round`, `ape run status` and `qflchain node --deployment ...` find it.
"""

from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from qfl.orchestration.deployment import deployments_option, load_experiment


@click.command(cls=ConnectedProviderCommand)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="experiment YAML"
)
@click.option(
    "--account", default="test:0", show_default=True, help="sponsor: test:N or an ape account alias"
)
@click.option(
    "--store", default="runs/store", show_default=True, help="embedded store directory or Kubo RPC URL"
)
@deployments_option
def cli(provider, config_path: Path, account: str, store: str, deployments_dir: Path) -> None:
    """Publish the model spec and initial weights, deploy and fund a federation, record its address."""
    from qfl.chain.toolchain import configure_environment
    from qfl.orchestration.deployment import deploy_and_record, deployment_file, resolve_account

    configure_environment()
    cfg = load_experiment(config_path)
    sponsor = resolve_account(account)
    path = deployment_file(deployments_dir, provider)
    record = deploy_and_record(cfg, config_path, sponsor, store, path)
    click.echo(
        f"federation {record['address']} deployed on {record['ecosystem']}:{record['network']} "
        f"(chain {record['chain_id']}) at block {record['block']} by {record['sponsor']}, "
        f"{cfg.n_clients} clients x {cfg.protocol.rounds} rounds, funded {cfg.protocol.fund_eth} ETH"
    )
    click.echo(f"model spec {record['model_spec']}, initial model {record['initial_model']} in {store}")
    click.echo(f"recorded in {path}")
    if record["network"] == "local" and record["provider"] == "test":
        click.echo(
            "note: ethereum:local:test is an in-process chain that ends with this command; "
            "use `ape run round` (it deploys on that chain by itself) or anvil for a chain that stays"
        )
