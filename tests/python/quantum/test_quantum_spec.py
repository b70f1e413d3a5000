"""ModelSpec: validation, canonical bytes, digest."""

import pytest
from pydantic import ValidationError

from qfl.quantum.spec import ModelSpec, SpecError

BASE = dict(n_qubits=4, n_layers=2, encoding="angle", ansatz="hea", n_classes=2)


def test_canonical_bytes_sorted_and_compact():
    spec = ModelSpec(**BASE)
    assert spec.to_bytes() == (
        b'{"aggregation":"reputation_weighted_fedavg","ansatz":"hea","encoding":"angle","n_classes":2,'
        b'"n_layers":2,"n_qubits":4,"noise":0.0,"shots":null,"trim_fraction":0.2}'
    )
    assert ModelSpec.from_bytes(spec.to_bytes()) == spec
    assert len(spec.digest()) == 32


def test_digest_changes_with_any_field():
    a = ModelSpec(**BASE)
    assert a.digest() != ModelSpec(**{**BASE, "n_layers": 3}).digest()
    assert a.digest() != ModelSpec(**{**BASE, "shots": 100}).digest()
    assert a.digest() == ModelSpec(**BASE).digest()


def test_param_counts():
    assert ModelSpec(**BASE).n_params == 2 * 4 * 2 + 2 * 2
    assert ModelSpec(**{**BASE, "ansatz": "sel", "n_classes": 3}).n_params == 2 * 4 * 3 + 2 * 3
    assert ModelSpec(**{**BASE, "encoding": "amplitude"}).n_features == 16


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"n_classes": 5}, "n_classes=5"),
        ({"n_qubits": 0}, "n_qubits=0"),
        ({"n_layers": 0}, "n_layers=0"),
        ({"noise": 0.9}, "noise=0.9"),
        ({"shots": 0}, "shots=0"),
        ({"encoding": "basis"}, "encoding"),
    ],
)
def test_invalid_specs_say_what_is_wrong(change, needle):
    with pytest.raises(ValidationError, match=needle):
        ModelSpec(**{**BASE, **change})


def test_spec_is_frozen_and_hashable():
    spec = ModelSpec(**BASE)
    with pytest.raises(ValidationError):
        spec.n_qubits = 5
    assert {spec: 1}[ModelSpec(**BASE)] == 1


def test_from_bytes_rejects_garbage():
    with pytest.raises(SpecError, match="not a valid model spec"):
        ModelSpec.from_bytes(b"{not json")
    with pytest.raises(SpecError):
        ModelSpec.from_bytes(b'{"n_qubits":4}')


def test_the_aggregation_rule_and_its_parameter_are_part_of_the_spec_bytes():
    import json

    base = dict(n_qubits=4, n_layers=1, encoding="angle", ansatz="hea", n_classes=2)
    default = ModelSpec(**base)
    median = ModelSpec(**base, aggregation="coordinate_median")
    trimmed = ModelSpec(**base, aggregation="trimmed_mean", trim_fraction=0.1)
    assert json.loads(default.to_bytes())["aggregation"] == "reputation_weighted_fedavg"
    assert len({default.digest(), median.digest(), trimmed.digest()}) == 3  # another rule, another spec CID
    assert ModelSpec.from_bytes(trimmed.to_bytes()) == trimmed


@pytest.mark.parametrize("fields", [{"aggregation": "mean"}, {"trim_fraction": 0.5}, {"trim_fraction": -0.1}])
def test_spec_refuses_unknown_rules_and_trims_out_of_range(fields):
    with pytest.raises(ValidationError):
        ModelSpec(n_qubits=4, n_layers=1, encoding="angle", ansatz="hea", n_classes=2, **fields)
