from config.middleware import jsonapi_error_response


def lockout_response(request, original_response=None, credentials=None):
    return original_response
