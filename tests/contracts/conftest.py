import pytest


@pytest.fixture
def publisher(accounts):
    return accounts[0]


@pytest.fixture
def spec_registry(project, publisher):
    return publisher.deploy(project.ModelSpecRegistry)
