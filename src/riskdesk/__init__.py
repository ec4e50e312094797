"""Riskdesk: customer credit files, credit risk scoring and early warning."""

__version__ = "0.1.0"
