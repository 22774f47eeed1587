"""The Stack Exchange data dump (Users, Posts, Comments, Votes, Badges XML) as canonical rows.

Reading. Each file is streamed with `iterparse`, clearing every parsed `<row/>`, so memory is
bounded by `batch_rows` whatever the dump's size. One thing is held whole: a first pass over
Posts.xml builds PostId -> OwnerUserId as two sorted int64 arrays (16 bytes a post, about 1 GB
for Stack Overflow's 60M posts), because answers, comments and votes name a post, and the
member they concern is that post's owner.

Accounting. Each file's rows are counted in one table, and every row there becomes exactly one
canonical row or one Reject with its reason, so `read == kept + quarantined` per table:
- Users.xml -> members, one row each. Attributes are as of the dump date (reputation
  included): they are not point-in-time, so features as of an earlier date must not use them.
- Posts.xml -> posts, one row each (every known PostTypeId; text = Body stripped of HTML, the
  Title is not added; an unknown PostTypeId is rejected; a missing OwnerUserId, i.e. a deleted
  user, keeps the post with an empty member_id, an unknown author, so its text is still there
  to score; an empty Body, as in tag wiki stubs or an image-only answer, is left to validation
  as missing text, and its quarantine row is the XML row as the dump wrote it).
- Comments.xml -> posts too: a comment is content to moderate (post_id `c<Id>`, text as given,
  since comments are Markdown, not HTML; a deleted user's comment is kept the same way).
- Votes.xml and Badges.xml -> events, exactly one row or Reject per source row.
Posts and comments also derive events, counted in events with a fixed number per source row:
a question 1 (`post`); an answer 2 (`answer` for its owner, `reply_received` for the question's
owner); a comment 2 (`comment` for its author, `reply_received` for the commented post's
owner); other post types 0. A derived row that cannot be made (a deleted user, a post not in
Posts.xml, a reply to one's own post) is a Reject with why, never dropped.
A row's number is its position among the file's `<row/>` elements, from 1.

Votes carry no voter id except favourites and bounties: VoteTypeId 2/3 -> `vote_received`
+1/-1 for the post's owner; 1 -> `answer_accepted` for the answer's owner; 4 and 12 (offensive,
spam flags) -> `report_received`; 9 -> `points_earned` (bounty awarded, value BountyAmount) for
the post's owner; 5 -> `like_given` by the voter (UserId); 8 -> `points_redeemed` (bounty
offered) by the voter. Moderation votes (close, reopen, deletion, ...) concern no member and are
rejected with their type's name. Vote dates are truncated to the day in the dump.

System accounts (by default user -1, the "Community" bot that owns wiki posts and bumps old
questions) are no members: their Users row and every event that would be theirs are counted as
excluded, by reason, not kept and not quarantined, so read = kept + quarantined + excluded.
Their posts are kept (text is text). `--system-accounts` on the CLI chooses the ids.

Files of the folder that are not mapped (PostHistory, PostLinks, Tags, ...) are listed by
`inventory()` with why they are skipped; the ingest report shows them.

target_id's meaning follows the event type: a member for `comment` and `reply_received` (empty
when that member was deleted); the badge name for `badge_earned`; otherwise a post id.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from features.adapters.base import ROW, SOURCE_ROW, RawBatch, Reject, SourceFile, hash_files
from features.schemas import TABLES

XML_BATCH_ROWS = 50_000  # rows of one file per batch: Posts bodies make XML rows heavy
REQUIRED_FILES = ("Users.xml", "Posts.xml")
OPTIONAL_FILES = ("Comments.xml", "Votes.xml", "Badges.xml")
MAPPING_VERSION = "stackexchange/2"  # change it when the mapping changes: sources are re-read
SYSTEM_ACCOUNTS = frozenset({"-1"})  # Stack Exchange's "Community" user, a bot
# What each dump file becomes, and why the others are skipped (README: "Stack Exchange dumps").
FILE_ROLES = {
    "Users.xml": "members",
    "Posts.xml": "posts, and events: question (post), answer (answer + reply_received)",
    "Comments.xml": "posts, and events: comment + reply_received",
    "Votes.xml": "events: votes received, accepted answers, flags, bounties, favourites",
    "Badges.xml": "events: badge_earned",
}
SKIPPED_FILES = {
    "PostHistory.xml": "edit history: steward keeps each post's current text, and edits are "
    "not member activity it models",
    "PostLinks.xml": "links between posts (duplicates, related): they concern no member",
    "Tags.xml": "tag names and counts: they concern no member",
    "PostFeedback.xml": "anonymous feedback on posts: no member to credit",
    "SuggestedEdits.xml": "edit suggestions: not member activity steward models",
    "SuggestedEditVotes.xml": "votes on edit suggestions: not member activity steward models",
    "PendingFlags.xml": "moderator flag queue: not member activity steward models",
    "ReviewTasks.xml": "moderator review queue: not member activity steward models",
    "ReviewTaskResults.xml": "moderator review results: not member activity steward models",
}

POST_TYPES = {
    "1": "Question",
    "2": "Answer",
    "3": "OrphanedTagWiki",
    "4": "TagWikiExcerpt",
    "5": "TagWiki",
    "6": "ModeratorNomination",
    "7": "WikiPlaceholder",
    "8": "PrivilegeWiki",
    "9": "Article",
    "10": "HelpArticle",
    "12": "Collection",
    "13": "ModeratorQuestionnaireResponse",
    "14": "Announcement",
    "15": "CollectiveDiscussion",
    "17": "CollectiveCollection",
}
VOTE_TYPES = {
    "1": "AcceptedByOriginator",
    "2": "UpMod",
    "3": "DownMod",
    "4": "Offensive",
    "5": "Favorite",
    "6": "Close",
    "7": "Reopen",
    "8": "BountyStart",
    "9": "BountyClose",
    "10": "Deletion",
    "11": "Undeletion",
    "12": "Spam",
    "15": "ModeratorReview",
    "16": "ApproveEditSuggestion",
}
# Vote type -> (event for the post's owner, value; None means the BountyAmount).
_OWNER_VOTES: dict[str, tuple[str, float | None]] = {
    "1": ("answer_accepted", 1.0),
    "2": ("vote_received", 1.0),
    "3": ("vote_received", -1.0),
    "4": ("report_received", 1.0),
    "9": ("points_earned", None),
    "12": ("report_received", 1.0),
}
# Vote type -> event for the voter, who is named only on these.
_VOTER_VOTES = {"5": ("like_given", 1.0), "8": ("points_redeemed", None)}
_USER_ATTRIBUTES = {
    "display_name": "DisplayName",
    "reputation": "Reputation",
    "location": "Location",
    "website_url": "WebsiteUrl",
    "account_id": "AccountId",
}

Row = dict[str, object]
Outcome = Row | str  # a canonical row, or why the source row could not become one
Mapper = Callable[[dict[str, str]], list[tuple[str, Outcome]]]


class Missing(Enum):
    """Why a post has no owner to credit."""

    NOT_IN_POSTS = "a post not in Posts.xml"
    NO_OWNER = "a post with no OwnerUserId (deleted user)"


@dataclass(frozen=True)
class PostOwners:
    """PostId -> OwnerUserId for every post of the dump, as sorted int64 arrays."""

    ids: np.ndarray
    owners: np.ndarray

    _NONE = np.iinfo(np.int64).min  # a post whose owner is gone (or not an integer id)

    @classmethod
    def from_posts(cls, path: Path) -> PostOwners:
        """Index Posts.xml in one streaming pass; posts whose Id is not an integer are left out."""
        ids, owners = array("q"), array("q")
        for _, attrs in iter_rows(path):
            post_id, owner = _as_int(attrs.get("Id")), _as_int(attrs.get("OwnerUserId"))
            if post_id is not None:
                ids.append(post_id)
                owners.append(cls._NONE if owner is None else owner)
        id_arr = np.frombuffer(ids, dtype=np.int64)
        order = np.argsort(id_arr, kind="stable")
        return cls(id_arr[order], np.frombuffer(owners, dtype=np.int64)[order])

    def owner(self, post_id: str | None) -> str | Missing:
        """The owner's member id, or why there is none."""
        key = _as_int(post_id)
        if key is None:
            return Missing.NOT_IN_POSTS
        at = int(np.searchsorted(self.ids, key))
        if at == len(self.ids) or self.ids[at] != key:
            return Missing.NOT_IN_POSTS
        found = int(self.owners[at])
        return Missing.NO_OWNER if found == self._NONE else str(found)


