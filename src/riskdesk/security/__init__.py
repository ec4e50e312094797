"""Users, roles and permissions, sessions and API tokens."""
