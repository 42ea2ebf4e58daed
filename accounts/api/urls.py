from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from accounts.api import views
from config.api import ID_PATTERN

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="user")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("roles", views.RoleViewSet, basename="role")
router.register("contacts", views.ContactViewSet, basename="contact")

urlpatterns = [
    path("users/me/avatar/", views.AvatarView.as_view(), name="user-me-avatar"),
    path("users/me/permissions/", views.PermissionSetView.as_view(), name="user-me-permissions"),
    re_path(rf"^users/(?P<pk>{ID_PATTERN})/avatar/$", views.AvatarView.as_view(), name="user-avatar"),
    *router.urls,
]
