"""A local Flow Service simulator: a faithful stand-in for tests, demos and benchmarks."""

from bulkflow.sim.config import Faults, SimConfig
from bulkflow.sim.server import Simulator, serve

__all__ = ["Faults", "SimConfig", "Simulator", "serve"]
