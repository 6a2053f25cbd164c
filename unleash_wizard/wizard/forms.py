"""The wizard's few forms; Flask-WTF adds and checks their CSRF token."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from ..auth.forms import strip


class AdminGroupForm(FlaskForm):
    # Free text with the live groups offered: the group may not exist yet, as
    # Entra creates it on its first cycle. Empty means no admin group.
    group = StringField(
        "Admin group",
        filters=[strip],
        validators=[Length(max=255, message="A group name has at most 255 characters.")],
    )


class ConfirmForm(FlaskForm):
    """A bare confirmation: the button, and the CSRF token."""
