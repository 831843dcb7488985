"""One executor per family test module: each tiny model loads once for the module."""
import pytest

from studio.engine.executor import Executor
from studio.graph.registry import catalogue


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())
