"""Who may use a served page: accounts, their roles, and what each role may do.

* :class:`Accounts` — the users file (TOML, ``RAG_USERS``, default ``./users.toml``),
  written by ``rag users add NAME --role editor``. Passwords are kept only as salted
  argon2id hashes (``argon2-cffi``); the file is written whole, atomically, readable by
  its owner only.
* :class:`Access` — what a signed-in name may do on the page and its API: a **reader**
  asks and reads sources and articles; an **editor** also adds and removes articles. With
  no accounts (sign-in off, on this machine only) the one local user may do everything;
  ``read_only`` turns corpus changes off for everyone.

The file::

    [users.alice]
    role = "editor"
    password = "$argon2id$v=19$m=65536,t=3,p=4$…"

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "users.toml"
>>> accounts = Accounts.load(path)
>>> accounts.add("alice", "editor", "correct horse battery").role
'editor'
>>> Accounts.load(path).verify("alice", "correct horse battery"), accounts.verify("alice", "wrong")
(True, False)
>>> Access(Accounts.load(path)).may_edit("alice"), Access(None).may_edit(None)
(True, True)
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import RagError

log = logging.getLogger(__name__)

READER = "reader"
EDITOR = "editor"
#: The roles, least allowed first.
ROLES: tuple[str, ...] = (READER, EDITOR)

#: A user name: letters, digits and ``. _ @ -``, starting with a letter or digit (it is a
#: TOML key and shows on the page).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
#: Shortest password accepted: a page on the network is open to guessing.
MIN_PASSWORD_CHARS = 8
#: An argon2 hash as the library writes it (a hand-edited one must not break the file's quoting).
HASH = re.compile(r"\$argon2(id|i|d)\$[A-Za-z0-9$=,+/.-]+")


class AccountError(RagError):
    """A users file or an account that cannot be used, said for the operator."""


class NotAllowed(RagError):
    """A user asked for what their role (or a read-only server) does not let them do; the
    message says why, for the page and the API."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str


def _hasher():  # argon2id with the library's defaults (RFC 9106's second recommendation)
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _decoy() -> str:
    """A hash compared against when a name is unknown, so that a wrong name takes as long
    as a wrong password (no telling which names exist by how long an answer takes)."""
    return str(_hasher().hash("not a password"))


