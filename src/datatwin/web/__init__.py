"""The local web app: ``datatwin serve`` (FastAPI + Jinja2 + vendored htmx, jobs run by a worker process).

Needs the ``web`` extra: ``pip install 'datatwin[web]'``. See docs/web.md for the design.
"""

from ._app import create_app
from ._config import Settings
from ._serve import serve

__all__ = ["Settings", "create_app", "serve"]
