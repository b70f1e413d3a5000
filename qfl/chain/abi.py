"""The contract ABIs an outside client needs, exported to abi/ as plain JSON arrays (what web3.py, ethers and
viem take), from ape's compiled contract types.

    python -m qfl.chain.abi            # (re)write abi/QFLFederation.json
    python -m qfl.chain.abi --check    # exit 1 if a committed file differs from the compiled contract

tests/python/outside/test_abi.py runs the check, so the committed file never goes stale. Only the federation
is exported: ModelSpecRegistry is not deployed by `qflchain deploy`, and the spec digest a client needs is in
the federation (`modelSpec()`, event FederationCreated).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qfl.chain.toolchain import PROJECT_ROOT

ABI_DIR = PROJECT_ROOT / "abi"
EXPORTED = ("QFLFederation",)


def compiled_abi(name: str) -> list[dict]:
    """The ABI of contract `name` as ape compiles it (compiling first if needed), as JSON-ready dicts."""
    from qfl.chain.toolchain import configure_environment, project

    configure_environment()
    contract_type = getattr(project(), name).contract_type
    return [entry.model_dump(mode="json", by_alias=True, exclude_none=True) for entry in contract_type.abi]


def render(abi: list[dict]) -> str:
    """The committed text of an ABI: indented JSON, entries in compiler order, a final newline."""
    return json.dumps(abi, indent=2) + "\n"


def abi_path(name: str, directory: Path = ABI_DIR) -> Path:
    return Path(directory) / f"{name}.json"


def write(directory: Path = ABI_DIR) -> list[Path]:
    """Write every exported ABI into `directory`; the paths written."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    paths = []
    for name in EXPORTED:
        path = abi_path(name, directory)
        path.write_text(render(compiled_abi(name)))
        paths.append(path)
    return paths


def stale(directory: Path = ABI_DIR) -> list[str]:
    """Names of the exported ABIs whose file in `directory` is missing or differs from the compiled one."""
    return [
        name
        for name in EXPORTED
        if not abi_path(name, directory).is_file()
        or abi_path(name, directory).read_text() != render(compiled_abi(name))
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        bad = stale()
        for name in bad:
            print(f"{abi_path(name)} is stale: run `python -m qfl.chain.abi`", file=sys.stderr)
        return 1 if bad else 0
    if args:
        print("usage: python -m qfl.chain.abi [--check]", file=sys.stderr)
        return 2
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
