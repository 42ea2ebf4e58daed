"""django-axes' middleware, run on its synchronous path only.

Under ASGI, axes 8.3.1's async path calls `get_lockout_response(request, credentials)`,
passing the credentials dict where the original response belongs; our lockout callable
(accounts.views.lockout_response) keeps the API's own answer, so the dict became the
response and the sign-in that reached the limit was a 500. Marked sync-only, Django runs it
the same way under WSGI and ASGI (the sync path passes the response), which costs nothing
extra: the views it wraps are synchronous anyway.
"""

from axes.middleware import AxesMiddleware as _AxesMiddleware


class AxesMiddleware(_AxesMiddleware):
    # Django then hands it a synchronous get_response, so it never marks itself a coroutine
    sync_capable = True
    async_capable = False
