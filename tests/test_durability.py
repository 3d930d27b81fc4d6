"""Nothing acknowledged is lost: a real server process is SIGKILLed under concurrent load and
every report it answered with success must be in the database afterwards."""

from __future__ import annotations

import pytest
from benchmarks import ingest


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_report(capsys: pytest.CaptureFixture[str]) -> None:
    code = ingest.main(["--kill-after", "1.5", "--connections", "32"])
    out = capsys.readouterr().out
    assert "0 acknowledged but lost" in out, out
    assert code == 0
