"""Pages for people: the at-risk table and the moderation console, rendered on the server."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from serving.pages.render import PageError, current_session, error_page
from serving.pages.session import Sessions


def install_pages(app: FastAPI) -> None:
    """Add the /ui routes, their static files, sessions and the page error handler."""
    from serving.pages import members, moderation, recalibrate, signin

    app.state.sessions = Sessions(app.state.steward.settings, app.state.keys)
    for module in (signin, members, moderation, recalibrate):
        app.include_router(module.router)
    static = Path(__file__).resolve().parent.parent / "static"
    app.mount("/ui/static", StaticFiles(directory=static), name="ui-static")

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc, current_session(request))

    app.add_exception_handler(PageError, page_error)
