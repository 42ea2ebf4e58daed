from django.conf import settings


def roster(request):
    return {
        "ROSTER_VERSION": settings.ROSTER_VERSION,
        "SIGNUP_ENABLED": settings.ROSTER_SIGNUP_ENABLED,
    }
