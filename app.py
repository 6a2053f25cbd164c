"""The WSGI entry point: ``gunicorn app:app`` or ``flask --app app run``."""

from unleash_wizard import create_app
from unleash_wizard import freeze_setup

app = create_app()
freeze_setup()
