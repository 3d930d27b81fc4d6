"""Routing: choosing a route for a message. Pure: imports nothing from storage, api or cli."""
