"""BG/NBD on the CDNOW data (Fader, Hardie & Lee 2005), against naive baselines.

    PYTHONPATH=. .venv/bin/python bench/churn_bench.py [--sample]

Downloads the pinned `lifetimes` wheel from PyPI (it ships CDNOW_master.txt: 23,570 customers'
purchases, January 1997 to June 1998) into a cache under /tmp, turns it into a CSV, and runs
`riskdesk churn backtest` on it: fit on purchases up to 1997-09-30 (39 weeks), compare with
each customer's purchases up to 1998-06-30 (the next 39 weeks), as in the paper.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from riskdesk.cli.main import app

CACHE = Path("/tmp/riskdesk-churn-data")
WHEEL = "lifetimes==0.11.3"


def cdnow_csv(sample: bool) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    name = "CDNOW_sample.txt" if sample else "CDNOW_master.txt"
    out = CACHE / (name.replace(".txt", ".csv"))
    if out.exists():
        return out
    wheels = list(CACHE.glob("*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(CACHE)],
            check=True,
        )
        wheels = list(CACHE.glob("*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        text = wheel.read(f"lifetimes/datasets/{name}").decode()
    lines = ["customer,date,quantity,amount"]
    for row in text.splitlines():
        parts = row.split()
        if not parts or not parts[0].isdigit():  # blank lines and the header
            continue
        # master: id, yyyymmdd, quantity, amount; sample: id, id2, yyyymmdd, quantity, amount
        cid, day, qty, amount = (parts[0], *parts[-3:])
        lines.append(f"{cid},{day[:4]}-{day[4:6]}-{day[6:8]},{qty},{amount}")
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", action="store_true", help="the 1/10 sample of the paper")
    args = parser.parse_args()
    path = cdnow_csv(args.sample)
    started = time.perf_counter()
    result = CliRunner().invoke(
        app,
        ["churn", "backtest", "--transactions", str(path), "--customer-col", "customer",
         "--date-col", "date", "--amount-col", "amount", "--cutoff", "1997-09-30",
         "--until", "1998-06-30", "--format", "json"],
    )  # fmt: skip
    if result.exit_code != 0:
        raise SystemExit(result.output)
    out = json.loads(result.output)
    out["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
