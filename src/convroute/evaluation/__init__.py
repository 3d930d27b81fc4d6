"""Offline policy evaluation: what another policy, or other settings, would have achieved on
the traffic a policy logged, from the decisions' logged probabilities (DESIGN 5.5)."""
