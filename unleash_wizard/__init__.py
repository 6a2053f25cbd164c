"""unleash-wizard: where Microsoft Entra ID provisions users and groups over SCIM 2.0."""

import functools
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask import request

from . import config
from . import extensions
from . import security

ROOT = Path(__file__).resolve().parent.parent
API_PATH = "/scim/v2"
# App-wide hooks of extensions that serve the browser pages only: Flask-WTF's
# CSRF check (the SCIM blueprint is exempt anyway) and Flask-Login's
# remember-me cookie (a SCIM request has no session to hold one).
PAGE_HOOKS = frozenset({"csrf_protect", "_update_remember_cookie"})


class App(Flask):
    """Flask, minus a cost the SCIM API would pay on each of Entra's requests.

    No view or hook here is a coroutine, yet Flask's ensure_sync() asks
    inspect about each one on every call, nine times a request. The answer
    is remembered per function here; a bounded number of them, so that
    functions made per request (after_this_request) cannot grow the cache.
    """

    SYNC_CACHE_SIZE = 512

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sync: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        found = self._sync.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(self._sync) < self.SYNC_CACHE_SIZE:
                self._sync[func] = found
        return found


def pages_only(hook: Callable[..., Any]) -> Callable[..., Any]:
    """Return a before- or after-request hook that lets requests under /scim/v2 pass."""

    @functools.wraps(hook)
    def wrapped(*args: Any) -> Any:
        path = request.path
        if path == API_PATH or path.startswith(API_PATH + "/"):
            return args[0] if args else None  # an after-request hook gets the response
        return hook(*args)

    return wrapped


def _skip_page_hooks_on_api(app: Flask) -> None:
    for hooks in (app.before_request_funcs[None], app.after_request_funcs[None]):
        hooks[:] = [pages_only(f) if f.__name__ in PAGE_HOOKS else f for f in hooks]


def freeze_setup() -> None:
    """Keep what the imports and create_app() made out of the collector's way.

    It lives as long as the process: the modules, the routes, the schemas.
    Frozen, the collector no longer walks it all on every full collection (a
    sixth of a SCIM lookup's instructions); under gunicorn --preload the
    workers inherit it frozen and keep it shared with the master instead of
    copying the pages they touch. The garbage of setup goes first, or it
    would be kept for good. Call it once, from the WSGI entry: a process
    that makes many apps, as the tests do, would keep every one of them.
    """
    gc.collect()
    gc.freeze()


def create_app(test_config: dict | None = None) -> Flask:
    """Return the configured application."""
    app = App(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
    )
    app.config.from_object(config.Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        config.from_environment(app.config)
    else:
        app.config.update(test_config)
    config.finalize(app.config, Path(app.instance_path))

    extensions.init_app(app)
    _skip_page_hooks_on_api(app)
    security.init_app(app)

    from . import auth
    from . import cli
    from . import health
    from .admin import directory as admin_directory
    from .admin import log as admin_log
    from .admin import sso as admin_sso
    from .admin import support as admin_support
    from .admin import views as admin_views
    from .api import scim
    from .help import illustrations as help_illustrations
    from .help import screenshots as help_screenshots
    from .wizard import views as wizard_views

    scim.init_app(app)
    extensions.csrf.exempt(scim.bp)
    app.register_blueprint(health.bp)
    auth.init_app(app)
    app.register_blueprint(admin_views.bp)
    app.register_blueprint(admin_sso.bp)
    app.register_blueprint(admin_directory.bp)
    app.register_blueprint(admin_log.bp)
    app.register_blueprint(admin_support.bp)
    app.register_blueprint(wizard_views.bp)
    app.register_blueprint(help_illustrations.bp)
    help_screenshots.init_app(app)
    cli.init_app(app)
    return app
