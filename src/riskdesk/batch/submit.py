"""The file ``spark-submit`` runs: ``riskdesk batch ...`` in the driver it starts.

spark-submit takes a Python application only as a ``.py`` file, not a console script::

    spark-submit --master yarn --deploy-mode cluster [options] \\
        "$(python -c 'import riskdesk.batch.submit as m; print(m.__file__)')" \\
        indicators --engine spark --master yarn --lake hdfs:///riskdesk/lake ...

Everything after the file is ``riskdesk batch``'s own arguments (``indicators``, ``scores``
or ``replay``: docs/spark.md).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    """Run ``riskdesk batch`` with ``argv`` (the process's arguments by default)."""
    from riskdesk.cli.main import app

    app(["batch", *(sys.argv[1:] if argv is None else argv)], prog_name="riskdesk")


if __name__ == "__main__":
    main()
