"""The portfolio dashboard: exposure, limits, overdue and ageing, tiers, concentration and the
work waiting, aggregated by the database over the customers a caller may see."""
