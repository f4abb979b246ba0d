"""A local stand-in for Customer.io: Track API, App API, reporting-webhook sender.

It implements the documented behaviour of the endpoints this project uses (auth, status codes,
size limits, rate limiting, deduplication, timestamp ordering), records what it received, and
injects faults on demand. It stands for Customer.io, so it imports nothing of our own client.
"""

from cio_simulator.config import FaultConfig, SimulatorConfig
from cio_simulator.server import Simulator

__all__ = ["FaultConfig", "Simulator", "SimulatorConfig"]
