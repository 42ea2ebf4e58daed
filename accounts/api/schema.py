"""How the OpenAPI document (jsonapi.schema) describes accounts' authentication classes.

Imported by `AccountsConfig.ready()`, so the schemes are known whatever is generated.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `POST /api/v1/sessions/`, sent as `Authorization: Bearer <token>`.",
        }


class SessionCookieScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The portal's session cookie; unsafe methods also need the CSRF token "
                           f"(`X-CSRFToken` header, from the `{settings.CSRF_COOKIE_NAME}` cookie).",
        }
