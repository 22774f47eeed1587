"""GET /$discovery/rest: the discovery document Google's API clients build a Perspective client from.

Perspective's samples call googleapiclient.discovery.build("commentanalyzer", "v1alpha1",
developerKey=KEY, discoveryServiceUrl=URL): pointing URL here makes that client call this
server, with the key sent as ?key=.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["perspective"])

SCHEMAS = ("AnalyzeCommentRequest", "AnalyzeCommentResponse")


def discovery_document(root_url: str) -> dict[str, Any]:
    """The commentanalyzer v1alpha1 REST description, rooted at this server."""
    analyze = {
        "id": "commentanalyzer.comments.analyze",
        "path": "v1alpha1/comments:analyze",
        "flatPath": "v1alpha1/comments:analyze",
        "httpMethod": "POST",
        "parameters": {},
        "parameterOrder": [],
        "request": {"$ref": "AnalyzeCommentRequest"},
        "response": {"$ref": "AnalyzeCommentResponse"},
        "description": "Analyzes the provided text and returns scores for requested attributes.",
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
async def discovery(request: Request) -> dict[str, Any]:
    """The discovery document (public, as Google's is)."""
    return discovery_document(str(request.base_url))
