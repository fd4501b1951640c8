"""The keyboard map: one list that the ``?`` overlay is drawn from and the README matches.

static/taskboard/js/keys.js binds these keys (the launch dialog's: static/taskboard/js/actions.js).
Each key names the pages where it works, so each page's overlay lists only those.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskboard.status import Status

# Pages by URL name. "*" is every page.
TABLE = frozenset({"task_list"})
TASK = frozenset({"task_detail"})
EVERYWHERE = frozenset({"*"})


@dataclass(frozen=True)
class Key:
    keys: tuple[str, ...]
    label: str
    pages: frozenset[str]
    # How two keys are joined: "/" for a pair (j/k), "–" for a range (1–7).
    joiner: str = "/"
    # Whether it needs a logged-in user (the links it follows are only theirs).
    login: bool = False

    def works_on(self, url_name: str | None, authenticated: bool) -> bool:
        """Return whether this key does something on the page ``url_name``."""
        if self.login and not authenticated:
            return False
        return "*" in self.pages or url_name in self.pages

    def markdown(self) -> str:
        """Return the keys as the README writes them: `j`/`k`, `1`–`7`."""
        return self.joiner.join(f"`{key}`" for key in self.keys)


def _tab_keys() -> Key:
    """Return the status tabs' keys: one digit per tab, in the vocabulary's order."""
    tabs = Status.tabs()
    labels = ", ".join(label.lower() for _, _, label in tabs)
    return Key((tabs[0][0], tabs[-1][0]), f"status tabs ({labels})", TABLE, joiner="–")


KEYS: tuple[Key, ...] = (
    Key(("/",), "focus search", TABLE),
    Key(("Esc",), "leave the search or close a dialog", EVERYWHERE),
    Key(("j", "k"), "next/previous row", TABLE),
    Key(("Enter",), "open the row", TABLE),
    # Opens the launch dialog where the page has one, else follows the header's Launch link.
    Key(("n",), "launch a new task", EVERYWHERE, login=True),
    Key(("r",), "retry", TABLE | TASK),
    Key(("c",), "cancel", TABLE | TASK),
    Key(("x",), "tick the row", TABLE),
    _tab_keys(),
    Key(("?",), "show this list", EVERYWHERE),
)


def keys_for(url_name: str | None, authenticated: bool) -> list[Key]:
    """Return the keys that work on the page ``url_name``, in the map's order."""
    return [key for key in KEYS if key.works_on(url_name, authenticated)]


def readme_line() -> str:
    """Return the key map as the README's one line says it."""
    return " · ".join(f"{key.markdown()} {key.label}" for key in KEYS)
