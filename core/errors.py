"""Errors raised by services; each face (API, portal, admin) turns them into its own response."""


class ServiceError(Exception):
    """A refused write or read, with the SPEC's stable code.

    `field` names the model/serializer field at fault (snake_case); the API turns it into
    a JSON:API `source.pointer`.
    """

    status = 400
    code = "invalid"

    def __init__(self, detail, *, code=None, field=None, status=None):
        super().__init__(detail)
        self.detail = str(detail)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Unauthorized(ServiceError):
    status = 401
    code = "invalid_credentials"


class TooManyAttempts(ServiceError):
    status = 429
    code = "too_many_attempts"


# The challenge every 401 carries (SPEC §2).
WWW_AUTHENTICATE = 'Bearer realm="api"'
