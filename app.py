"""The WSGI entry point: ``gunicorn app:app`` or ``flask --app app run``."""

from unleash_wizard import create_app

app = create_app()
