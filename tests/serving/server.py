"""A real uvicorn server on 127.0.0.1 in a background thread, for tests and the benchmark."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI

from serving.app import create_app
from serving.settings import ServeSettings


@dataclass
class Running:
    """A started server: its base URL, app and uvicorn handle."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=30)


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(settings: ServeSettings, wait_ready: bool = True, timeout: float = 120) -> Running:
    """Serve create_app(settings) under uvicorn and wait for /healthz (and /readyz)."""
    port = free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    running = Running(f"http://127.0.0.1:{port}", app, server, thread)
    wait_for(running.url + ("/readyz" if wait_ready else "/healthz"), timeout)
    return running


def wait_for(url: str, timeout: float) -> None:
    """Poll url until it answers 200."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=5)
            if answer.status_code == 200:
                return
            last = answer.text[:500]
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s: {last}")
