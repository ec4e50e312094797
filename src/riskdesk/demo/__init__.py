"""Demo data for trying Riskdesk out."""
