"""Deployment records hold nothing secret and are keyed by chain id (docs/outside-client.md §6)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from qfl.chain.toolchain import configure_environment
from qfl.orchestration.config import ExperimentConfig
from qfl.orchestration.deployment import deployment_file, public_address, read_deployment

KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("given", "written"),
    [
        (f"https://sepolia.infura.io/v3/{KEY}", "https://sepolia.infura.io/v3/***"),
        (
            "https://eth-sepolia.g.alchemy.com/v2/AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf",
            "https://eth-sepolia.g.alchemy.com/v2/***",
        ),
        (f"https://rpc.ankr.com/eth_sepolia/{KEY}{KEY}", "https://rpc.ankr.com/eth_sepolia/***"),
        (f"https://name.quiknode.pro/{KEY}/", "https://name.quiknode.pro/***/"),
        ("https://user:pass@node.example:8545/rpc?apikey=s3cret#x", "https://node.example:8545/rpc"),
        (f"wss://mainnet.infura.io/ws/v3/{KEY}", "wss://mainnet.infura.io/ws/v3/***"),
        (
            f"ethereum:sepolia:https://sepolia.infura.io/v3/{KEY}",
            "ethereum:sepolia:https://sepolia.infura.io/v3/***",
        ),
        ("https://rpc.example/ethereum-sepolia", "https://rpc.example/ethereum-sepolia"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://[::1]:8545/", "http://[::1]:8545/"),
        ("ethereum:local:test", "ethereum:local:test"),
        ("runs/store", "runs/store"),
    ],
)
def test_public_address_drops_credentials_and_key_like_segments(given, written):
    assert public_address(given) == written


def _provider(chain_id=11155111, ecosystem="ethereum", network="sepolia"):
    return SimpleNamespace(
        chain_id=chain_id, network=SimpleNamespace(name=network, ecosystem=SimpleNamespace(name=ecosystem))
    )


def test_deployment_file_is_keyed_by_chain_id_and_still_reads_the_old_name(tmp_path):
    assert deployment_file(tmp_path, _provider()) == tmp_path / "11155111.json"
    (tmp_path / "ethereum-sepolia.json").write_text("{}")
    assert deployment_file(tmp_path, _provider()) == tmp_path / "ethereum-sepolia.json"  # only the old one
    (tmp_path / "11155111.json").write_text("{}")
    assert deployment_file(tmp_path, _provider()) == tmp_path / "11155111.json"


def test_records_of_older_versions_still_read(tmp_path):
    old = {"network": "http://127.0.0.1:8545", "address": "0x" + "11" * 20, "block": 7}
    (tmp_path / "deployment.json").write_text(json.dumps(old))
    assert read_deployment(tmp_path / "deployment.json") == old


def test_deploy_and_record_writes_no_key(tmp_path):
    import ape

    from qfl.orchestration.deployment import deploy_and_record

    configure_environment()
    cfg = ExperimentConfig.model_validate(
        {
            "name": "record",
            "n_clients": 2,
            "model": {"n_qubits": 4, "n_layers": 1},
            "data": {"dataset": "digits01", "split": "iid"},
            "protocol": {"rounds": 1, "committee_size": 1, "stake_eth": 1.0, "fund_eth": 1.0},
        }
    )
    secret_store = f"https://user:pw@ipfs.example:5001/{KEY}?token=abc"
    with ape.networks.parse_network_choice("ethereum:local:test") as provider:
        path = deployment_file(tmp_path, provider)
        record = deploy_and_record(
            cfg,
            tmp_path / "cfg.yaml",
            ape.accounts.test_accounts[0],
            str(tmp_path / "store"),
            path,
            network_choice=f"ethereum:sepolia:https://sepolia.infura.io/v3/{KEY}",
        )
        chain_id = int(ape.chain.chain_id)
        from qfl.chain import Federation
        from qfl.chain.toolchain import project
        from qfl.orchestration.deployment import deployment_record

        federation = Federation.at(project(), record["address"], record["block"])
        other = deployment_record(
            federation, record["block"], None, ape.accounts.test_accounts[0], secret_store, "x"
        )
    assert path == tmp_path / f"{chain_id}.json"
    text = path.read_text()
    assert KEY not in text and "user" not in text
    written = read_deployment(path)
    assert written == record
    assert written["chain_id"] == chain_id
    assert written["network_choice"] == "ethereum:sepolia:https://sepolia.infura.io/v3/***"
    assert written["model_spec"].startswith("Qm") and written["initial_model"].startswith("Qm")
    assert {"address", "block", "block_hash", "deployed_at"} <= set(written)
    assert other["store"] == "https://ipfs.example:5001/***"
    assert other["initial_model"] == record["initial_model"]


def test_qflchain_deploy_records_chain_id_and_cids(tmp_path):
    from click.testing import CliRunner

    from qfl.cli import main

    configure_environment()
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "name: cli-record\nn_clients: 2\nmodel: {n_qubits: 4, n_layers: 1}\ndata: {dataset: digits01}\n"
        "protocol: {rounds: 1, committee_size: 1, stake_eth: 1.0, fund_eth: 1.0}\n"
    )
    out = tmp_path / "deployment.json"
    result = CliRunner().invoke(
        main,
        [
            "deploy",
            "--config",
            str(config),
            "--network",
            "ethereum:local:test",
            "--store",
            str(tmp_path / "s"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    record = read_deployment(out)
    assert record["chain_id"] == 1337 and record["network_choice"] == "ethereum:local:test"
    assert record["model_spec"].startswith("Qm") and record["initial_model"].startswith("Qm")
    assert isinstance(record["block"], int)
