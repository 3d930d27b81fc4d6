"""The carrier-network simulator: scenarios, the simulation loop, the benchmark."""
