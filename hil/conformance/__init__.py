"""Conformance: requirement catalogue, token case factory, and the oracle."""
