"""gunicorn's settings, read when it is started from the repository root (`gunicorn -b ADDR -w N`).

The application is the WSGI entry point; the worker class is gunicorn's default (sync).
"""

wsgi_app = "config.wsgi:application"
