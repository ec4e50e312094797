"""Read-only views of the portfolio for BI tools (Power BI, Tableau, Superset), a read-only
PostgreSQL role for them, and a Parquet copy for data teams; docs/bi.md describes them."""
