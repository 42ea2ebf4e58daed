from django.urls import path, re_path

from accounts.api import views
from jsonapi.query import ID_PATTERN
from jsonapi.routers import Router

router = Router()
router.register("users", views.UserViewSet, basename="user")
router.register("sessions", views.SessionViewSet, basename="session")
router.register("roles", views.RoleViewSet, basename="role")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("account-memberships", views.AccountMembershipViewSet, basename="accountmembership")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("account-roles", views.AccountRoleViewSet, basename="accountrole")
router.register(rf"accounts/(?P<account_pk>{ID_PATTERN})/auditlog", views.AccountAuditLogViewSet,
                basename="account-auditlog")

urlpatterns = [
    path("users/me/avatar/", views.AvatarView.as_view(), name="user-me-avatar"),
    path("users/me/permissions/", views.PermissionSetView.as_view(), name="user-me-permissions"),
    # PUT and DELETE are served here too (403 unless it is the caller), documented on `me` only
    re_path(rf"^users/(?P<pk>{ID_PATTERN})/avatar/$", views.AvatarView.as_view(schema_methods=["get"]),
            name="user-avatar"),
    re_path(rf"^accounts/(?P<pk>{ID_PATTERN})/activation-code/$", views.ActivationCodeView.as_view(
        http_method_names=["get", "head", "options"]), name="account-activation-code"),
    re_path(rf"^accounts/(?P<pk>{ID_PATTERN})/activation-code/refresh/$", views.ActivationCodeView.as_view(
        http_method_names=["post", "options"]), name="account-activation-code-refresh"),
    path("activations/", views.ActivationView.as_view(), name="activations"),
    *router.urls,
]
