"""The file spark-submit runs (riskdesk/batch/submit.py) is `riskdesk batch` with its arguments:
run here as a plain Python process, with the Polars engine (no JVM needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from riskdesk.batch import frames as batch_frames
from riskdesk.batch import submit
from riskdesk.indicators.compute import compute
from tests.batch.equality import differences
from tests.batch.population import AS_OF, generate


def test_the_spark_submit_entry_runs_riskdesk_batch(tmp_path: Path) -> None:
    frames = generate(40, 2_000, seed=7)
    batch_frames.write_frames(frames, tmp_path / "frames")
    # As spark-submit starts it: the file itself, the batch command's arguments after it.
    done = subprocess.run(
        [
            sys.executable,
            submit.__file__,
            "indicators",
            "--engine",
            "polars",
            "--frames",
            str(tmp_path / "frames"),
            "--as-of",
            AS_OF.isoformat(),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"customers": 40' in done.stdout
    assert differences(batch_frames.read_result(tmp_path / "out"), compute(frames, AS_OF)) == {}
    # A bad option is refused by name, as the CLI does.
    bad = subprocess.run(
        [sys.executable, submit.__file__, "indicators", "--frames", str(tmp_path / "frames"),
         "--out", str(tmp_path / "o"), "--as-of", "30/06/2026"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "--as-of" in (bad.stdout + bad.stderr)
