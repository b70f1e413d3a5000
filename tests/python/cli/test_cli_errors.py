"""User mistakes at the `qflchain` command line: each is one line on stderr, a non-zero exit, no traceback
(only with `qflchain -v`), and is caught before anything is deployed or staked.

Every case is a real `python -m qfl.cli ...` process. They are independent, so one module fixture runs them
side by side (a few at a time) against two anvils: one with ape's local chain id 1337, where one
`qflchain deploy` succeeds and every other case must leave its account's nonce and balance untouched, and
one with anvil's default chain id 31337, which a bare URL cannot sign for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qfl.chain.toolchain import PROJECT_ROOT, configure_environment
from qfl.orchestration.multiproc import Anvil, free_port, qflchain

CONFIG = PROJECT_ROOT / "configs" / "multiprocess.yaml"  # stake_eth 2, fund_eth 10 (the defaults)
WEI = 10**18
NO_CODE = "0x1111111111111111111111111111111111111111"

# id -> (argv with {placeholders}, text the last stderr line must hold, test account that must stay untouched,
#        the mistake as the reliability table names it)
CASES = {
    "url-nothing-listening": (
        ["status", "--network", "{dead}", "--deployment", "{nofed}"],
        "nothing answers JSON-RPC at {dead} (",
        None,
        "--network URL with nothing listening",
    ),
    "url-wrong-chain-id": (
        ["status", "--network", "{anvil31337}", "--deployment", "{nofed}"],
        "runs chain id 31337, but ape signs for a bare RPC URL as its local chain 1337",
        None,
        "--network URL of an anvil with its default chain id 31337",
    ),
    "unknown-network": (
        ["status", "--network", "ethereum:nosuchnet", "--deployment", "{nofed}"],
        "ethereum has no network 'nosuchnet'; its networks are holesky, ",
        None,
        "--network ethereum:nosuchnet (an unknown ape network)",
    ),
    "status-no-federation": (
        ["status", "--network", "{url}", "--deployment", "{nofed}"],
        f"no federation at {NO_CODE} (recorded in ",
        None,
        "status on a chain without the recorded federation",
    ),
    "deploy-without-network": (
        ["deploy", "--config", "{config}", "--out", "{tmp}/dep-none.json"],
        "no --network: the in-process chain (ethereum:local:test) vanishes when deploy exits",
        None,
        "deploy without --network (the in-process chain would vanish)",
    ),
    "deploy-out-under-a-file": (
        ["deploy", "--config", "{config}", "--network", "{url}", "--account", "test:6"]
        + ["--store", "{tmp}/store-6", "--out", "{tmp}/a-file/deployment.json"],
        "--out {tmp}/a-file/deployment.json cannot be written (",
        6,
        "deploy --out under a file (unwritable)",
    ),
    "deploy-store-under-a-file": (
        ["deploy", "--config", "{config}", "--network", "{url}", "--account", "test:7"]
        + ["--store", "{tmp}/a-file/store", "--out", "{tmp}/dep-7.json"],
        "--store {tmp}/a-file/store is not a writable directory (",
        7,
        "deploy --store under a file (unwritable)",
    ),
    "deploy-sponsor-too-poor": (
        ["deploy", "--config", "{config}", "--network", "{url}", "--account", "test:5"]
        + ["--store", "{tmp}/store-5", "--out", "{tmp}/dep-5.json"],
        "holds 0.5000 ETH but the deployment needs 10.0 ETH for the reward pool",
        5,
        "deploy by a sponsor holding less than fund_eth + gas",
    ),
    "node-state-dir-under-a-file": (
        ["node", "--config", "{config}", "--network", "{url}", "--deployment", "{deployment}"]
        + ["--client-index", "0", "--account", "test:1", "--store", "{tmp}/store", "--state-dir"]
        + ["{tmp}/a-file/state"],
        "--state-dir {tmp}/a-file/state is not a writable directory (",
        1,
        "node --state-dir under a file (unwritable)",
    ),
    "node-store-under-a-file": (
        ["node", "--config", "{config}", "--network", "{url}", "--deployment", "{deployment}"]
        + ["--client-index", "1", "--account", "test:2", "--store", "{tmp}/a-file/store"]
        + ["--state-dir", "{tmp}/s-2"],
        "--store {tmp}/a-file/store is not a writable directory (",
        2,
        "node --store under a file (unwritable)",
    ),
    "node-no-such-test-account": (
        ["node", "--config", "{config}", "--network", "{url}", "--deployment", "{deployment}"]
        + [
            "--client-index",
            "0",
            "--account",
            "test:99",
            "--store",
            "{tmp}/store",
            "--state-dir",
            "{tmp}/s-99",
        ],
        "--account test:99: there are 20 test accounts (test:0 to test:19)",
        None,
        "--account test:99 (no such test account)",
    ),
    "node-stake-beyond-balance": (
        ["node", "--config", "{config}", "--network", "{url}", "--deployment", "{deployment}"]
        + [
            "--client-index",
            "2",
            "--account",
            "test:3",
            "--store",
            "{tmp}/store",
            "--state-dir",
            "{tmp}/s-3",
        ],
        "holds 1.0000 ETH but must stake 2.0 ETH and pay gas to register: fund it first",
        3,
        "node whose account holds less than stake_eth",
    ),
    "unknown-exception": (
        ["status", "--network", "{url}", "--deployment", "{bad}"],
        "Error: InvalidAddress: ENS name: 'nothex' is invalid. (run with -v for the traceback)",
        None,
        "an unexpected exception (a record with a malformed address)",
    ),
}
AFTER_DEPLOY = {"node-stake-beyond-balance"}  # needs the federation the good deploy makes
POOR = {5: 0.5, 3: 1.0}  # test account -> ETH it holds


def rpc(url: str, method: str, *params):
    request = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def run(argv: list[str], niceness: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        qflchain(*argv),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
    )


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every case (and one good deploy, and the -v rerun of one case); return their results and each
    untouched account's (nonce, balance) before and after."""
    configure_environment()
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "a-file").write_text("a file, not a directory\n")
    (tmp / "nofed.json").write_text(json.dumps({"address": NO_CODE, "block": 0, "network": "elsewhere"}))
    (tmp / "bad.json").write_text(json.dumps({"address": "nothex", "block": 0}))
    other_port = free_port()
    other = subprocess.Popen(
        [shutil.which("anvil"), "--port", str(other_port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Anvil() as anvil:
            url = anvil.url
            other_url = f"http://127.0.0.1:{other_port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    rpc(other_url, "eth_chainId")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            accounts = rpc(url, "eth_accounts")
            for index, eth in POOR.items():
                rpc(url, "anvil_setBalance", accounts[index], hex(int(eth * WEI)))
            fill = {
                "config": str(CONFIG),
                "url": url,
                "dead": f"http://127.0.0.1:{free_port()}",
                "anvil31337": other_url,
                "nofed": str(tmp / "nofed.json"),
                "bad": str(tmp / "bad.json"),
                "deployment": str(tmp / "deployment.json"),
                "tmp": str(tmp),
            }

            def state():
                return {
                    i: (
                        rpc(url, "eth_getTransactionCount", accounts[i], "latest"),
                        rpc(url, "eth_getBalance", accounts[i], "latest"),
                    )
                    for i in range(1, 8)
                }

            before = state()
            good = ["deploy", "--config", str(CONFIG), "--network", url, "--account", "test:0"]
            good += ["--store", str(tmp / "store"), "--out", fill["deployment"]]
            argvs = {name: [a.format(**fill) for a in argv] for name, (argv, *_) in CASES.items()}
            argvs["verbose"] = ["-v", *argvs["unknown-exception"]]

            def deploy_then_cases():
                done = {"good-deploy": run(good)}
                if done["good-deploy"].returncode == 0:
                    done.update({n: run(argvs[n]) for n in AFTER_DEPLOY})
                return done

            # The deploy and the cases after it are the longest path: they get their own worker, and the
            # others (four at a time) yield the CPU to them.
            with ThreadPoolExecutor(max_workers=5) as pool:
                lane = pool.submit(deploy_then_cases)
                futures = {n: pool.submit(run, a, 5) for n, a in argvs.items() if n not in AFTER_DEPLOY}
                results = {n: f.result() for n, f in futures.items()}
                results.update(lane.result())
            assert results["good-deploy"].returncode == 0, results["good-deploy"].stderr
            return {"results": results, "fill": fill, "before": before, "after": state()}
    finally:
        other.terminate()
        other.wait(10)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            name,
            marks=pytest.mark.fault(
                area="CLI", fault=fault, outcome="rejected with a one-line error", tries=1
            ),
            id=name,
        )
        for name, (_, _, _, fault) in CASES.items()
    ],
)
def test_mistake_is_one_line_before_anything_is_sent(outcomes, case):
    _, message, account, _ = CASES[case]
    result = outcomes["results"][case]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    line = last_line(result.stderr)
    assert line.startswith("Error: "), output
    assert message.format(**outcomes["fill"]) in line, output
    assert "plus up to 0.0000 ETH of gas" not in line  # the sponsor's check counts the creation's gas
    if account is not None:  # nothing deployed, registered or staked from it
        assert outcomes["after"][account] == outcomes["before"][account]
    argv = CASES[case][0]
    if argv[0] == "deploy" and "--store" in argv:  # nothing published either
        assert not Path(argv[argv.index("--store") + 1].format(**outcomes["fill"])).exists()


