"""The hostile corpus as a fixture: built once per session in a temporary folder."""

from __future__ import annotations

import pytest

from tests.hostile.corpus import build_corpus


@pytest.fixture(scope="session")
def hostile_corpus(tmp_path_factory):
    """{name: Case} for every hostile input (see corpus.py); read-only for the tests."""
    return build_corpus(tmp_path_factory.mktemp("hostile"))
