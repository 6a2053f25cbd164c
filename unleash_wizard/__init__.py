"""unleash-wizard: where Microsoft Entra ID provisions users and groups over SCIM 2.0."""

from pathlib import Path

from flask import Flask

from . import config
from . import extensions
from . import security

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Return the configured application."""
    app = Flask(
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
