"""The offline toolchain: pinned Python environment, solcjs launcher equal to solcjs itself."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "tools" / "solc" / "solc-v0.8.28"

STANDARD_JSON = {
    "language": "Solidity",
    "sources": {"contracts/ModelSpecRegistry.sol": {"urls": ["contracts/ModelSpecRegistry.sol"]}},
    "settings": {
        "optimizer": {"enabled": True, "runs": 200},
        "evmVersion": "cancun",
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
    },
}


# dp-accounting's metadata pins attrs<24 while eth-ape needs attrs 26; it runs on attrs 26 (its tests in
# tests/python/fl use it), so `make deps` installs it --no-deps and this one known line is allowed.
KNOWN_CONFLICTS = ("dp-accounting 0.6.0 has requirement attrs<24,>=22, but you have attrs 26.1.0.",)


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    problems = [line for line in result.stdout.splitlines() if line.strip() and line not in KNOWN_CONFLICTS]
    assert not problems and not result.stderr.strip(), result.stdout + result.stderr


def test_launcher_reports_native_version_format():
    out = subprocess.run([str(LAUNCHER), "--version"], capture_output=True, text=True, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert lines[1].startswith("Version: 0.8.28+commit.")


def test_launcher_output_equals_solcjs_compile():
    """Same standard-JSON in -> same ABI and bytecode as solcjs's own solc.compile (imports read from disk)."""
    source = (ROOT / "contracts" / "ModelSpecRegistry.sol").read_text()
    with_content = json.loads(json.dumps(STANDARD_JSON))
    with_content["sources"]["contracts/ModelSpecRegistry.sol"] = {"content": source}
    direct_js = (
        "const solc=require('./node_modules/solc');let s='';process.stdin.on('data',d=>s+=d);"
        "process.stdin.on('end',()=>process.stdout.write(solc.compile(s)));"
    )
    direct = subprocess.run(
        ["node", "-e", direct_js],
        input=json.dumps(with_content),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    via_launcher = subprocess.run(
        [str(LAUNCHER), "--standard-json", "--base-path", str(ROOT)],
        input=json.dumps(with_content),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    a = json.loads(direct.stdout)["contracts"]["contracts/ModelSpecRegistry.sol"]["ModelSpecRegistry"]
    b = json.loads(via_launcher.stdout)["contracts"]["contracts/ModelSpecRegistry.sol"]["ModelSpecRegistry"]
    assert a["abi"] == b["abi"]
    assert a["evm"]["bytecode"]["object"] == b["evm"]["bytecode"]["object"]
    assert len(b["evm"]["deployedBytecode"]["object"]) > 100


def test_launcher_resolves_imports_from_the_filesystem(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "Lib.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\nlibrary Lib { function one() internal pure returns (uint256) { return 1; } }\n"
    )
    main = '// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\nimport "lib/Lib.sol";\ncontract UsesLib { function f() external pure returns (uint256) { return Lib.one(); } }\n'
    data = {
        "language": "Solidity",
        "sources": {"Main.sol": {"content": main}},
        "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
    }
    out = subprocess.run(
        [str(LAUNCHER), "--standard-json", "--base-path", str(tmp_path)],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out)
    assert not [e for e in result.get("errors", []) if e["severity"] == "error"], result
    assert result["contracts"]["Main.sol"]["UsesLib"]["abi"][0]["name"] == "f"


@pytest.mark.parametrize("args", [["--bin", "x.sol"], []])
def test_launcher_refuses_what_it_does_not_offer(args):
    result = subprocess.run([str(LAUNCHER), *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert "solc launcher" in result.stderr
