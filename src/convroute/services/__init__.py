"""Use cases: what convroute does, over the storage ports, free of any web or driver code."""
