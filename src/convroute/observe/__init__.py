"""What operators see of a running convroute: metrics (``metrics``) and event logs (``events``)."""
