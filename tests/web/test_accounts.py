"""Accounts, roles and the sign-in throttle, without a server: the users file (argon2
hashes, owner-only, written atomically, re-read when it changes), what each role may do,
who ``rag serve`` lets in where, and ``rag users``."""

from __future__ import annotations

import asyncio
import io
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from rag.cli import main
from rag.web.accounts import EDITOR, READER, Access, AccountError, Accounts
from rag.web.serving import ServeError, access_for, is_loopback
from rag.web.throttle import SignInThrottle

PASSWORD = "correct horse battery"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    accounts = Accounts.load(path)
    accounts.add("alice", EDITOR, PASSWORD)
    accounts.add("bob", READER, "another long one")
    return path


def test_passwords_are_kept_only_as_argon2_hashes_readable_by_the_owner(users: Path):
    text = users.read_text()
    assert PASSWORD not in text and "another long one" not in text
    assert text.count("$argon2id$") == 2
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert not [p for p in users.parent.iterdir() if p.name.startswith(".users-")]  # no temporary file left


def test_a_password_is_checked_against_its_own_account(users: Path):
    accounts = Accounts.load(users)
    assert accounts.verify("alice", PASSWORD)
    assert not accounts.verify("alice", "another long one")  # bob's password is not alice's
    assert not accounts.verify("alice", "")
    assert not accounts.verify("nobody", PASSWORD)
    assert accounts.role("alice") == EDITOR and accounts.role("bob") == READER and accounts.role("nobody") is None


def test_accounts_are_changed_only_on_purpose(users: Path):
    accounts = Accounts.load(users)
    with pytest.raises(AccountError, match="already has an account.*--replace"):
        accounts.add("bob", EDITOR, "a new password")
    accounts.add("bob", EDITOR, "a new password", replace=True)
    assert Accounts.load(users).role("bob") == EDITOR and Accounts.load(users).verify("bob", "a new password")
    accounts.remove("bob")
    assert "bob" not in Accounts.load(users)
    with pytest.raises(AccountError, match="No account named 'bob'"):
        accounts.remove("bob")


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("al ice", EDITOR, PASSWORD, "is not a user name"),
    ("", EDITOR, PASSWORD, "is not a user name"),
    ('x"]\n[users.evil', EDITOR, PASSWORD, "is not a user name"),
    ("carol", "admin", PASSWORD, "Unknown role 'admin'"),
    ("carol", READER, "short", "too short"),
])
def test_a_bad_account_is_refused_with_the_reason(users: Path, name: str, role: str, password: str, message: str):
    with pytest.raises(AccountError, match=message):
        Accounts.load(users).add(name, role, password)
    assert len(Accounts.load(users)) == 2


def test_names_with_dots_and_at_signs_round_trip(tmp_path: Path):
    path = tmp_path / "users.toml"
    Accounts.load(path).add("jane.doe@example.org", READER, PASSWORD)
    assert Accounts.load(path).verify("jane.doe@example.org", PASSWORD)


@pytest.mark.parametrize(("text", "message"), [
    ("[users.alice\nrole = 1", "is not valid TOML"),
    ('[users.alice]\nrole = "editor"\npassword = "plain text"\n', "argon2 password hash"),
    ('[users.alice]\nrole = "boss"\npassword = "$argon2id$x"\n', "needs a role"),
    ('users = "everyone"\n', "must be a table"),
])
def test_a_broken_users_file_is_named_with_how_to_fix_it(tmp_path: Path, text: str, message: str):
    path = tmp_path / "users.toml"
    path.write_text(text)
    with pytest.raises(AccountError, match=message):
        Accounts.load(path)


def test_a_missing_file_is_no_accounts(tmp_path: Path):
    assert len(Accounts.load(tmp_path / "none.toml")) == 0


def test_the_file_is_read_again_when_it_changes(users: Path, caplog: pytest.LogCaptureFixture):
    served = Accounts.load(users)
    other = Accounts.load(users)  # another process: rag users while the page is served
    other.add("carol", READER, PASSWORD)
    other.remove("bob")
    assert served.verify("carol", PASSWORD) and served.role("bob") is None
    users.write_text("[users.broken")  # a hand edit gone wrong: the accounts read before stay
    with caplog.at_level(logging.WARNING):
        assert served.role("carol") == READER
    assert "not valid TOML" in caplog.text


def test_what_each_role_may_do(users: Path):
    access = Access(Accounts.load(users))
    assert access.may_read("alice") and access.may_edit("alice")
    assert access.may_read("bob") and not access.may_edit("bob")
    assert "bob is signed in as a reader" in access.refusal("bob")
    assert not access.may_read("mallory") and not access.may_edit(None)
    local = Access(None)  # sign-in off: the one local user
    assert local.may_read(None) and local.may_edit(None)
    for read_only in (Access(None, read_only=True), Access(Accounts.load(users), read_only=True)):
        assert not read_only.may_edit("alice") and not read_only.may_edit(None)
        assert "read-only" in read_only.refusal("alice")


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("no-such.invalid")


def test_without_accounts_only_this_machine_is_served(tmp_path: Path, users: Path, caplog: pytest.LogCaptureFixture):
    none = tmp_path / "absent.toml"
    assert access_for("127.0.0.1", none).accounts is None
    with pytest.raises(ServeError, match=r"(?s)No accounts in .*rag users add alice --role editor.*--no-auth"):
        access_for("0.0.0.0", none)
    with caplog.at_level(logging.WARNING):
        opened = access_for("0.0.0.0", none, no_auth=True)
    assert opened.accounts is None and "sign-in is off (--no-auth)" in caplog.text
    assert access_for("0.0.0.0", users).accounts is not None
    assert access_for("127.0.0.1", users).accounts is not None  # accounts sign in on loopback too
    assert access_for("0.0.0.0", users, read_only=True).read_only


