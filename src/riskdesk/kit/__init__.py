"""Domain-free helpers: errors, money, time, pagination."""
