"""The app class: page hooks that skip the SCIM API, Flask's ensure_sync remembered, and
the WSGI entry freezing what setup made."""

import asyncio
import os
import subprocess
import sys

import pytest

from unleash_wizard import PAGE_HOOKS
from unleash_wizard import ROOT
from unleash_wizard import App
from unleash_wizard import pages_only
from unleash_wizard.extensions import db


def test_the_extensions_page_hooks_are_found_and_wrapped(app):
    hooks = [*app.before_request_funcs[None], *app.after_request_funcs[None]]
    wrapped = {hook.__name__ for hook in hooks if hasattr(hook, "__wrapped__")}
    assert wrapped == PAGE_HOOKS


def test_a_page_hook_runs_for_pages_and_not_under_the_scim_api(app, client, scim_token):
    seen: list[str] = []

    def before():
        seen.append("before")

    def after(response):
        seen.append("after")
        response.headers["X-Page-Hook"] = "ran"
        return response

    app.before_request_funcs[None].insert(0, pages_only(before))
    app.after_request_funcs[None].insert(0, pages_only(after))

    headers = {"Authorization": f"Bearer {scim_token}"}
    for path in ("/scim/v2/Users", "/scim/v2", "/scim/v2/ServiceProviderConfig"):
        response = client.get(path, headers=headers)
        assert "X-Page-Hook" not in response.headers, path
    assert seen == []

    response = client.get("/healthz")
    assert response.headers["X-Page-Hook"] == "ran"
    # A path that only starts like the API is a page.
    client.get("/scim/v2x")
    assert seen == ["before", "after", "before", "after"]


def test_ensure_sync_is_remembered_and_still_runs_coroutines():
    app = App(__name__)

    def view():
        return "sync"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is app.ensure_sync(view)

    async def coroutine_view():
        await asyncio.sleep(0)
        return "async"

    try:
        import asgiref  # noqa: F401
    except ImportError:  # Flask without its async extra refuses a coroutine, each time
        for _ in range(2):
            with pytest.raises(RuntimeError):
                app.ensure_sync(coroutine_view)
    else:
        assert app.ensure_sync(coroutine_view)() == "async"
        assert app.ensure_sync(coroutine_view)() == "async"


def test_the_ensure_sync_cache_is_bounded():
    app = App(__name__)
    made = []
    for number in range(App.SYNC_CACHE_SIZE + 100):

        def hook(number=number):
            return number

        made.append(hook)
        assert app.ensure_sync(hook)() == number
    assert len(app._sync) == App.SYNC_CACHE_SIZE


def test_the_wsgi_entry_freezes_what_setup_made(tmp_path):
    # A subprocess: freezing this test process would keep every test's garbage.
    script = "import gc, app; print(gc.get_freeze_count(), gc.isenabled())"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'entry.db'}",
        "SECRET_KEY": "entry-test",
    }
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    frozen, enabled = done.stdout.split()
    # The app's modules and routes run to tens of thousands of objects.
    assert int(frozen) > 10_000
    assert enabled == "True"  # frozen, not switched off: new garbage is still collected


def test_a_page_that_cannot_get_a_database_connection_says_so_with_a_503(app_with):
    """The pool's one connection is taken: the page waits its timeout, then explains."""
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}
    app = app_with(SQLALCHEMY_ENGINE_OPTIONS=pool)
    client = app.test_client()
    with app.app_context():
        engine = db.engine
    with engine.connect():  # holds the pool's only connection
        response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.content_type.startswith("text/html")
    assert "The database is not answering" in page
    assert "Reload the page" in page
    assert client.get("/").status_code == 302  # the connection is free again: first run
