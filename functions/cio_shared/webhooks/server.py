"""Limits of the HTTP server in front of the public webhook (functions-framework's gunicorn).

functions-framework 3.x starts gunicorn with `limit_request_line=0`, which gunicorn reads as
"unlimited": a 2 MB request line is read into memory and served. It offers no setting for it:
its `GunicornApplication` applies a fixed dict of options and ignores both `GUNICORN_CMD_ARGS`
and `gunicorn.conf.py` (those are read by gunicorn's command-line `Application`, not by the
`BaseApplication` functions-framework subclasses). So the webhook's `main.py` calls
`limit_request_line()` at import, which functions-framework does before it builds the server,
and the server then refuses a longer request line with 400 before the application sees it.

Customer.io posts to the function's bare URL, so gunicorn's own default (4094 bytes, its
documented maximum is 8190) leaves ample room. The hook is checked by
tests/webhook/test_server_memory.py against the pinned functions-framework; if a future version
renames the class, `limit_request_line` returns False and that test fails.
"""

from __future__ import annotations

from typing import Any

REQUEST_LINE_LIMIT = 4094  # gunicorn's default


def limit_request_line(limit: int = REQUEST_LINE_LIMIT) -> bool:
    """Make functions-framework's gunicorn refuse request lines over `limit` bytes.

    Returns False when functions-framework is not installed or has no such server class
    (nothing changed). Idempotent.
    """
    try:
        from functions_framework._http import gunicorn as ff_gunicorn
    except ImportError:
        return False
    application: Any = getattr(ff_gunicorn, "GunicornApplication", None)
    if application is None or not hasattr(application, "load_config"):
        return False
    if getattr(application, "_cio_request_line_limit", None) == limit:
        return True
    original = getattr(application, "_cio_original_load_config", application.load_config)

    def load_config(self: Any) -> None:
        original(self)
        self.cfg.set("limit_request_line", limit)

    application._cio_original_load_config = original
    application.load_config = load_config
    application._cio_request_line_limit = limit
    return True
