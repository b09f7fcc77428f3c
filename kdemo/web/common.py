"""What every tab of the Gradio app shares: the error wrapper, the visitor's token, styles, context."""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from kdemo.errors import KdemoError
from kdemo.jobs import TrainingManager

logger = logging.getLogger("kdemo.app")

CSS = """
.kd-status {padding: 10px 14px; border-radius: 8px; background: var(--block-background-fill); border: 1px solid var(--border-color-primary);}
.kd-bar {height: 10px; background: #e5e7eb; border-radius: 5px; margin: 8px 0 4px; overflow: hidden;}
.kd-bar > div {height: 100%; background: #2563eb; transition: width .5s;}
.kd-done .kd-bar > div {background: #16a34a;}
.kd-failed .kd-bar > div, .kd-cancelled .kd-bar > div {background: #9ca3af;}
.kd-error {color: #b91c1c; margin-top: 6px; font-weight: 600;}
.kd-limits {color: var(--body-text-color-subdued); font-size: 0.85em;}
"""
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def admin_enabled() -> bool:
    """``KDEMO_ADMIN=1``: any visitor may delete any run but the demo (for local, single-user use; off by default)."""
    return os.environ.get("KDEMO_ADMIN", "") == "1"


@dataclass
class AppContext:
    """What tab builders share: the training manager, the visitor's token, the tabs, the admin switch."""

    trainer: TrainingManager
    token: gr.BrowserState
    tabs: gr.Tabs
    admin: bool


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show a KdemoError's message (or a short note for a bug) in the page, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KdemoError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except gr.Error:
            raise
        except Exception:
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error("Something went wrong on the server; the log has the details.", print_exception=False) from None

    return wrapper


def valid_token(token: Any) -> str:
    """The visitor's browser token, or '' when it is missing or malformed (never trusted beyond its format)."""
    return token if isinstance(token, str) and _TOKEN.match(token) else ""


def ensure_token(token: Any) -> str:
    """The browser's token, made on its first visit (kept in localStorage, so it survives reloads)."""
    return valid_token(token) or secrets.token_urlsafe(32)
