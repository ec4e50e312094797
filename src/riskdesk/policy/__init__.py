"""Credit policy by risk tier, recommended limits, limit requests and approval authority."""
