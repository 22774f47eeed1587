"""The pages over plain HTTP against the real server: sign-in, scopes, CSRF, escaping, CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx

from tests.serving.conftest import auth
from tests.serving.pages.conftest import FORMULA, HOSTILE, PAGE_KEYS, Pages, csrf_of, sign_in


def test_pages_send_a_browser_without_a_session_to_sign_in(pages: Pages) -> None:
    with httpx.Client(base_url=pages.url) as c:
        answer = c.get("/ui/at-risk?tier=high")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/sign-in?next=/ui/at-risk%3Ftier%3Dhigh"
        post = c.post("/ui/moderation/decide", data={"item": "x", "decision": "agree"})
        assert post.status_code == 401 and "Sign in again" in post.text


def test_sign_in_sets_a_strict_http_only_cookie_that_is_not_the_key(pages: Pages) -> None:
    key = PAGE_KEYS["members"][0]
    with httpx.Client(base_url=pages.url) as c:
        form = c.get("/ui/sign-in?next=/ui/at-risk")
        answer = c.post(
            "/ui/sign-in", data={"csrf": csrf_of(form.text), "next": "/ui/at-risk", "key": key}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/at-risk"
        cookie = next(
            v
            for k, v in answer.headers.multi_items()
            if k == "set-cookie" and "steward_session" in v
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert key not in cookie and key not in answer.text
        page = c.get("/ui/at-risk")
        assert page.status_code == 200 and key not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_wrong_key_or_a_missing_form_token_signs_nobody_in(pages: Pages) -> None:
    with httpx.Client(base_url=pages.url) as c:
        form = c.get("/ui/sign-in")
        wrong = c.post("/ui/sign-in", data={"csrf": csrf_of(form.text), "key": "guess-123456"})
        assert wrong.status_code == 401 and "guess-123456" not in wrong.text
        assert "steward_session" not in wrong.headers.get("set-cookie", "")
    with httpx.Client(base_url=pages.url) as c:  # no sign-in cookie: a login-CSRF attempt
        forged = c.post("/ui/sign-in", data={"csrf": "x", "key": PAGE_KEYS["admin"][0]})
        assert forged.status_code == 403 and "steward_session" not in str(forged.headers)


def test_each_page_needs_its_scope(pages: Pages, signed_in: dict[str, httpx.Client]) -> None:
    members, posts, moderator = signed_in["members"], signed_in["posts"], signed_in["moderator"]
    assert members.get("/ui/at-risk").status_code == 200
    assert members.get("/ui/moderation").status_code == 403
    assert posts.get("/ui/at-risk").status_code == 403
    assert posts.get("/ui/moderation").status_code == 200
    page = posts.get("/ui/moderation")
    assert "Review queue" not in page.text  # the queue is for moderators only
    denied = posts.post("/ui/moderation/decide", data={"csrf": csrf_of(page.text), "item": "x"})
    assert denied.status_code == 403 and "posts:moderate" in denied.text
    assert posts.get("/ui/moderation/recalibrate").status_code == 403
    form = moderator.get("/ui/moderation")
    refused = moderator.post("/ui/moderation/recalibrate", data={"csrf": csrf_of(form.text)})
    assert refused.status_code == 403 and "lacks the scope &#39;admin&#39;" in refused.text


def test_posts_need_the_session_token_and_our_origin(signed_in: dict[str, httpx.Client]) -> None:
    client = signed_in["posts"]
    token = csrf_of(client.get("/ui/moderation").text)
    no_token = client.post("/ui/moderation/score", data={"posts": "hello"})
    assert no_token.status_code == 403 and "security token" in no_token.text
    other_site = client.post(
        "/ui/moderation/score",
        data={"posts": "hello", "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403 and "another site" in other_site.text
    ok = client.post("/ui/moderation/score", data={"posts": "hello", "csrf": token})
    assert ok.status_code == 200 and "1 posts scored" in ok.text


def test_a_forged_or_signed_out_cookie_is_refused(pages: Pages) -> None:
    client = sign_in(pages.url, "members")
    cookie = client.cookies["steward_session"]
    _name, rest = cookie.split(".", 1)
    forged = "bGVhZA." + rest  # "lead" with the members key's signature
    with httpx.Client(base_url=pages.url, cookies={"steward_session": forged}) as other:
        assert other.get("/ui/at-risk").status_code == 303
    token = csrf_of(client.get("/ui/at-risk").text)
    assert client.post("/ui/sign-out", data={"csrf": token}).status_code == 303
    with httpx.Client(base_url=pages.url, cookies={"steward_session": cookie}) as replay:
        assert replay.get("/ui/at-risk").status_code == 303
    client.close()


def test_posts_and_member_attributes_are_escaped(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    moderator = signed_in["moderator"]
    token = csrf_of(moderator.get("/ui/moderation").text)
    scored = moderator.post(
        "/ui/moderation/score", data={"posts": f"{HOSTILE} you idiot", "csrf": token}
    )
    assert scored.status_code == 200
    assert HOSTILE not in scored.text and "&lt;script&gt;alert(&#39;pwned&#39;)" in scored.text
    page = signed_in["lead"].get(f"/ui/at-risk?sort=member_id&segment=channel={HOSTILE}")
    assert page.status_code == 200 and "<script>" not in page.text
    assert pages.hostile_member in page.text and "&lt;script&gt;" in page.text


def test_the_console_matches_the_api_and_queues_its_review_and_blocked_posts(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    from features.lake.moderation import ReviewQueue

    texts = ["you are an idiot", "thanks for sharing", "this sucks", "what a lovely day"]
    api = httpx.post(
        pages.url + "/v1/posts:score",
        json={"posts": [{"id": str(i), "text": t} for i, t in enumerate(texts)]},
        headers=auth("posts"),
    ).json()["posts"]
    before = len(ReviewQueue(pages.queue).items())
    moderator = signed_in["moderator"]
    token = csrf_of(moderator.get("/ui/moderation").text)
    upload = {"file": ("posts.csv", "text,lang\n" + "\n".join(f"{t},en" for t in texts[2:]))}
    page = moderator.post(
        "/ui/moderation/score", data={"posts": "\n".join(texts[:2]), "csrf": token}, files=upload
    )
    assert page.status_code == 200
    for i, post in enumerate(api, start=1):
        assert f'Post {i}: <span class="action action-{post["action"]}">' in page.text
    # Blocked posts are queued as well, so a false block can be contested.
    flagged = [p for p in api if p["action"] in ("review", "block")]
    queue = ReviewQueue(pages.queue).items()
    assert len(queue) == before + len(flagged)
    assert sorted(i.action for i in queue[before:]) == sorted(p["action"] for p in flagged)


def test_at_risk_filters_sort_and_csv_agree(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    client = signed_in["members"]
    page = client.get("/ui/at-risk?tier=high&sort=member_id&order=asc")
    assert page.status_code == 200
    assert 'aria-sort="ascending"' in page.text and page.text.count('aria-sort="none"') == 2
    csv_answer = client.get("/ui/at-risk.csv?tier=high&sort=member_id&order=asc")
    assert csv_answer.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert rows and {r["tier"] for r in rows} == {"high"}
    assert [r["member_id"] for r in rows] == sorted(r["member_id"] for r in rows)
    assert f"<strong>{len(rows)}</strong> members match" in page.text
    everyone = list(csv.DictReader(io.StringIO(client.get("/ui/at-risk.csv").text)))
    hostile = next(r for r in everyone if r["member_id"] == pages.hostile_member)
    assert hostile["intervention"] == "'" + FORMULA  # neutralised by the shared export
    probabilities = [float(r["probability"]) for r in everyone]
    assert probabilities == sorted(probabilities, reverse=True)
    low = client.get("/ui/at-risk.csv?min_probability=0.5")
    assert all(float(r["probability"]) >= 0.5 for r in csv.DictReader(io.StringIO(low.text)))
    bad = client.get("/ui/at-risk?min_probability=lots")
    assert bad.status_code == 422 and "minimum probability must be a number" in bad.text


def test_the_at_risk_page_says_when_the_data_is_synthetic(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    page = signed_in["members"].get("/ui/at-risk")
    assert page.status_code == 200
    # The simulator's members, but for the one whose attributes this fixture made hostile.
    found = re.search(
        r"Partly synthetic data: ([\d,]+) of these ([\d,]+) members come from", page.text
    )
    assert found is not None, page.text[:3000]
    made_up, total = (int(n.replace(",", "")) for n in found.groups())
    assert made_up == total - 1 > 100


def test_the_at_risk_page_shows_the_served_models_cohorts(
    pages: Pages, signed_in: dict[str, httpx.Client]
) -> None:
    """The cohorts logged with the served churn version's run, as `train churn` prints them."""
    import html

    import mlflow
    from mlflow import MlflowClient

    from models.churn.cohorts import cohort_lines

    page = signed_in["members"].get("/ui/at-risk")
    ready = signed_in["members"].get("/readyz").json()
    version = ready["models"]["churn"]["version"]
    assert f"What goes with churn: behavioural cohorts of v{version}'s training rows" in page.text
    run_id = MlflowClient().get_model_version("steward-churn", version).run_id
    report = mlflow.artifacts.load_dict(f"runs:/{run_id}/cohorts.json")
    lines = cohort_lines(report)
    assert len(lines) == 3
    for line in lines:
        assert f"<li>{html.escape(line)}</li>" in page.text


def test_synthetic_note_says_all_some_or_nothing() -> None:
    from features.synthetic.provenance import synthetic_note

    real = json.dumps({"channel": "web"})
    made_up = json.dumps({"channel": "web", "synthetic": True})
    assert synthetic_note([made_up, {"synthetic": True}]) == (
        "Synthetic data: these members and their activity come from steward's built-in "
        "simulator, not from a real community."
    )
    assert synthetic_note([made_up, real, None]).startswith("Partly synthetic data: 1 of these 3")  # type: ignore[union-attr]
    assert synthetic_note([real, None, "not json", {"synthetic": "true"}]) is None
