"""Helpers for the portal's view tests."""


def post_back(client, url, data=None, **extra):
    """POST a form that does not validate: the answer is a redirect to its page (Post/Redirect/
    Get, so a reload resubmits nothing), and that page shows the form with its errors."""
    response = client.post(url, data or {}, **extra)
    assert response.status_code == 302, (response.status_code, url)
    page = client.get(response["Location"])
    page.redirected_from = response
    return page
