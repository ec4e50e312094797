"""Behaviour indicators: each defined once, computed for one customer or for all in batch."""
