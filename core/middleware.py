"""Guards that act before anything reads a request body, and the browser sessions' time limits."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth import middleware as _auth
from django.contrib.messages import middleware as _messages
from django.contrib.sessions import middleware as _sessions
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

    @classmethod
    def signed_in(cls, sender, request, user, **kwargs):
        """`user_logged_in` receiver (connected in accounts.apps): the clocks start with the
        sign-in's own session write, so the first request after it writes nothing."""
        session = getattr(request, "session", None)
        if session is not None:
            session[cls.SIGNED_IN] = session[cls.LAST_SEEN] = time.time()

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


# --------------------------------------------------------------------------- browser-only middleware
#
# Sessions, the cookie-based `request.user` and flash messages serve the portal and the
# admin, i.e. browsers. A request to /api/ that carries a bearer token is authenticated by the
# token alone (accounts.authentication.BearerTokenAuthentication answers it or refuses it with a
# 401; DRF then never asks the cookie authentication), DRF's views are CSRF-exempt, and no API
# code reads `request.session` or adds messages. For those requests these middleware are
# skipped (their per-request work is in every API call otherwise); `request.user` starts
# anonymous, as it does for a client without a session cookie, until DRF sets the token's user.
# Axes stays: it does nothing per request but render a lockout (a getattr), and it is the
# sign-in endpoint's guard. Django's CSRF middleware stays too: `check --deploy` wants that
# very class (security.W003), and for CSRF-exempt views (all of DRF's) it only reads a cookie.


def bearer_api_request(request) -> bool:
    return (request.path_info.startswith("/api/")
            and request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ")


class _BrowserOnly:
    def __call__(self, request):
        if bearer_api_request(request):
            self.skipped(request)
            return self.get_response(request)  # a coroutine under ASGI: the handler awaits it
        return super().__call__(request)

    def skipped(self, request):
        pass


class SessionMiddleware(_BrowserOnly, _sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, _auth.AuthenticationMiddleware):
    def skipped(self, request):
        from django.contrib.auth.models import AnonymousUser

        async def auser():
            return request.user

        request.user = AnonymousUser()
        request.auser = auser


class MessageMiddleware(_BrowserOnly, _messages.MessageMiddleware):
    pass
