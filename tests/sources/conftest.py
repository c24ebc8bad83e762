"""The CLI's clean environment for the tests of ``rag add`` and of ``rag ingest``'s feeds
(the news site they fetch from is the suite's ``news_site`` fixture, ``tests/newssite.py``)."""

from __future__ import annotations

import os

import pytest
from helpers import NO_TRANSLATOR


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's settings from a clean environment: no developer's RAG_*, a 1 s fetch limit
    (the slow page takes 3 s) and a 0.05 MB size limit (the big pages are 220 KB)."""
    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("RAG_TRANSLATOR", NO_TRANSLATOR)
    monkeypatch.setenv("RAG_FETCH_TIMEOUT", "1")
    monkeypatch.setenv("RAG_MAX_FILE_MB", "0.05")
