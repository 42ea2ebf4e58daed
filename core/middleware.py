"""Guards that act before anything reads a request body, and the browser sessions' time limits."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse


class BodySizeLimitMiddleware:
    """Request bodies above ROSTER_MAX_BODY_SIZE are refused (413) on every path, portal forms
    and uploads included, by their Content-Length, before a byte of them is read; a chunked
    body with no length is a 411. Paths under /api/ are left to the API's guard, which
    applies the same limit and answers with a JSON:API error document."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _plain(400, "Content-Length is not a number.")
            if length > settings.ROSTER_MAX_BODY_SIZE:
                limit = settings.ROSTER_MAX_BODY_SIZE // (1024 * 1024)
                return _plain(413, f"The request is {length} bytes; at most {limit} MiB are accepted.")
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not length:
                return _plain(411, "Send the body with a Content-Length.")
        return self.get_response(request)


def _plain(status, text):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class BrowserIdleTimeoutMiddleware:
    """A signed-in browser (portal or admin: a cookie session) is signed out after
    ROSTER_BROWSER_IDLE_TTL without a request, and after ROSTER_BROWSER_ABSOLUTE_TTL in any
    case, like bearer sessions (SPEC §2's idle and absolute limits). Its last activity is
    written at most every ROSTER_SESSION_TOUCH_INTERVAL, so most requests write nothing;
    each write also moves the cookie's own expiry. API requests authenticated by a bearer
    token carry no cookie session and are not touched."""

    LAST_SEEN = "roster_last_seen"
    SIGNED_IN = "roster_signed_in"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        if session is not None and session.get("_auth_user_id"):
            now = time.time()
            signed_in = session.setdefault(self.SIGNED_IN, now)
            last_seen = session.get(self.LAST_SEEN, signed_in)
            idle = settings.ROSTER_BROWSER_IDLE_TTL.total_seconds()
            absolute = settings.ROSTER_BROWSER_ABSOLUTE_TTL.total_seconds()
            if now - last_seen > idle or now - signed_in > absolute:


                logout(request)
                request.session[EXPIRED_FLAG] = True
            elif now - last_seen > settings.ROSTER_SESSION_TOUCH_INTERVAL.total_seconds() or \
                    self.LAST_SEEN not in session:
                session[self.LAST_SEEN] = now
        return self.get_response(request)


#: set in a session the idle limit ended, so the sign-in page can say why
EXPIRED_FLAG = "roster_signed_out_idle"