def _as_int(value: str | None) -> int | None:
    """An integer id, or None for an absent or non-integer one."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def iter_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (1-based row number, attributes) per `<row/>`, freeing each row once read."""
    root: ET.Element | None = None
    number = 0
    try:
        for event, elem in ET.iterparse(path, events=("start", "end")):
            if root is None:
                root = elem
            elif event == "end" and elem.tag == "row":
                number += 1
                yield number, dict(elem.attrib)
                root.clear()  # parsed rows would otherwise pile up under the root
    except ET.ParseError as exc:
        # The rows after a break cannot be counted: fail the ingest rather than publish part.
        raise ValueError(f"{path.name}: malformed XML after row {number}: {exc}") from exc


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment; block tags become line breaks."""

    _BLOCKS = frozenset(
        {"p", "br", "div", "li", "ul", "ol", "pre", "blockquote", "hr", "tr", "table"}
        | {f"h{i}" for i in range(1, 7)}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, blank lines collapsed."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    text = re.sub(r"[ \t]+\n", "\n", "".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _event(member: str | None, ts: str | None, kind: str, value: object, target: object) -> Row:
    """One raw events row."""
    return {"member_id": member, "ts": ts, "event_type": kind, "value": value, "target_id": target}


def _user_rows(attrs: dict[str, str]) -> list[tuple[str, Outcome]]:
    """A user: one members row; attributes are the profile as of the dump."""
    picked: dict[str, object] = {
        k: attrs[src] for k, src in _USER_ATTRIBUTES.items() if attrs.get(src)
    }
    for key in ("reputation", "account_id"):
        number = _as_int(attrs.get(_USER_ATTRIBUTES[key]))
        if number is not None:
            picked[key] = number
    row: Row = {
        "member_id": attrs.get("Id"),
        "joined_at": attrs.get("CreationDate"),
        "attributes": json.dumps(picked, ensure_ascii=False, sort_keys=True),
    }
    return [("members", row)]


def _post_rows(owners: PostOwners, attrs: dict[str, str]) -> list[tuple[str, Outcome]]:
    """A post: one posts row, plus 1 event for a question and 2 for an answer."""
    kind = attrs.get("PostTypeId")
    if kind not in POST_TYPES:
        return [("posts", f"unknown PostTypeId {kind}")]
    owner, ts = attrs.get("OwnerUserId"), attrs.get("CreationDate")
    # A deleted user's post is kept with no author: its text is still there to score.
    post: Outcome = {
        "post_id": attrs.get("Id"),
        "member_id": owner or None,
        "ts": ts,
        "text": strip_html(attrs.get("Body", "")),
        "lang": None,
    }
    out: list[tuple[str, Outcome]] = [("posts", post)]
    if kind == "1":
        out.append(("events", _authored(attrs, "post", "question")))
    elif kind == "2":
        out.append(("events", _authored(attrs, "answer", "answer")))
        reply = _reply_received(owners, attrs.get("ParentId"), owner, ts, "answer")
        out.append(("events", reply))
    return out


def _authored(attrs: dict[str, str], event: str, what: str) -> Outcome:
    """The author's own event for a question or an answer; its target is the post."""
    owner = attrs.get("OwnerUserId")
    if not owner:
        return f"{what} has no OwnerUserId (deleted user)"
    return _event(owner, attrs.get("CreationDate"), event, None, attrs.get("Id"))


