"""The WSGI entry point: ``gunicorn app:app`` or ``flask --app app run``."""

import gc

from unleash_wizard import create_app

app = create_app()

# What the imports and create_app() made lives as long as the process: the
# modules, the routes, the schemas. Frozen, the collector no longer walks it
# all on every full collection (a sixth of a SCIM lookup's instructions);
# under gunicorn --preload the workers inherit it frozen and keep it shared
# with the master instead of copying the pages they touch. The garbage of
# setup goes first, or it would be kept for good.
gc.collect()
gc.freeze()
