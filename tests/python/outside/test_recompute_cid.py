"""An outside client recomputes a real round's global model CID from the chain, with the independent
implementation in outside_client.py (written from docs/outside-client.md only), and gets the CID on chain.

One round on the in-process chain (EthTester): four clients, client 3 sign-flipping (so one update is
rejected and left out), reputation-weighted FedAvg, max_share 0.3 (three accepted updates cannot each stay
under 30%: the water-filling lowers every weight to the smallest one).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from small_configs import small_config

from qfl.chain.toolchain import configure_environment
from qfl.orchestration.config import ExperimentConfig

from .outside_client import cid_digest, cid_of_digest, recompute, water_fill

CFG = small_config(
    "outside-client",
    4,
    seed=3,
    protocol={"stake_eth": 2.0, "fund_eth": 5.0, "max_share": 0.3},
    attacks=[{"kind": "sign_flip", "clients": [3], "strength": 1.0}],
)


# The rule is in the model spec (on chain by digest): the outside client reads it there, not from a config.
@pytest.fixture(scope="module", params=["reputation_weighted_fedavg", "coordinate_median"])
def round_one(request, tmp_path_factory):
    import ape

    from qfl.orchestration.sim import build_in_process
    from qfl.storage import EmbeddedStore

    configure_environment()
    started = time.perf_counter()
    cfg = ExperimentConfig.model_validate({**CFG, "aggregation": request.param})
    root = tmp_path_factory.mktemp("outside")
    store = EmbeddedStore(root / "store")
    with ape.networks.parse_network_choice("ethereum:local:test"):
        sim = build_in_process(cfg, store, root / "state")
        sim.play_round()
        w3 = ape.chain.provider.web3
        # The store is only used to fetch bytes by CID, as a gateway would serve them.
        result = recompute(w3, sim.federation.address, 1, store.get)
        attacker = sim.accounts[1 + 3].address
    return result, attacker, time.perf_counter() - started


def test_outside_client_recomputes_the_global_model_cid(round_one):
    result, _, seconds = round_one
    print(f"round played and recomputed in {seconds:.1f} s; weights {result.weights}")
    assert result.on_chain == result.cid


def test_votes_give_the_outcomes_settlement_recorded(round_one):
    result, attacker, _ = round_one
    assert result.judged_outcomes == result.settled_outcomes
    assert result.judged_outcomes[attacker] == "rejected"
    assert len(result.accepted) == 3
    assert result.weights == [result.weights[0]] * 3  # the infeasible cap: all lowered to the smallest


def test_cid_rule_matches_known_kubo_cids():
    assert cid_of_digest(cid_digest(b"")) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    assert cid_of_digest(cid_digest(b"hello world\n")) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"


def test_multi_chunk_cid_agrees_with_the_node():
    """Beyond one 256 KiB chunk the DAG has a root linking the leaves; the node's own CID is the oracle."""
    from qfl.storage.unixfs import compute_cid

    data = np.random.default_rng(0).bytes(3 * 262_144 + 17)
    assert cid_of_digest(cid_digest(data)) == compute_cid(data)


@pytest.mark.parametrize(
    ("weights", "bps", "expected"),
    [
        ([10, 10, 10], 5000, [10.0, 10.0, 10.0]),  # under the cap: unchanged
        ([100, 10, 10], 5000, [20.0, 10.0, 10.0]),  # T = 0.5 (T + 20)
        ([100, 50, 10, 10], 4000, [40.0, 40.0, 10.0, 10.0]),  # two clipped: T = 0.4 * 20 / 0.2
        ([7, 3, 5], 3000, [3.0, 3.0, 3.0]),  # 3 x 30% < 100%: all down to the smallest
        ([0, 5, 9], 10000, [0.0, 5.0, 9.0]),
    ],
)
def test_water_filling_examples(weights, bps, expected):
    assert water_fill(weights, bps) == expected
