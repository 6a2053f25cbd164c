"""Names are data: markup in a username or display name is shown as text."""

from apps import add_local
from apps import sign_in
from auth_helpers import update_user

MARKUP = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


def test_username_with_markup_is_shown_escaped(app, client, admin):
    add_local(app, MARKUP)
    sign_in(client, MARKUP)

    page = client.get("/").get_data(as_text=True)

    assert MARKUP not in page
    assert ESCAPED in page


def test_display_name_with_markup_is_shown_escaped(app, client, admin):
    update_user(app, admin, display_name=f"<b>Boss</b>{MARKUP}")
    sign_in(client, "admin")

    page = client.get("/").get_data(as_text=True)

    assert MARKUP not in page and "<b>Boss" not in page
    assert "&lt;b&gt;Boss&lt;/b&gt;" + ESCAPED in page


def test_failed_sign_in_echoes_the_username_escaped(client, admin):
    response = sign_in(client, MARKUP, "Wrong password 12345")

    page = response.get_data(as_text=True)
    assert MARKUP not in page
    assert ESCAPED in page
