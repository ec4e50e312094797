"""Credit exposure, order credit checks and the blocked-order worklist."""
