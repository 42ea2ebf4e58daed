from django.contrib import admin
from django.urls import include, path, re_path

from jsonapi.schema import DocsView, SchemaView
from jsonapi.views import PingView, VersionView, api_not_found

api_patterns = [
    path("version/", VersionView.as_view(), name="version"),
    path("ping/", PingView.as_view(), name="ping"),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("", include("accounts.api.urls")),
    path("", include("memberships.api.urls")),
    path("", include("billing.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_patterns)),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("memberships.urls")),
    path("", include("billing.urls")),
    path("", include("portal.urls")),
]

handler400 = "jsonapi.views.bad_request"
handler403 = "jsonapi.views.permission_denied"
handler404 = "jsonapi.views.page_not_found"
handler500 = "jsonapi.views.server_error"
