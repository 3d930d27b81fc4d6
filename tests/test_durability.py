"""Nothing acknowledged is lost: a real server process is SIGKILLed under concurrent load and
every report it answered with success must be in the database afterwards, on SQLite and on
PostgreSQL."""

from __future__ import annotations

import pytest
from benchmarks import ingest

from tests.conftest import _truncate_pg


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_report(capsys: pytest.CaptureFixture[str]) -> None:
    code = ingest.main(["--kill-after", "1.5", "--connections", "32"])
    out = capsys.readouterr().out
    assert "0 acknowledged but lost" in out, out
    assert code == 0


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_loses_no_acknowledged_report_on_postgresql(
    pg_schema_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _truncate_pg(pg_schema_url)
    code = ingest.main(
        ["--kill-after", "1.5", "--connections", "32", "--database-url", pg_schema_url]
    )
    out = capsys.readouterr().out
    assert "0 acknowledged but lost" in out, out
    assert code == 0


@pytest.mark.slow
def test_a_killed_writer_process_loses_nothing_and_the_server_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = ingest.main(["--kill-writer-after", "1.0", "--connections", "32"])
    out = capsys.readouterr().out
    assert "writer process SIGKILLed after 1 s" in out, out
    assert "0 acknowledged but lost" in out, out
    assert code == 0, out
