"""Connectors: how a message leaves convroute over a route (DESIGN 2, "Route").

Each route names a connector and holds its config. ``simulated`` is a carrier from a
scenario file (latency, receipts, failures), so demos and tests produce real traffic;
``http`` forwards the message to a provider's send API. A connector is one small class with
one I/O method (``submit``); an SMPP connector would be another such class.
"""
