"""The portal's utility pages (SPEC §4), included at the site's root."""

from django.urls import path

from memberships import views

urlpatterns = [
    path("utilities/<int:pk>/", views.UtilityDetailView.as_view(), name="utility_detail"),
    path("utilities/<int:pk>/delete/", views.UtilityDeleteView.as_view(), name="utility_delete"),
    path("utilities/<int:pk>/invitations/<int:invitation_pk>/revoke/", views.UtilityInvitationRevokeView.as_view(),
         name="utility_invitation_revoke"),
    path("utilities/<int:pk>/memberships/add/", views.MembershipAddView.as_view(), name="membership_add"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/subscriber/", views.MembershipSubscriberView.as_view(),
         name="membership_subscriber"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/role/", views.MembershipRoleView.as_view(),
         name="membership_role"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/remove/", views.MembershipRemoveView.as_view(),
         name="membership_remove"),
]
