"""What crosses the domains: intake of records from every channel, and (later) event processing."""
