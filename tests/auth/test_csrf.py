"""With CSRF on, as in production, forms without their token are refused."""

from apps import PASSWORD
from apps import add_local
from apps import csrf_token
from auth_helpers import local_users


def test_login_without_a_csrf_token_is_refused_with_400(csrf_app):
    add_local(csrf_app, "admin")
    client = csrf_app.test_client()
    client.get("/login")

    response = client.post("/login", data={"username": "admin", "password": PASSWORD})

    assert response.status_code == 400
    assert "Form not accepted" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302, "not signed in"


def test_login_with_its_csrf_token_signs_in(csrf_app):
    add_local(csrf_app, "admin")
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))

    response = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token}
    )

    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_sign_out_without_a_csrf_token_is_refused(csrf_app):
    add_local(csrf_app, "admin")
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})

    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200, "still signed in"

    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_first_run_without_a_csrf_token_creates_nobody(csrf_app):
    client = csrf_app.test_client()
    form = {"username": "root", "password": PASSWORD, "confirm": PASSWORD}

    assert client.post("/setup/first-run", data=form).status_code == 400
    assert local_users(csrf_app) == []

    token = csrf_token(client.get("/setup/first-run").get_data(as_text=True))
    assert client.post("/setup/first-run", data={**form, "csrf_token": token}).status_code == 302
    assert local_users(csrf_app) == [("root", "admin")]


def test_scim_stays_csrf_exempt(csrf_app):
    client = csrf_app.test_client()

    response = client.post("/scim/v2/Users", json={}, headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401
