"""The users service's components: a runner's profile card, and the login form.

:class:`ProfileCard` shows the profile it is given (a ``Profile`` in JSON: ``name``,
``email``); in the browser it asks the service for the profile of the runner the page's token
names, once one logs in. :class:`LoginForm` checks what is typed and logs in: the page keeps
the access token for every component's calls, and is told (``runnerly-session``); when a call
is refused for an expired token, the form trades the refresh token for new ones, and the call
is sent again.

Written in the Python Transcrypt compiles rightly (``atoll.frontends.lint`` passes it): the
browser runs this module too, so it imports no other layer of the service (dataclasses do not
compile).
"""

from atoll.frontends.component import CallError, Component
from atoll.frontends.elements import h
from runnerly.users.ui_client import UsersClient

__all__ = ["SESSION", "LoginForm", "ProfileCard"]

SESSION = "runnerly-session"
"""What the page is told when a runner logs in: the components showing her data ask again."""

PALETTE = """
:host {
  --ink: var(--runnerly-ink, #1f2a37);
  --muted: var(--runnerly-muted, #5b6b7c);
  --accent: var(--runnerly-accent, #0f766e);
  --accent-soft: var(--runnerly-accent-soft, #d5efeb);
  --surface: var(--runnerly-surface, #ffffff);
  --line: var(--runnerly-line, #d8e0e8);
  --error: var(--runnerly-error, #b42318);
  display: block;
  color: var(--ink);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
}
"""


def words_of(name: object) -> list[str]:
    """The words of ``name``; none for ``None`` or blank (``"".split()`` is ``[""]`` in JS)."""
    if not name:
        return []
    return [word for word in str(name).split() if len(word) > 0]


def initials(name: object) -> str:
    """The initials of a name's first and last words, ``Ada Lovelace`` as ``AL``; ``?`` for none."""
    words = words_of(name)
    if len(words) == 0:
        return "?"
    first = words[0][0]
    if len(words) == 1:
        return first.upper()
    return (first + words[len(words) - 1][0]).upper()


class ProfileCard(Component):
    """``<users-profile-card>``: a runner's initials, a greeting by her first name, her email.

    Props: ``name`` and ``email``, as her profile has them.
    """

    tag = "users-profile-card"
    observed = ["name", "email"]  # noqa: RUF012 - a declaration, never changed
    styles = (
        PALETTE
        + """
.card { display: flex; align-items: center; gap: 14px; padding: 16px; max-width: 360px;
  background: var(--surface); border: 1px solid var(--line); border-radius: 12px; }
.avatar { flex: none; display: grid; place-items: center; width: 48px; height: 48px;
  border-radius: 50%; background: var(--accent); color: var(--surface);
  font-weight: 700; letter-spacing: 0.5px; }
h2 { margin: 0; font-size: 17px; }
p { margin: 2px 0 0; color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
"""
    )

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """No profile asked of the service yet."""
        del props
        return {"profile": None}

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """The card of the profile; a greeting to a runner with no name before it is known.

        The profile is the one the service answered, once it has; ``props`` until then.
        """
        if state["profile"] is not None:
            props = state["profile"]
        words = words_of(props["name"])
        greeted = words[0] if len(words) > 0 else "runner"
        return h(
            "section",
            {"class_name": "card", "aria_label": "Your profile"},
            h("span", {"class_name": "avatar", "aria_hidden": "true"}, initials(props["name"])),
            h(
                "div",
                None,
                h("h2", None, "Hello, ", greeted, "!"),
                h("p", {"class_name": "name"}, props["name"]) if len(words) > 1 else None,
                h("p", {"class_name": "email"}, props["email"]) if props["email"] else None,
            ),
        )

    def connected(self) -> None:
        """Ask for the profile now, and again when a runner logs in."""
        self.stop = self.host.listen(SESSION, self.reload)
        self.reload(None)

    def disconnected(self) -> None:
        """Stop listening to the page."""
        self.stop()

    async def reload(self, detail: object) -> None:
        """Ask the service for the profile of the runner the page's token names."""
        del detail
        claims = self.host.claims()
        if claims is None:
            return
        try:
            profile = await UsersClient(self.host).get_profile(int(claims["sub"]))
        except CallError:
            return  # the greeting stays general: nothing to tell the runner here
        self.set_state({"profile": profile})


