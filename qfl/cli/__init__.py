"""The `qflchain` command. Each module adds its commands to the group in `app`."""

from qfl.cli import experiments, federation, member  # noqa: F401 - importing registers the commands
from qfl.cli.app import QflGroup, main

__all__ = ["QflGroup", "main"]