def _reply_received(
    owners: PostOwners, parent_id: str | None, author: str | None, ts: str | None, what: str
) -> Outcome:
    """`reply_received` for the owner of the post replied to; its target is the replier."""
    if not parent_id:
        return f"no reply_received: {what} names no post"
    parent_owner = owners.owner(parent_id)
    if isinstance(parent_owner, Missing):
        return f"no reply_received: {what} on {parent_owner.value}"
    if parent_owner == author:
        return f"no reply_received: {what} on own post"
    return _event(parent_owner, ts, "reply_received", None, author or None)


def _comment_rows(owners: PostOwners, attrs: dict[str, str]) -> list[tuple[str, Outcome]]:
    """A comment: one posts row and 2 events (`comment`, `reply_received`)."""
    author, ts, post_id = attrs.get("UserId"), attrs.get("CreationDate"), attrs.get("PostId")
    # A deleted user's comment is kept with no author; only its `comment` event needs one.
    post: Outcome = {
        "post_id": f"c{attrs.get('Id')}",
        "member_id": author or None,
        "ts": ts,
        "text": attrs.get("Text", ""),
        "lang": None,
    }
    comment: Outcome = "comment has no UserId (deleted user)"
    if author:
        target = owners.owner(post_id)
        comment = _event(
            author, ts, "comment", None, None if isinstance(target, Missing) else target
        )
    reply = _reply_received(owners, post_id, author, ts, "comment")
    return [("posts", post), ("events", comment), ("events", reply)]


