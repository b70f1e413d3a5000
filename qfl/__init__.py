"""QFLchain: blockchain-coordinated quantum federated learning."""

__version__ = "0.1.0"
