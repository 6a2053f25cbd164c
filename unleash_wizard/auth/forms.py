"""Sign-in and first-run forms; Flask-WTF adds and checks their CSRF token."""

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import PasswordField
from wtforms import StringField
from wtforms import ValidationError
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import Length

from .passwords import MAX_PASSWORD_LENGTH
from .passwords import MAX_USERNAME_LENGTH
from .passwords import password_problems
from .passwords import username_problem


def strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    username = StringField(
        "Username",
        filters=[strip],
        validators=[DataRequired("Enter your username."), Length(max=MAX_USERNAME_LENGTH)],
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)],
    )
    remember = BooleanField("Keep me signed in on this device")


class FirstRunForm(FlaskForm):
    username = StringField(
        "Username", filters=[strip], validators=[DataRequired("Enter a username.")]
    )
    password = PasswordField("Password", validators=[DataRequired("Enter a password.")])
    confirm = PasswordField(
        "Password again",
        validators=[
            DataRequired("Enter the password a second time."),
            EqualTo("password", "The two passwords differ."),
        ],
    )

    def validate_username(self, field):
        problem = username_problem(field.data or "")
        if problem:
            raise ValidationError(problem)

    def validate_password(self, field):
        problems = password_problems(field.data or "", self.username.data or "")
        if problems:
            raise ValidationError(" ".join(problems))