class Accounts:
    """The accounts of one users file; changes are written to it at once."""

    def __init__(self, path: Path, accounts: dict[str, Account] | None = None) -> None:
        self.path = Path(path)
        self._accounts = dict(accounts or {})
        self._stamp = _stamp(self.path)

    @classmethod
    def load(cls, path: str | Path) -> Accounts:
        """The accounts in ``path``; none when the file does not exist."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise AccountError(f"Cannot read the users file {path}: {exc}.") from None
        except tomllib.TOMLDecodeError as exc:
            raise AccountError(f"The users file {path} is not valid TOML ({exc}). Fix it, or remove it "
                               "and add the users again with: rag users add NAME --role editor") from None
        users = data.get("users", {})
        if not isinstance(users, dict):
            raise AccountError(f"The users file {path}: [users] must be a table of accounts.")
        accounts = {}
        for name, entry in users.items():
            role = entry.get("role") if isinstance(entry, dict) else None
            secret = entry.get("password") if isinstance(entry, dict) else None
            if not NAME.fullmatch(name) or role not in ROLES or not isinstance(secret, str) \
                    or not HASH.fullmatch(secret):
                raise AccountError(f"The users file {path}: the account {name!r} needs a role "
                                   f"({' or '.join(ROLES)}) and an argon2 password hash. Set it again "
                                   f"with: rag users add {name} --role reader --replace")
            accounts[name] = Account(name, role, secret)
        return cls(path, accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def __contains__(self, name: object) -> bool:
        return name in self._accounts

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self._accounts.values(), key=lambda a: a.name))

    def refresh(self) -> None:
        """Read the file again if it changed since (``rag users`` run while the page is
        served: a new account signs in, a removed one is refused at its next step). A file
        broken meanwhile keeps the accounts as they were, with a warning."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return
        try:
            self._accounts = Accounts.load(self.path)._accounts
        except AccountError as exc:
            log.warning("%s Keeping the accounts read before.", exc)
        self._stamp = stamp

    def role(self, name: str | None) -> str | None:
        """The role of ``name``; None for a name without an account."""
        self.refresh()
        account = self._accounts.get(name or "")
        return account.role if account else None

    def password_hash(self, name: str | None) -> str | None:
        """``name``'s password hash as the file has it now (a sign-in made with another one
        is void: see :class:`rag.web.sessions.SessionGuard`); None without an account."""
        self.refresh()
        account = self._accounts.get(name or "")
        return account.password_hash if account else None

    def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s (argon2 comparison, constant in the password)."""
        self.refresh()
        account = self._accounts.get(name)
        try:
            return bool(_hasher().verify(account.password_hash if account else _decoy(), password)) \
                and account is not None
        except Exception:  # noqa: BLE001 - a mismatch, a broken hash, a password argon2 cannot encode
            return False

    def add(self, name: str, role: str, password: str, replace: bool = False) -> Account:
        """Add (or, with ``replace``, change) an account and write the file."""
        if not NAME.fullmatch(name):
            raise AccountError(f"{name!r} is not a user name: use letters, digits and . _ @ - "
                               "(up to 64, starting with a letter or digit).")
        if role not in ROLES:
            raise AccountError(f"Unknown role {role!r}: use {' or '.join(ROLES)}.")
        if len(password) < MIN_PASSWORD_CHARS:
            raise AccountError(f"The password is too short: use at least {MIN_PASSWORD_CHARS} characters.")
        if name in self._accounts and not replace:
            raise AccountError(f"{name} already has an account. Use --replace to change its role or password.")
        account = Account(name, role, _hasher().hash(password))
        self.refresh()
        self._accounts[name] = account
        self.save()
        return account

    def remove(self, name: str) -> None:
        self.refresh()
        if name not in self._accounts:
            raise AccountError(f"No account named {name!r} in {self.path}.")
        del self._accounts[name]
        self.save()

    def save(self) -> None:
        """Write the file whole (a temporary file renamed over it), owner-readable only."""
        lines = ["# newsrag accounts: written by `rag users`. Passwords are argon2id hashes.", ""]
        for account in self:
            lines += [f"[users.{_key(account.name)}]", f'role = "{account.role}"',
                      f'password = "{account.password_hash}"', ""]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write("\n".join(lines))
                out.flush()
                os.fsync(out.fileno())  # on disk before it replaces the file: a crash keeps one whole
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._stamp = _stamp(self.path)


def _stamp(path: Path) -> tuple[int, ...] | None:
    """What tells that a file changed (None: no file): its inode (a new file each save),
    change and modification times and size — a role switched within one clock tick leaves
    the size and maybe the mtime as they were."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size


def _key(name: str) -> str:
    """A TOML key for a name (quoted when it holds characters a bare key cannot)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


@dataclass(frozen=True)
class Access:
    """What a user of the page may do: ``accounts`` None is sign-in off (one local user)."""

    accounts: Accounts | None
    read_only: bool = False

    def role(self, name: str | None) -> str | None:
        """The role of a signed-in ``name``; with sign-in off, the local user's: editor."""
        if self.accounts is None:
            return EDITOR
        return self.accounts.role(name)

    def may_read(self, name: str | None) -> bool:
        """Whether ``name`` may ask and read (any account; everyone with sign-in off)."""
        return self.role(name) is not None

    def may_edit(self, name: str | None) -> bool:
        """Whether ``name`` may add and remove articles."""
        return not self.read_only and self.role(name) == EDITOR

    def check_edit(self, name: str | None) -> None:
        """Raise :class:`NotAllowed` (saying why) unless ``name`` may change the corpus."""
        if not self.may_edit(name):
            raise NotAllowed(self.refusal(name))

    def refusal(self, name: str | None) -> str:
        """Why ``name`` may not change the corpus, for the page and the API."""
        if self.read_only:
            return "This server is read-only: articles cannot be added or removed here."
        if self.role(name) is None:
            return "Sign in first: this account is unknown (removed since it signed in?)."
        return (f"{name} is signed in as a reader: adding and removing articles is for editors. "
                "Ask the server's operator for an editor account.")