# --------------------------------------------------------------------------- the throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _sign_in_app(right: str) -> Any:
    """A sign-in route as Gradio's answers: 200 for the right password, 400 otherwise."""
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = (await receive()).get("body", b"")
        status = 200 if body == right.encode() else 400
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    return app


def _post(throttle: SignInThrottle, password: str, client: str = "10.0.0.1", path: str = "/login") -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": password.encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "client": (client, 5000)}
    asyncio.run(throttle(scope, receive, send))
    return int(sent[0]["status"])


def test_repeated_failures_lock_one_address_out_for_a_while():
    clock = Clock()
    throttle = SignInThrottle(_sign_in_app(PASSWORD), attempts=3, lockout=60, window=900, clock=clock)
    assert [_post(throttle, "wrong") for _ in range(3)] == [400, 400, 400]
    assert _post(throttle, PASSWORD) == 429  # even the right password, while locked out
    assert _post(throttle, PASSWORD, client="10.0.0.2") == 200  # another address is not
    clock.now += 61
    assert _post(throttle, PASSWORD) == 200  # the lock-out is over; a success clears the count
    assert [_post(throttle, "wrong") for _ in range(3)] == [400, 400, 400]
    clock.now += 61
    assert _post(throttle, "wrong") == 400


def test_lockouts_grow_and_other_routes_are_untouched():
    clock = Clock()
    throttle = SignInThrottle(_sign_in_app(PASSWORD), attempts=2, lockout=10, window=900, clock=clock)
    for expected_wait in (10, 20, 40):
        _post(throttle, "wrong"), _post(throttle, "wrong")
        assert throttle.wait("10.0.0.1") == pytest.approx(expected_wait)
        clock.now += expected_wait + 1
    _post(throttle, "wrong"), _post(throttle, "wrong")
    assert _post(throttle, "x", path="/gradio_api/queue/join") == 400  # not a sign-in: passed through


def test_guesses_sent_at_once_are_checked_one_at_a_time():
    """Parallel guesses from one address would all be checked before the first failure
    counted: the second one waiting is refused at once."""
    release = asyncio.Event()
    checked: list[bytes] = []

    async def slow_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        checked.append((await receive()).get("body", b""))
        await release.wait()
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    throttle = SignInThrottle(slow_app, attempts=5, clock=Clock())

    async def guess(password: str, client: str) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": password.encode(), "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await throttle({"type": "http", "method": "POST", "path": "/login", "client": (client, 1)}, receive, send)
        return int(sent[0]["status"])

    async def main() -> list[int]:
        first = asyncio.ensure_future(guess("a", "10.0.0.1"))
        await asyncio.sleep(0.01)
        parallel = await asyncio.gather(*(guess(p, "10.0.0.1") for p in "bcd"))
        other = asyncio.ensure_future(guess("e", "10.0.0.2"))  # another address is checked
        await asyncio.sleep(0.01)
        release.set()
        return [await first, *parallel, await other]

    assert asyncio.run(main()) == [400, 429, 429, 429, 400]
    assert checked == [b"a", b"e"]


def test_an_ipv6_client_is_its_64_network():
    clock = Clock()
    throttle = SignInThrottle(_sign_in_app(PASSWORD), attempts=2, lockout=60, clock=clock)
    _post(throttle, "wrong", client="2001:db8::1"), _post(throttle, "wrong", client="2001:db8::2")
    assert _post(throttle, PASSWORD, client="2001:db8::ffff") == 429
    assert _post(throttle, PASSWORD, client="2001:db8:0:1::1") == 200


def test_the_refusal_says_when_to_try_again():
    throttle = SignInThrottle(_sign_in_app(PASSWORD), attempts=1, lockout=30, clock=Clock())
    _post(throttle, "wrong")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(throttle({"type": "http", "method": "POST", "path": "/login/", "client": ("10.0.0.1", 1)},
                         receive, send))
    assert sent[0]["status"] == 429 and (b"retry-after", b"30") in sent[0]["headers"]
    assert b"try again in 30 s" in sent[1]["body"]


# --------------------------------------------------------------------------- rag users


def test_rag_users_adds_lists_and_removes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "users.toml"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "alice", "--role", "editor", "--password-stdin", "--users", str(path)]) == 0
    assert Accounts.load(path).verify("alice", PASSWORD)
    monkeypatch.setenv("RAG_USERS", str(path))  # the variable names the same file
    assert main(["users", "list"]) == 0
    assert "alice\teditor" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "bob", "--password-stdin"]) == 2
    assert "too short" in capsys.readouterr().err
    assert main(["users", "remove", "alice"]) == 0
    assert len(Accounts.load(path)) == 0
    assert main(["users", "remove"]) == 2
    assert "needs the account's NAME" in capsys.readouterr().err


def test_rag_users_without_a_terminal_asks_for_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["users", "add", "alice", "--users", str(tmp_path / "u.toml")]) == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert not (tmp_path / "u.toml").exists()


def test_rag_serve_refuses_the_network_without_accounts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch):
    from helpers import free_port

    # an empty index folder: loading the models would start an ingest, which must not happen
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    assert main(["serve", "--host", "0.0.0.0", "--port", str(free_port()),
                 "--users", str(tmp_path / "absent.toml")]) == 2
    err = capsys.readouterr().err
    assert "No accounts in" in err and "rag users add" in err and "--no-auth" in err
    assert not (tmp_path / "index").exists()
