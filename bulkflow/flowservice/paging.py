"""Following a list's ``_links.next.href``, and knowing when to stop.

A listing ends when its next link does; a hostile or broken service's must end too. It fails
as ``invalid_response`` when the next link repeats a continuation token, after
:data:`MAX_EMPTY_PAGES` empty pages in a row, or past its page cap (:data:`MAX_PAGES`; a batch
fetch of at most 100 ids, :data:`BATCH_MAX_PAGES`).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote

from bulkflow.errors import InvalidResponseError

# 10,000 pages of 100 is a million resources, far beyond any sandbox; ≤100 ids fit on one page.
MAX_PAGES = 10_000
BATCH_MAX_PAGES = 10
MAX_EMPTY_PAGES = 20


class Pages:
    """Where a listing is: it stops on a repeated token, too many pages, or only empty ones."""

    def __init__(self, what: str, max_pages: int) -> None:
        self._what = what
        self._max_pages = max_pages
        self._pages = 1
        self._empty_in_a_row = 0
        # Digests, not tokens: a hostile server's tokens could each be megabytes long.
        self._seen: set[bytes] = set()

    def follow(self, token: str, had_items: bool) -> None:
        """Allow the request for ``token``'s page, or raise :class:`InvalidResponseError`."""
        digest = hashlib.sha256(token.encode(errors="surrogatepass")).digest()
        if digest in self._seen:
            raise InvalidResponseError(
                f"{self._what}: the list's next link repeats a continuation token"
            )
        self._seen.add(digest)
        self._empty_in_a_row = 0 if had_items else self._empty_in_a_row + 1
        if self._empty_in_a_row >= MAX_EMPTY_PAGES:
            raise InvalidResponseError(
                f"{self._what}: {MAX_EMPTY_PAGES} empty pages in a row, each with a next link; stopped"
            )
        if self._pages >= self._max_pages:
            raise InvalidResponseError(
                f"{self._what}: the list goes on for more than {self._max_pages} pages; stopped"
            )
        self._pages += 1


def continuation_token(page: dict[str, Any]) -> str | None:
    """The ``continuationToken`` of ``_links.next.href``, when there is a next page."""
    links = page.get("_links")
    following = links.get("next") if isinstance(links, dict) else None
    href = following.get("href") if isinstance(following, dict) else None
    if not isinstance(href, str) or "continuationToken=" not in href:
        return None
    return unquote(href.split("continuationToken=", 1)[1].split("&", 1)[0])
