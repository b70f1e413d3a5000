"""Where the offline toolchain lives: solcjs launcher, anvil, ape's data folder.

`make` exports the same variables; this module lets `qflchain` and ape scripts work when run directly.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The local chains a whole in-process federation runs on: ape's EthTester, or anvil started by ape-foundry
# (for the optimism ecosystem ape-foundry starts it as `anvil --optimism`: the OP-stack rehearsal, docs/l2.md).
CHAINS = {
    "test": "ethereum:local:test",
    "foundry": "ethereum:local:foundry",
    "optimism": "optimism:local:foundry",
}


def configure_environment(root: Path = PROJECT_ROOT) -> None:
    """Point py-solc-x at the solcjs launcher, ape at a project-local data folder, PATH at anvil."""
    os.environ.setdefault("SOLCX_BINARY_PATH", str(root / "tools" / "solc"))
    os.environ.setdefault("APE_DATA_FOLDER", str(root / ".ape-data"))
    node_bin = str(root / "node_modules" / ".bin")
    if node_bin not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = node_bin + os.pathsep + os.environ.get("PATH", "")


def project():
    """This repository's ape project (contracts compiled on first use), wherever the command runs from."""
    import ape

    return ape.Project(PROJECT_ROOT)
