"""Fixtures shared by the OpenAI backend tests: the fake images API on 127.0.0.1."""

from __future__ import annotations

import pytest

from .fake_openai_server import FakeOpenAI, serve


@pytest.fixture(scope="module")
def api():
    """One fake OpenAI server per test module."""
    with serve(FakeOpenAI()) as state:
        yield state


@pytest.fixture
def server(api):
    """The module's fake server, with its recorded requests and scripted faults cleared."""
    api.reset()
    yield api
    api.reset()
