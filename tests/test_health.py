"""GET /healthz: 200 while the database answers, 503 JSON when it does not."""

import pytest

from unleash_wizard import create_app
from unleash_wizard.extensions import db


def test_healthz_is_ok_with_a_working_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture(
    params=["sqlite-missing-directory", "postgresql-closed-port"],
)
def unreachable_url(request, tmp_path) -> str:
    if request.param == "sqlite-missing-directory":
        return f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'app.db'}"
    # Port 9 (discard) is closed on a test machine: the connection is refused at once.
    return "postgresql+psycopg://postgres@127.0.0.1:9/unleash?connect_timeout=2"


def test_healthz_answers_503_json_when_the_database_is_unreachable(unreachable_url):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": unreachable_url,
            "RATELIMIT_ENABLED": False,
        }
    )
    try:
        response = app.test_client().get("/healthz")
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 503
    assert response.is_json
    assert response.get_json() == {"status": "unavailable"}


def test_healthz_needs_no_authentication(client):
    response = client.get("/healthz", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 200