def _vote_rows(owners: PostOwners, attrs: dict[str, str]) -> list[tuple[str, Outcome]]:
    """A vote: exactly one event or reject."""
    return [("events", _vote_event(owners, attrs))]


def _vote_event(owners: PostOwners, attrs: dict[str, str]) -> Outcome:
    """The event a vote means for the member it concerns, or why it concerns none."""
    kind, ts, post_id = attrs.get("VoteTypeId", ""), attrs.get("CreationDate"), attrs.get("PostId")
    name = VOTE_TYPES.get(kind)
    if name is None:
        return f"unknown VoteTypeId {kind}"
    if kind in _VOTER_VOTES:
        event, value = _VOTER_VOTES[kind]
        voter = attrs.get("UserId")
        if not voter:
            return f"{name} vote has no UserId"
        amount = value if value is not None else attrs.get("BountyAmount")
        return _event(voter, ts, event, amount, post_id)
    if kind not in _OWNER_VOTES:
        return f"vote type {kind} ({name}) concerns no member"
    event, fixed = _OWNER_VOTES[kind]
    owner = owners.owner(post_id)
    if isinstance(owner, Missing):
        return f"vote on {owner.value}"
    amount = fixed if fixed is not None else attrs.get("BountyAmount")
    return _event(owner, ts, event, amount, post_id)


def _badge_rows(attrs: dict[str, str]) -> list[tuple[str, Outcome]]:
    """A badge: one `badge_earned` event whose target is the badge's name."""
    badge = _event(attrs.get("UserId"), attrs.get("Date"), "badge_earned", None, attrs.get("Name"))
    return [("events", badge)]


@dataclass
class _Pending:
    """Rows, their source rows, rejects and exclusions of one table for the next batch."""

    rows: list[Row] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)


# Tables whose rows belong to a member: a system account's rows there are excluded.
_MEMBER_TABLES = ("members", "events")


