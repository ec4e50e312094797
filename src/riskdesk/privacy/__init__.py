"""Consent per purpose, data-subject export, erasure under legal hold, retention."""
