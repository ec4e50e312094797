"""Batch runs over a whole portfolio on one of two engines, from one definition.

``frames``: the frames directory both engines read (Parquet, one folder per source) and the
result directory both write. ``local``: in-process Polars. ``spark``: Apache Spark, which runs
the same Polars code per bucket of customers. ``scoring``: a scoring run's computation on
either engine. Pure engine code, no web or database imports, except ``repository``: loading a
result into a PostgreSQL staging table (``riskdesk batch load``).
"""
