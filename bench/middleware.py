from django.db import connection


class QueryCountMiddleware:
    """Report the SQL queries a request ran in `X-Query-Count` (the benchmark reads it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        count = [0]

        def counter(execute, sql, params, many, context):
            count[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            response = self.get_response(request)
        response["X-Query-Count"] = str(count[0])
        return response
