"""`alliance payouts ...` as an operator types it, and invoice numbers without gaps."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alliance.cli import app
from alliance.db.engine import reading, transaction
from alliance.payouts import service as payouts
from alliance.payouts.models import Payout, PayoutRun
from tests.payouts.factories import approved, payee

pytestmark = pytest.mark.usefixtures("db_url")


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["payouts", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_preview_run_mark_and_files_from_the_command_line(tmp_path: Path) -> None:
    w = payee(threshold="5.00")
    approved(w, "420.00", datetime(2018, 2, 3, tzinfo=UTC))  # 42.00 EUR
    preview = _invoke("preview", "--through", "2018-02-28", "--partner", w.partner_id)
    assert "create" in preview and "42.00 EUR" in preview
    ran = _invoke("run", "--through", "2018-02-28", "--partner", w.partner_id)
    assert "create=1" in ran
    with reading() as session:
        payout = session.scalars(select(Payout).where(Payout.partner_id == w.partner_id)).one()
        run = session.get(PayoutRun, payout.run_id)
        assert run is not None and run.started_by.startswith("cli:")
    assert "already_made=1" in _invoke("run", "--through", "2018-02-28", "--partner", w.partner_id)

    written = _invoke("files", payout.run_id, "--out", str(tmp_path))
    rows = (tmp_path / f"payouts-{payout.run_id}.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{payout.id},{w.partner_id},")
    assert "paying account" in written or (tmp_path / f"sepa-{payout.run_id}.xml").exists()

    assert f"{payout.id} is sent" in _invoke("mark", payout.id, "sent")
    refused = CliRunner().invoke(app, ["payouts", "mark", payout.id, "failed"])
    assert refused.exit_code == 2 and "say why" in refused.output
    assert "is failed" in _invoke("mark", payout.id, "failed", "--reason", "AC04")
    late = CliRunner().invoke(app, ["payouts", "run", "--through", "2999-01-01"])
    assert late.exit_code == 2 and "through" in late.output


def test_invoice_numbers_have_no_gaps_when_a_payout_is_rolled_back() -> None:
    w = payee()
    with pytest.raises(RuntimeError), transaction() as session:
        assert payouts.next_invoice_number(session, w.partner_id) == "SB-000001"
        raise RuntimeError("the payout failed before it was committed")
    with transaction() as session:
        assert payouts.next_invoice_number(session, w.partner_id) == "SB-000001"
    with transaction() as session:
        assert payouts.next_invoice_number(session, w.partner_id) == "SB-000002"