def test_verbose_shows_the_traceback_then_the_line(outcomes):
    result = outcomes["results"]["verbose"]
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert last_line(result.stderr) == "Error: InvalidAddress: ENS name: 'nothex' is invalid."


# ---------------------------------------------------------------------- the group's handler, in process


def _group(exc: BaseException):
    from qfl.cli import QflGroup

    @click.group(cls=QflGroup)
    @click.option("-v", "--verbose", is_flag=True)
    def group(verbose):
        pass

    @group.command()
    def boom():
        click.get_current_context().meta["qfl.network"] = "http://127.0.0.1:8619"
        raise exc

    return group


def _invoke(exc: BaseException, *args: str):
    result = CliRunner().invoke(_group(exc), [*args, "boom"])
    return result.exit_code, result.output


def test_ctrl_c_is_one_line_and_exit_130():
    code, output = _invoke(KeyboardInterrupt())
    assert (code, output.strip()) == (130, "Error: interrupted")


def test_rpc_node_gone_names_it_and_says_rerun():
    from qfl.chain import ChainUnavailable

    code, output = _invoke(ChainUnavailable("connection refused"))
    assert code == 1
    assert output.strip() == (
        "Error: the RPC node at http://127.0.0.1:8619 stopped answering; restart it and rerun "
        "(nodes resume from chain state)"
    )


def test_revert_names_the_contract_error_and_a_hint():
    from qfl.chain import FederationError

    code, output = _invoke(FederationError("register", "StakeTooLow", {"stake": 1, "minimum": 2}))
    assert code == 1
    assert output.strip() == (
        "Error: register reverted with StakeTooLow(stake=1, minimum=2): "
        "raise protocol.stake_eth in the config to the minimum"
    )
