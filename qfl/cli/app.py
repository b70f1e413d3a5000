"""The `qflchain` command group: one-line errors, shared options, the network check."""

from __future__ import annotations

import traceback
from pathlib import Path

import click

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment

DEMO_CONFIG = PROJECT_ROOT / "configs" / "demo.yaml"


# What to do about a contract error a command can meet (FederationError.error -> hint).
FEDERATION_HINTS = {
    "StakeTooLow": "raise protocol.stake_eth in the config to the minimum",
    "StakeTooLarge": "lower protocol.stake_eth in the config",
    "FederationFull": "every seat is taken: deploy another federation or use an account already registered",
    "RejoinCooldown": "this account left recently: wait until the cooldown ends or use another account",
    "AlreadyRegistered": "this account is already a member: rerun the node with it (it resumes)",
    "NotRegistered": "register this account first (`qflchain node` registers it)",
    "AllRoundsDone": "the federation has finished every round: deploy a new one",
    "NotSponsor": "only the sponsor account (the deployer) may do this: pass --account of the sponsor",
    "PoolUnderfunded": "the reward pool is too small: fund it, or deploy with a larger protocol.fund_eth",
    "WrongPhase": "the round moved on meanwhile: rerun (nodes resume from chain state)",
    "OutOfGas": "the transaction ran out of gas: rerun (the node retries with more)",
}


class QflGroup(click.Group):
    """Every subcommand's failure as one line on stderr and a non-zero exit: a known mistake (a
    ClickException) as click shows it, anything else as `Error: <type>: <message>` with exit 1, Ctrl-C as
    exit 130. `qflchain -v` also prints the traceback first."""

    def invoke(self, ctx: click.Context):
        verbose = bool(ctx.params.get("verbose"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:
            if verbose and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__)
            raise
        except KeyboardInterrupt:
            if verbose:
                traceback.print_exc()
            raise _OneLine("interrupted", exit_code=130) from None
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            raise _OneLine(_describe(exc, ctx.meta.get("qfl.network"), verbose)) from exc


class _OneLine(click.ClickException):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _describe(exc: BaseException, network: str | None, verbose: bool) -> str:
    """One line for an unexpected exception: what happened and, where known, what to do."""
    try:
        from qfl.chain import ChainUnavailable, FederationError
    except Exception:  # the binding itself does not import: describe the exception as it is
        ChainUnavailable = FederationError = ()  # noqa: N806 - stand-ins that match nothing

    if isinstance(exc, ChainUnavailable):
        where = f" at {network}" if network else ""
        return f"the RPC node{where} stopped answering; restart it and rerun (nodes resume from chain state)"
    if isinstance(exc, FederationError):
        hint = FEDERATION_HINTS.get(exc.error)
        return _first_line(str(exc)) + (f": {hint}" if hint else "")
    if type(exc).__name__ == "NodeSoftwareNotInstalledError":  # ape-node found no node and cannot start geth
        return (
            f"nothing answers for --network {network}: start your node and pass its URL as --network "
            "(e.g. `anvil --port 8545 --chain-id 1337` and --network http://127.0.0.1:8545)"
        )
    line = f"{type(exc).__name__}: {_first_line(str(exc))}".rstrip(": ")
    return line if verbose else f"{line} (run with -v for the traceback)"


@click.group(cls=QflGroup)
@click.option(
    "-v", "--verbose", is_flag=True, help="also show ape's log (every transaction confirmed) and tracebacks"
)
def main(verbose: bool) -> None:
    """QFLchain: quantum federated learning coordinated by Ethereum contracts."""
    configure_environment()
    if not verbose:
        from ape.logging import logger

        logger.set_level("WARNING")  # the progress lines say what happened; ape would add one per transaction


def checked_network(value: str) -> str:
    """Accept ape network choices and bare RPC URLs (as an ad-hoc local network), checked first: an unknown
    choice, or a URL where nothing answers JSON-RPC, is a one-line error (qfl.orchestration.deployment.check_network)."""
    from qfl.orchestration.deployment import check_network

    # The error for a node that stops answering names it.
    click.get_current_context().meta["qfl.network"] = value
    return check_network(value)


IN_PROCESS = "ethereum:local:test"


def node_preflight(state_dir: Path, store: str, account: str) -> None:
    """`node` checks before it loads data or connects: its state dir and store take writes (or it could stake
    and then fail at its first write), its account exists."""
    from qfl.orchestration.deployment import check_account, check_store_writable, check_writable_dir

    check_writable_dir(state_dir, "--state-dir")
    check_store_writable(store)
    check_account(account)


def require_recorded_federation(record: dict, deployment: Path, network: str) -> None:
    from qfl.orchestration.deployment import require_federation

    require_federation(record, deployment, network)


network_option = click.option(
    "--network", default=IN_PROCESS, show_default=True, help="ape network choice or an RPC URL"
)
store_option = click.option(
    "--store", default="runs/store", show_default=True, help="embedded store directory or Kubo RPC URL"
)


deployment_option = click.option(
    "--deployment", type=click.Path(path_type=Path), default=Path("deployment.json"), show_default=True
)
