"""Scores, ratings and risk tiers: scorecards, statistical models, company ratios."""