def parse_system_accounts(text: str) -> frozenset[str]:
    """Comma-separated user ids ('' for none); anything but integers is a ValueError."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    bad = [i for i in ids if _as_int(i) is None]
    if bad:
        raise ValueError(f"--system-accounts: {bad} are not user ids (give e.g. -1 or -1,42)")
    return frozenset(ids)


def map_file(
    path: Path, mapper: Mapper, batch_rows: int, system: frozenset[str] = SYSTEM_ACCOUNTS
) -> Iterator[RawBatch]:
    """Stream one XML file through a row mapper, yielding a batch per table every batch_rows rows."""
    pending: dict[str, _Pending] = {}
    for number, attrs in iter_rows(path):
        for table, outcome in mapper(attrs):
            into = pending.setdefault(table, _Pending())
            if isinstance(outcome, str):
                into.rejects.append(Reject(number, outcome, json.dumps(attrs, ensure_ascii=False)))
            elif table in _MEMBER_TABLES and outcome.get("member_id") in system:
                why = f"system account {outcome['member_id']} (not a member)"
                into.excluded[why] = into.excluded.get(why, 0) + 1
            else:
                into.rows.append({**outcome, ROW: number})
                into.sources.append(attrs)  # quarantine shows this row, should validation refuse
        if number % batch_rows == 0:
            yield from _flush(pending, path.name)
    yield from _flush(pending, path.name)


def _flush(pending: dict[str, _Pending], origin: str) -> Iterator[RawBatch]:
    """One RawBatch per table with gathered rows, emptying what was gathered."""
    for table, gathered in pending.items():
        if gathered.rows or gathered.rejects or gathered.excluded:
            frame = pd.DataFrame(gathered.rows, columns=[*TABLES[table].names, ROW], dtype=object)
            original = pd.DataFrame({SOURCE_ROW: pd.Series(gathered.sources, dtype=object)})
            yield RawBatch(
                table, origin, frame, gathered.rejects, original, dict(gathered.excluded)
            )
    pending.clear()


@dataclass
class StackExchangeSource:
    """A folder holding one site's data dump: Users.xml and Posts.xml, ideally the rest too."""

    folder: Path
    batch_rows: int = XML_BATCH_ROWS
    name: str = "stackexchange"
    system_accounts: frozenset[str] = SYSTEM_ACCOUNTS

    def files(self) -> dict[str, Path]:
        """The dump files present, by name; a missing required file is an error."""
        folder = Path(self.folder)
        missing = [n for n in REQUIRED_FILES if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: no {', '.join(missing)}; a Stack Exchange dump folder holds "
                f"{', '.join(REQUIRED_FILES + OPTIONAL_FILES)}"
            )
        return {n: folder / n for n in REQUIRED_FILES + OPTIONAL_FILES if (folder / n).is_file()}

    def fingerprint(self) -> str:
        """Content hash of the XML files read plus the mapping version."""
        system = ",".join(sorted(self.system_accounts))
        return hash_files(self.files().values(), f"{MAPPING_VERSION};system={system}")

    def inventory(self) -> list[SourceFile]:
        """Every file of the folder: those mapped, and the others with why they are skipped."""
        read = self.files()
        out = []
        for path in sorted(Path(self.folder).iterdir()):
            if path.name in read:
                out.append(SourceFile(path.name, True, FILE_ROLES[path.name]))
            elif path.is_file() and not path.name.startswith("."):
                why = SKIPPED_FILES.get(path.name) or (
                    "not a file of a Stack Exchange dump that steward maps"
                    if path.suffix.lower() == ".xml"
                    else "not a dump file"
                )
                out.append(SourceFile(path.name, False, why))
        return out

    def batches(self) -> Iterator[RawBatch]:
        """Index post owners, then stream each file through its mapping."""
        files = self.files()
        owners = PostOwners.from_posts(files["Posts.xml"])
        mappers: dict[str, Mapper] = {
            "Users.xml": _user_rows,
            "Posts.xml": partial(_post_rows, owners),
            "Comments.xml": partial(_comment_rows, owners),
            "Votes.xml": partial(_vote_rows, owners),
            "Badges.xml": _badge_rows,
        }
        for name, path in files.items():
            yield from map_file(path, mappers[name], self.batch_rows, self.system_accounts)
