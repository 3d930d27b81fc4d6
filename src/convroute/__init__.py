"""convroute: conversion feedback APIs and conversion-driven adaptive SMS routing."""

__version__ = "0.1.0"
__all__ = ["__version__"]
