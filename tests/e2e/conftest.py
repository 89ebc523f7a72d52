"""Browser fixtures for the end-to-end tests: Playwright driving the system's own headless
Chromium (Debian's `chromium` package) against pytest-django's `live_server`.

Nothing is downloaded: the browser is $E2E_CHROMIUM if set, else `chromium` on the PATH,
else /usr/bin/chromium. Without Playwright or Chromium the tests are skipped with the reason, unless
E2E_REQUIRED=1 (as in CI), where they fail instead. When a test fails, every page it opened
is saved as test-artifacts/e2e/<test name>[-<n>].png.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in the test thread, so Django would refuse
# the ORM calls the tests make to set up and check data (SynchronousOnlyOperation). The ORM is
# used synchronously here; the browser only talks to the live server's own thread. The
# variable is set only while the browser runs (see `browser`): set for the whole session it
# would reach the subprocesses other tests start (`check --deploy` warns about it).
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or fails, with E2E_REQUIRED=1) every test
    expect = None

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps trying to reach Google's services (refused here).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # one step (a click, a page load, an expectation); a test takes a few seconds


def find_chromium() -> str | None:
    """$E2E_CHROMIUM if set (and only it), else chromium on the PATH, else /usr/bin/chromium."""
    chosen = os.environ.get("E2E_CHROMIUM")
    candidates = [chosen] if chosen else [shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def unavailable(reason: str):
    if os.environ.get("E2E_REQUIRED") == "1":
        pytest.fail(f"E2E_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (set E2E_REQUIRED=1 to make this an error)")


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests; it stops (and with it Playwright's event loop in
    this thread) when they are done, before the rest of the suite goes on."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -e '.[test]')")
    executable = find_chromium()
    if executable is None:
        unavailable("no Chromium found (apt-get install chromium, or set E2E_CHROMIUM)")
    expect.set_options(timeout=TIMEOUT_MS)
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def new_page(browser, live_server, request):
    """new_page(viewport=(width, height)) -> a fresh page in its own browser context (its own
    cookies: one per user), in Chinese, with relative URLs resolved against the live server.

    Every page listens to its console: a Content-Security-Policy violation ("Refused to load /
    execute / apply …", issue 11) fails the test at its end, naming the message."""
    contexts = []
    refused = []
    request.node._e2e_pages = []
    for old in (*ARTIFACTS.glob(f"{screenshot_name(request.node)}.png"),
                *ARTIFACTS.glob(f"{screenshot_name(request.node)}-*.png")):
        old.unlink()  # a screenshot left by an earlier failure of this test

    def make(viewport=(1280, 900)):
        width, height = viewport
        context = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
                if csp_violation(message.text) else None)
        request.node._e2e_pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()
    if refused:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(refused), pytrace=False)


def csp_violation(text: str) -> bool:
    """Chromium's console message for a blocked script, style, image, frame or form target."""
    return text.startswith("Refused to") or "Content Security Policy" in text


@pytest.fixture
def page(new_page):
    return new_page()


def login_admin(page, username: str, password: str) -> None:
    """The password, then the second factor as a person would: the code of the user's
    authenticator (computed from its secret with django-otp's TOTP, as a phone app does), or,
    with none yet, the enrolment page (the secret read off the page) and its recovery codes."""
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/otp/(verify|enrol)/"))
    if "/otp/enrol/" in page.url:
        enrol_in_browser(page)
    else:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from tests.second_factor import code_for

        device = TOTPDevice.objects.get(user__username=username, confirmed=True)
        page.fill("#id_code", code_for(device))
        page.get_by_role("button", name="验证").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def enrol_in_browser(page) -> list[str]:
    """On the enrolment page: type the code for the secret shown, keep the recovery codes, go on."""
    import base64
    import time

    from django_otp.oath import TOTP

    secret = page.locator("#otp-secret").get_attribute("data-secret")
    totp = TOTP(base64.b32decode(secret))
    totp.time = time.time()
    page.fill("#id_code", f"{totp.token():06d}")
    page.get_by_role("button", name="确认").click()
    page.wait_for_url(re.compile(r"/otp/recovery-codes/"))
    codes = page.locator("#otp-recovery-codes li").all_inner_texts()
    page.locator("#otp-continue").click()
    return codes


def screenshot_name(item) -> str:
    return re.sub(r"[^\w.-]+", "_", item.name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pages = getattr(item, "_e2e_pages", [])
    if not pages:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = screenshot_name(item)
    saved = []
    for number, page in enumerate(pages, start=1):
        path = ARTIFACTS / (f"{name}.png" if number == 1 else f"{name}-{number}.png")
        try:
            page.screenshot(path=str(path), full_page=True)
            saved.append(str(path))
        except Exception as error:  # a closed or crashed page: say so, keep the test's own failure
            saved.append(f"{path}: not saved ({error})")
    report.sections.append(("e2e screenshots", "\n".join(saved)))
