"""Running the service with uvicorn, in one process or several workers."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from gristmill._extras import require
from gristmill.exceptions import ServingError
from gristmill.serving._app import create_app, default_log_path
from gristmill.serving._model import parse_model_uri

__all__ = ["serve"]

_CONFIG_ENV = "GRISTMILL_SERVE_CONFIG"


def app_from_env() -> Any:
    """App factory for uvicorn workers: each worker builds its app from the parent's settings."""
    try:
        config = json.loads(os.environ[_CONFIG_ENV])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ServingError(
            f"{_CONFIG_ENV} is missing or not JSON; start workers with serve()"
        ) from exc
    return create_app(config.pop("model"), **config)


def _check_can_listen(host: str, port: int) -> None:
    """Bind every address of ``host``:``port`` once and release it, as uvicorn will.

    uvicorn reports a refused address only after the model has loaded, as a log line, and then
    raises ``SystemExit(3)`` (``gristmill monitor``'s drift status); this fails first, with an
    exception naming the address.

    Raises
    ------
    ServingError
        ``cannot listen on HOST:PORT: <reason>`` when the host does not resolve or an address
        cannot be bound (in use, not local, not permitted).
    """
    shown = f"[{host}]" if ":" in host else host
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as sock:
                # As uvicorn (asyncio) binds: a port in TIME_WAIT is free to use.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ServingError(f"cannot listen on {shown}:{port}: {reason}") from exc


def serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token: str | None = None,
    tracking_uri: str | None = None,
    log_path: str | Path | None = None,
    max_body_bytes: int = 8 * 1024 * 1024,
    poll_interval: float = 5.0,
    log_level: str = "info",
    access_log: bool = False,
    task: str | None = None,
) -> None:
    """Serve ``model`` (``NAME[@ALIAS]`` or ``NAME/VERSION``) over HTTP until interrupted.

    Binds 127.0.0.1 unless ``host`` says otherwise. With ``workers > 1`` each uvicorn worker
    process loads the model, follows the alias and opens its own connection to the shared request
    log. uvicorn's access log (one line per request on stderr) is off unless ``access_log``: the
    request log already records every answered prediction (refused requests, 4xx, appear only in
    the access log), and the line costs CPU on the request path.
    ``task`` serves one task of a model that predicts several.

    Raises
    ------
    ServingError
        When ``workers`` or ``port`` is out of range, ``host``:``port`` cannot be bound (the
        host does not resolve, the port is in use ...), or the model cannot be loaded. The
        address is checked before the model loads.
    """
    uvicorn = require("uvicorn", extra="serve", feature="gristmill serve")
    if workers < 1:
        raise ServingError(f"workers must be >= 1; got {workers}")
    if not 0 <= port <= 65535:
        raise ServingError(f"port must be in 0..65535; got {port}")
    _check_can_listen(host, port)
    name = parse_model_uri(model)[0]
    settings: dict[str, Any] = {
        "model": model, "tracking_uri": tracking_uri, "token": token, "task": task,
        "log_path": str(log_path if log_path is not None else default_log_path(name, task)),
        "max_body_bytes": max_body_bytes, "poll_interval": poll_interval,
    }
    if workers == 1:
        app = create_app(settings.pop("model"), **settings)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
        return
    os.environ[_CONFIG_ENV] = json.dumps(settings)
    uvicorn.run("gristmill.serving._runner:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, access_log=access_log)
