"""Sessions end when the account stops being allowed in: a new password, disabling, deletion."""

from apps import PASSWORD
from apps import sign_in
from auth_helpers import OTHER_PASSWORD
from auth_helpers import update_user

from unleash_wizard.extensions import db
from unleash_wizard.store import accounts
from unleash_wizard.store.models import User
from unleash_wizard.store.models import utcnow


def signed_in_page(client) -> int:
    return client.get("/").status_code


def new_password(app, user_id: str, password: str) -> None:
    with app.app_context():
        accounts.set_password(db.session.get(User, user_id), password)
        db.session.commit()


def test_a_new_password_ends_every_session_and_remember_me_cookie(app, admin):
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "admin")
    sign_in(phone, "admin", remember=True)
    assert signed_in_page(laptop) == 200 and signed_in_page(phone) == 200

    new_password(app, admin, OTHER_PASSWORD)

    assert signed_in_page(laptop) == 302
    # The remember-me cookie named the old password too.
    with phone.session_transaction() as session:
        session.clear()
    assert phone.get_cookie("remember_token") is not None
    assert signed_in_page(phone) == 302
    assert sign_in(laptop, "admin", PASSWORD).status_code == 200  # the old password fails
    assert sign_in(laptop, "admin", OTHER_PASSWORD).status_code == 302
    assert signed_in_page(laptop) == 200


def test_the_session_does_not_carry_the_password_hash(app, admin, client):
    sign_in(client, "admin")
    with client.session_transaction() as session:
        session_id = session["_user_id"]
    with app.app_context():
        password_hash = db.session.get(User, admin).password_hash

    assert session_id.startswith(admin + ".")
    assert password_hash not in session_id
    assert session_id.split(".", 1)[1] not in password_hash


def test_a_forged_stamp_is_refused(app, admin, client):
    with client.session_transaction() as session:
        session["_user_id"] = admin + ".0000000000000000"
        session["_fresh"] = True

    assert signed_in_page(client) == 302


def test_disabling_or_deleting_ends_the_session(app, admin, viewer):
    client = app.test_client()
    sign_in(client, "viewer")
    assert signed_in_page(client) == 200
    update_user(app, viewer, active=False)
    assert signed_in_page(client) == 302

    update_user(app, viewer, active=True)
    sign_in(client, "viewer")
    assert signed_in_page(client) == 200
    with app.app_context():
        db.session.get(User, viewer).deleted_at = utcnow()
        db.session.commit()
    assert signed_in_page(client) == 302
