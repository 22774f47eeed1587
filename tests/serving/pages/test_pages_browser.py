"""The pages in a real headless Chromium: keyboard sign-in, sorting, expanding, escaping.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (never its browser
download); skipped with the reason when either is missing. Screenshots go to the test's tmp
folder and, for people to look at, to /tmp/steward-pages/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from features.lake.moderation import ReviewQueue, new_item
from tests.serving.pages.conftest import HOSTILE, PAGE_KEYS, Pages

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path("/tmp/steward-pages")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (dev extra)")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (playwright gives it a new empty profile)."""
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context (no cookies) and page; any JavaScript dialog fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    dialogs: list[str] = []
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield tab
    context.close()
    assert not dialogs, f"a script ran: {dialogs}"


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


# WCAG 2.1 contrast of every text element as Chromium rendered it: the element's colour against
# the first opaque background up its ancestors (the page's white at the root).
CONTRAST_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0 || box.right < 0) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push([el.tagName + "." + el.className, el.textContent.trim().slice(0, 30), ratio]);
  }
  return out;
}
"""
AA_NORMAL_TEXT = 4.5  # WCAG 2.1 AA for text under 18pt (the pages have no larger coloured text)


def _low_contrast(page: Any) -> list[tuple[str, str, float]]:
    """Text elements under AA contrast, with their ratios (empty when every one passes)."""
    found = page.evaluate(CONTRAST_JS)
    assert len(found) > 20  # the check saw the page's text
    return [tuple(f) for f in found if f[2] < AA_NORMAL_TEXT]


def _sign_in_by_keyboard(page: Any, url: str, target: str, kind: str) -> None:
    page.goto(url + target)
    assert "/ui/sign-in" in page.url
    page.keyboard.press("Tab")  # the skip link comes first
    page.get_by_label("API key").focus()
    page.keyboard.type(PAGE_KEYS[kind][0])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(target), page.content()[-3000:]


def test_at_risk_page_by_keyboard(pages: Pages, page: Any, tmp_path: Path) -> None:
    _sign_in_by_keyboard(page, pages.url, "/ui/at-risk", "lead")
    header = page.locator("th", has_text="Member").first
    assert header.get_attribute("aria-sort") == "none"
    page.get_by_role("link", name="Member (select to sort)").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=member_id**")
    assert page.locator("th", has_text="Member").first.get_attribute("aria-sort") == "ascending"
    ids = page.locator("tbody th[scope=row]").all_inner_texts()
    assert ids == sorted(ids)
    page.get_by_label("Segment").fill(f"channel={HOSTILE}")
    page.get_by_label("Segment").press("Enter")
    page.wait_for_url("**segment=**")
    summary = page.locator("summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("details").first.get_attribute("open") is not None
    assert page.locator("dd", has_text="alert('pwned')").count() == 1  # shown as text
    assert page.locator("script").count() == 0
    assert _low_contrast(page) == []
    _shot(page, tmp_path, "at-risk")


@pytest.mark.slow
def test_moderation_console_scores_and_decides(pages: Pages, page: Any, tmp_path: Path) -> None:
    queue = ReviewQueue(pages.queue)
    queue.add([new_item("you absolute clown, nobody wants you here", "en", "toxicity", 0.41, "1")])
    _sign_in_by_keyboard(page, pages.url, "/ui/moderation", "lead")
    page.get_by_label("Posts to score, one per line").fill(
        f"you are an idiot\nthanks for sharing, this helped\n{HOSTILE} what a moron"
    )
    page.get_by_role("button", name="Score posts").click()
    page.wait_for_selector("#results-title")
    assert page.locator("article.post").count() == 3
    assert page.locator("mark").count() >= 1
    assert page.locator("article.post h3 .action").first.inner_text() in (
        "Allow",
        "Review",
        "Block",
    )
    assert _low_contrast(page) == []
    _shot(page, tmp_path, "moderation")
    pending = len(queue.items())
    button = page.get_by_role("button", name="Disagree: acceptable").first
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**decided=disagree**")
    assert len(queue.items()) == pending - 1
    page.get_by_role("link", name="Recalibrate thresholds from the decisions").click()
    page.wait_for_selector("table.recal")
    _shot(page, tmp_path, "recalibrate")


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .opblock"), ("/redoc", "[data-section-id] h2, .redoc-wrap h2")],
)
def test_api_docs_render_with_no_request_leaving_the_machine(
    pages: Pages, page: Any, tmp_path: Path, path: str, rendered: str
) -> None:
    # Every request off this server is refused, as on a machine without internet: Swagger UI
    # and ReDoc must come from the server itself. ReDoc's sidebar still links its maker's logo
    # (an image, nothing the docs need): only images may be asked for elsewhere.
    elsewhere: list[str] = []

    def only_here(route: Any) -> None:
        if route.request.url.startswith(pages.url):
            route.continue_()
            return
        if route.request.resource_type != "image":
            elsewhere.append(f"{route.request.resource_type} {route.request.url}")
        route.abort()

    page.route("**/*", only_here)
    page.goto(pages.url + path)
    page.wait_for_selector(rendered, timeout=30_000)
    assert page.get_by_text("/v1/posts:score").count() >= 1
    assert elsewhere == []
    _shot(page, tmp_path, path.strip("/"))
