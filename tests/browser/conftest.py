"""Browser fixtures: the real app under uvicorn on loopback, driven by a real Chromium.

Every server runs the real app over its own SQLite file with the system
clock, and with short kiosk timings so that the automatic resets can be
watched in a few seconds. One Chromium is shared by the whole session; each
test opens its own contexts (a context is one person's browser: cookies,
history, storage).

Without ``/usr/bin/chromium`` or the ``playwright`` package the browser tests
are skipped, saying so; with ``QIAOQIAO_REQUIRE_BROWSER=1`` they fail instead.
Playwright is only imported inside fixtures so that its absence can be
reported that way rather than as a collection error.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from qiaoqiao.crypto import KdfParams
from qiaoqiao.intake.settings import Secret, Settings
from qiaoqiao.mailbox.clock import system_clock
from qiaoqiao.mailbox.database import make_engine, sqlite_url
from qiaoqiao.mailbox.schema import migrate
from qiaoqiao.mailbox.schools import SetupResult, create_school
from qiaoqiao.mailbox.tables import Letter, Poster, School

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SKIP_REASON = "Chromium not installed: browser tests skipped"

ADMIN_USERNAME = "zhang"
ADMIN_PASSPHRASE = "sunflowers face the morning"
SCHOOL_NAME = "阳光小学"

# Kiosk timings short enough to watch: the idle warning after 3 s, the reset
# after 6 s, the receipt back at the start after 4 s.
KIOSK_IDLE_SECONDS = 6
KIOSK_WARN_SECONDS = 3
KIOSK_RECEIPT_SECONDS = 4

DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 360, "height": 640}, "is_mobile": True, "has_touch": True}
VIEWPORTS = {"1280": DESKTOP, "360": PHONE}

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def pytest_plugin_registered(plugin, manager) -> None:
    """Give the module name ``conftest`` back to tests/conftest.py once this file is loaded.

    Neither folder is a package, so pytest imports both files as the module
    ``conftest``, this one last (it replaces the other in ``sys.modules``).
    Test modules elsewhere do ``from conftest import csrf_from``; without this
    they would find this file instead and fail to import.
    """
    if getattr(plugin, "__file__", None) != __file__:
        return
    for other in manager.get_plugins():
        other_file = getattr(other, "__file__", None)
        if other_file and Path(other_file).resolve() == ROOT_CONFTEST:
            sys.modules["conftest"] = other
            return


# --- the browser -----------------------------------------------------------


def _browser_problem() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} does not exist"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (Debian's, never a downloaded one)."""
    problem = _browser_problem()
    if problem is not None:
        if os.environ.get("QIAOQIAO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"QIAOQIAO_REQUIRE_BROWSER=1 but {problem}: the browser tests cannot run")
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_context(browser):
    """Open a browser context (one person's browser); all are closed after the test.

    Defaults to a 1280×800 tablet in Chinese; pass ``**ui.phone`` for a phone.
    """
    opened = []

    def open_context(**options):
        options.setdefault("viewport", DESKTOP["viewport"])
        options.setdefault("locale", "zh-CN")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(15_000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


# --- the server ------------------------------------------------------------


def browser_settings(folder: Path) -> Settings:
    """Settings like the unit tests' (fast KDF, fixed secret), over SQLite, with short kiosk timings."""
    return Settings(
        database_url=sqlite_url(folder / "data"),
        data_dir=folder / "data",
        secret_key=Secret(b"test server key, never used live"),
        kdf=KdfParams.fast_for_tests(),
    ).with_(
        kiosk_idle_seconds=KIOSK_IDLE_SECONDS,
        kiosk_warn_seconds=KIOSK_WARN_SECONDS,
        kiosk_receipt_seconds=KIOSK_RECEIPT_SECONDS,
    )


@dataclass
class LiveServer:
    """A running server and the domain calls a test needs to set the scene."""

    settings: Settings
    engine: Engine
    port: int
    screeners: object
    admin_username = ADMIN_USERNAME
    admin_passphrase = ADMIN_PASSPHRASE
    school_name = SCHOOL_NAME

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def create_school(self, name: str = SCHOOL_NAME) -> SetupResult:
        with self.session() as session:
            return create_school(
                session=session,
                name=name,
                admin_username=ADMIN_USERNAME,
                admin_passphrase=ADMIN_PASSPHRASE,
                kdf=self.settings.kdf,
                clock=system_clock,
            )

    def add_kiosk(self, school: School, name: str = "教学楼一楼平板") -> str:
        """Register a kiosk; returns its activation URL."""
        from qiaoqiao.mailbox.sources import add_kiosk

        with self.session() as session:
            _kiosk, token = add_kiosk(session=session, school=school, name=name, clock=system_clock)
        return self.url(f"/k/{token}")

    def add_poster(self, school: School, label: str = "宿舍楼门口") -> Poster:
        from qiaoqiao.mailbox.sources import add_poster

        with self.session() as session:
            return add_poster(session=session, school=school, label=label, clock=system_clock)

    def letters(self) -> list[Letter]:
        with self.session() as session:
            return list(session.exec(select(Letter)).all())

    def schools(self) -> list[School]:
        with self.session() as session:
            return list(session.exec(select(School)).all())

    def submit_letter(self, school: School, text: str, kind: str = "whisper", **fields: str):
        """A letter sent through the domain (as the form would); returns its receipt (id and code)."""
        from qiaoqiao.mailbox.letters import LetterForm, submit_letter

        with self.session() as session:
            return submit_letter(
                session=session, school=school, form=LetterForm(kind=kind, text=text, **fields),
                sealing=self.settings.sealing, clock=system_clock, screeners=self.screeners,
            )

    def reply_as_counsellor(self, school: School, letter_id: str, text: str) -> None:
        """Log the admin in through the domain and answer a letter (faster than a staff browser)."""
        from qiaoqiao.mailbox.queue import open_mailbox_now
        from qiaoqiao.mailbox.staff import login
        from qiaoqiao.mailbox.threads import reply_as_staff

        with self.session() as session:
            unlocked = login(
                session=session, school_id=school.id, username=ADMIN_USERNAME, passphrase=ADMIN_PASSPHRASE,
                kdf=self.settings.kdf, clock=system_clock,
            )
            # Routine 悄悄话 wait for Friday's opening; open the mailbox now, as a counsellor may.
            open_mailbox_now(session=session, school=school, clock=system_clock, actor_user_id=unlocked.user.id)
            reply_as_staff(
                session=session, school=school, keyring=unlocked.keyring, letter_id=letter_id, text=text,
                author_kind="counsellor", author_user_id=unlocked.user.id, clock=system_clock,
            )


def _wait_until_answering(url: str, thread: threading.Thread, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped while starting")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"the test server did not answer {url} in time")


@contextlib.contextmanager
def running_server(folder: Path) -> Iterator[LiveServer]:
    """The real app (real system clock) under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    from qiaoqiao.intake.app import create_app

    settings = browser_settings(folder)
    engine = make_engine(settings.database_url)
    migrate(engine)
    app = create_app(settings, engine=engine)
    # Bind first and hand uvicorn the socket: no window in which another
    # process could take the port between choosing and binding it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        _wait_until_answering(f"http://127.0.0.1:{port}/static/child.css", thread, time.monotonic() + 20)
        yield LiveServer(settings=settings, engine=engine, port=port, screeners=app.state.screeners)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        engine.dispose()


@pytest.fixture
def live(browser, tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server of its own for one test, with no school yet."""
    with running_server(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def module_live(browser, tmp_path_factory) -> Iterator[LiveServer]:
    """One server shared by a module's tests (for tests that only add letters)."""
    with running_server(tmp_path_factory.mktemp("live")) as server:
        yield server


# --- what tests do in a page -----------------------------------------------

_TEXT_WITHOUT_PINYIN = """el => {
  const copy = el.cloneNode(true);
  copy.querySelectorAll('rt, rp, script, style').forEach(node => node.remove());
  return copy.textContent.replace(/\\s+/g, ' ').trim();
}"""

_FIELD_VALUES = """() => Array.from(document.querySelectorAll('textarea, input'))
  .filter(el => el.type !== 'hidden').map(el => el.value)"""


class Ui:
    """Small things every browser test does, in one place."""

    code_pattern = re.compile(r"^\d{4} \d{4} \d{4}$")
    desktop = DESKTOP
    phone = PHONE
    viewports = VIEWPORTS

    @staticmethod
    def expect(target):
        from playwright.sync_api import expect

        return expect(target)

    @staticmethod
    def text(target) -> str:
        """What a reader sees in a page or locator, pinyin (<rt>) removed, whitespace folded."""
        locator = target.locator("body") if hasattr(target, "goto") else target
        return locator.evaluate(_TEXT_WITHOUT_PINYIN)

    @staticmethod
    def field_values(page) -> list[str]:
        return page.evaluate(_FIELD_VALUES)

    @staticmethod
    def path(page) -> str:
        from urllib.parse import urlsplit

        return urlsplit(page.url).path

    @staticmethod
    def assert_fits(page, width: int = 360) -> None:
        """No horizontal scrolling: the document is no wider than the screen."""
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{page.url} scrolls sideways: scrollWidth {scroll_width} > {width}"

    @staticmethod
    def fonts_ready(page) -> None:
        page.evaluate("document.fonts.ready.then(() => true)")

    def send_whisper(self, page, live: LiveServer, slug: str, text: str) -> str:
        """Write and send a 悄悄话 from the form; returns the code as shown ("1234 5678 9012")."""
        page.goto(live.url(f"/s/{slug}/write/whisper"))
        page.locator("#text").fill(text)
        page.locator("#send").click()
        code = page.locator("#pickup-code")
        code.wait_for()
        shown = code.inner_text().strip()
        assert self.code_pattern.match(shown), f"not a pickup code: {shown!r}"
        return shown

    @staticmethod
    def staff_login(page, live: LiveServer, username: str = ADMIN_USERNAME, passphrase: str = ADMIN_PASSPHRASE) -> None:
        page.goto(live.url("/staff/login"))
        page.locator("#username").fill(username)
        page.locator("#passphrase").fill(passphrase)
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_url(live.url("/staff/"))

    @staticmethod
    def open_mailbox_now(page) -> None:
        """Routine 悄悄话 wait for Friday's opening; a counsellor may open the mailbox early."""
        button = page.locator("#open-now")
        if button.count():
            button.click()
            page.wait_for_load_state("load")


@pytest.fixture(scope="session")
def ui() -> Ui:
    return Ui()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
