"""The admin area: for now the signed-in landing page."""
