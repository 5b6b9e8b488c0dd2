from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mail.smtp import Inbox, serve_smtp


@pytest.fixture()
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    yield from serve_smtp(monkeypatch)
