"""Offline datasets mapped to qubit-sized features, and client splits (IID, Dirichlet, shards)."""

from qfl.data.datasets import Dataset, DatasetError, load_dataset
from qfl.data.splits import ClientData, split_dirichlet, split_iid, split_shards

__all__ = [
    "ClientData",
    "Dataset",
    "DatasetError",
    "load_dataset",
    "split_dirichlet",
    "split_iid",
    "split_shards",
]
