"""Fixtures for tests that talk to the app over HTTP."""

from collections.abc import Iterator

import pytest
from live import LiveServer
from live import run_live_server


@pytest.fixture
def live_server(request, db_url) -> Iterator[LiveServer]:
    """Serve the app under gunicorn on this test's database.

    Two sync workers by default; parametrize indirectly for more, with an int
    (workers) or a dict (``{"workers": 4, "threads": 2}``)::

        @pytest.mark.parametrize("live_server", [4], indirect=True)
    """
    param = getattr(request, "param", None)
    if isinstance(param, dict):
        options = param
    elif param is None:
        options = {}
    else:
        options = {"workers": param}
    with run_live_server(db_url, **options) as server:
        yield server
