"""The credit file: customer master data, credit profile, history and dual review."""
