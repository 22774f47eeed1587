"""GET /$discovery/rest: the discovery document Google's API clients build a Perspective client from.

Perspective's samples call googleapiclient.discovery.build("commentanalyzer", "v1alpha1",
developerKey=KEY, discoveryServiceUrl=URL): pointing URL here makes that client call this
server, with the key sent as ?key=.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request

from serving.state import State

router = APIRouter(tags=["perspective"])

SCHEMAS = ("AnalyzeCommentRequest", "AnalyzeCommentResponse")


def discovery_document(root_url: str, attributes: Sequence[str] = ()) -> dict[str, Any]:
    """The commentanalyzer v1alpha1 REST description, rooted at this server, advertising the
    attributes the loaded model scores (Google's client ignores the extra key)."""
    analyze = {
        "id": "commentanalyzer.comments.analyze",
        "path": "v1alpha1/comments:analyze",
        "flatPath": "v1alpha1/comments:analyze",
        "httpMethod": "POST",
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": "AnalyzeCommentRequest"},
        "response": {"$ref": "AnalyzeCommentResponse"},
        "description": (
            "Analyzes the provided text and returns scores for requested attributes. "
            f"Attributes this server scores: {', '.join(attributes) or 'none (no model loaded)'}."
        ),
        "supportedAttributes": list(attributes),
    }
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "commentanalyzer:v1alpha1",
        "name": "commentanalyzer",
        "version": "v1alpha1",
        "title": "Perspective Comment Analyzer API (served by steward)",
        "protocol": "rest",
        "rootUrl": root_url,
        "servicePath": "",
        "baseUrl": root_url,
        "batchPath": "batch",
        "parameters": {
            "key": {"type": "string", "location": "query", "description": "API key."},
            "alt": {"type": "string", "location": "query", "default": "json"},
        },
        "schemas": {name: {"id": name, "type": "object"} for name in SCHEMAS},
        "resources": {"comments": {"methods": {"analyze": analyze}}},
    }


@router.get("/$discovery/rest")
async def discovery(request: Request, state: State) -> dict[str, Any]:
    """The discovery document (public, as Google's is)."""
    from serving.routes.perspective import served_attributes

    model = state.holder.current.toxicity
    attributes = served_attributes(model.scorer.labels) if model is not None else []
    return discovery_document(str(request.base_url), attributes)
