"""The gunicorn worker class gunicorn.conf.py names: uvicorn's, configured for Roster.

- `server_header: False`: no `Server: uvicorn` banner (issue 17: what runs here is nobody's
  business; a proxy in front may add its own).
- `http: "httptools"`: the parser named, not left to "auto" (h11 answers oversized requests
  with a plain-text 400 of its own, which no client of a JSON:API expects).
"""

from uvicorn_worker import UvicornWorker


class RosterUvicornWorker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "http": "httptools", "server_header": False}