class LoginForm(Component):
    """``<users-login-form>``: email and password, checked as they are submitted.

    What is typed is kept in the state (``email``, ``password``); a submit checks it and sets
    ``ready``, or an ``error`` saying what is missing; in the browser it then logs in, and
    keeps the session going (:meth:`refresh`) while the page is open.
    """

    tag = "users-login-form"
    styles = (
        PALETTE
        + """
form { display: grid; gap: 12px; padding: 16px; max-width: 360px; background: var(--surface);
  border: 1px solid var(--line); border-radius: 12px; }
h2 { margin: 0; font-size: 17px; }
label { display: grid; gap: 4px; font-size: 13px; color: var(--muted); }
input { font: inherit; color: var(--ink); padding: 8px 10px; border: 1px solid var(--line);
  border-radius: 8px; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { font: inherit; font-weight: 600; color: var(--surface); background: var(--accent);
  border: none; border-radius: 8px; padding: 10px 14px; cursor: pointer; }
.error { margin: 0; color: var(--error); }
.welcome { margin: 0; color: var(--accent); }
"""
    )

    def initial_state(self, props: dict[str, object]) -> dict[str, object]:
        """Nothing typed, nothing checked."""
        del props
        return {"email": "", "password": "", "error": "", "ready": False, "welcome": ""}

    def view(self, props: dict[str, object], state: dict[str, object]) -> object:
        """The form, with the error of the last submit."""
        del props
        return h(
            "form",
            {"on_submit": self.submitted, "novalidate": True, "aria_label": "Log in"},
            h("h2", None, "Log in"),
            h(
                "label",
                None,
                "Email",
                h(
                    "input",
                    {
                        "type": "email",
                        "name": "email",
                        "autocomplete": "username",
                        "value": state["email"],
                        "on_input": self.email_typed,
                    },
                ),
            ),
            h(
                "label",
                None,
                "Password",
                h(
                    "input",
                    {
                        "type": "password",
                        "name": "password",
                        "autocomplete": "current-password",
                        "on_input": self.password_typed,
                    },
                ),
            ),
            h("button", {"type": "submit"}, "Log in"),
            h("p", {"class_name": "error", "role": "alert"}, state["error"])
            if state["error"]
            else None,
            h("p", {"class_name": "welcome", "role": "status"}, state["welcome"])
            if state["welcome"]
            else None,
        )

    def connected(self) -> None:
        """Renew the page's token with the session's refresh token when a call needs it."""
        self.stop = self.host.refresh_with(self.refresh)

    def disconnected(self) -> None:
        """Leave the page's token alone."""
        self.stop()

    def email_typed(self, event: object) -> None:
        """Keep the email typed."""
        self.set_state({"email": event.target.value, "ready": False})

    def password_typed(self, event: object) -> None:
        """Keep the password typed (in the state alone: the view never writes it back)."""
        self.set_state({"password": event.target.value, "ready": False})

    def submitted(self, event: object) -> None:
        """Check what was typed: set ``ready``, or an ``error`` saying what is missing.

        ``event`` is the browser's submit event, whose default (leaving the page) is
        prevented; ``None`` from a test.
        """
        if event is not None:
            event.preventDefault()
        email = self.state["email"].strip()
        error = ""
        if "@" not in email:
            error = "Type the email you registered with."
        elif len(self.state["password"]) == 0:
            error = "Type your password."
        self.set_state({"email": email, "error": error, "ready": error == "", "welcome": ""})
        if error == "" and self.host is not None:  # in the browser: log in (a promise)
            self.log_in()

    async def log_in(self) -> None:
        """Log in with what was typed; keep the token for the page, and tell the page."""
        try:
            tokens = await UsersClient(self.host).log_in(
                self.state["email"], self.state["password"]
            )
        except CallError as error:
            self.set_state({"error": str(error), "ready": False})
            return
        self.host.remember_token(tokens["access_token"], tokens["refresh_token"])
        self.set_state({"password": "", "welcome": "You are logged in."})
        self.host.announce(SESSION, None)

    async def refresh(self) -> bool:
        """Trade the refresh token for new tokens, kept for the page; whether it could.

        The page calls it when a call is refused for its token (one that expired), then
        sends the call again. A session that ended (its refresh token spent, revoked, or
        expired too) is forgotten, and the runner asked to log in again.
        """
        kept = self.host.refresh_token()
        if kept is None:
            return False
        try:
            tokens = await UsersClient(self.host).refresh_session(kept)
        except CallError:
            self.host.remember_token(None)
            self.set_state({"welcome": "", "error": "Your session ended: log in again."})
            self.host.announce(SESSION, None)
            return False
        self.host.remember_token(tokens["access_token"], tokens["refresh_token"])
        return True
