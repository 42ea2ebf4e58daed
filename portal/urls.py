"""The dashboard and the pages that span apps (an account's members and utilities), at the site's root."""

from django.urls import path

from portal import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("accounts/", views.SiteAccountsView.as_view(), name="site_accounts"),
    path("utilities/<int:pk>/history/", views.UtilityHistoryView.as_view(), name="utility_history"),
    path("accounts/new/", views.AccountCreateView.as_view(), name="account_create"),
    path("accounts/activate/", views.ActivateView.as_view(), name="account_activate"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<int:pk>/delete/", views.AccountDeleteView.as_view(), name="account_delete"),
    path("accounts/<int:pk>/history/", views.AccountHistoryView.as_view(), name="account_history"),
    path("accounts/<int:pk>/invitations/<int:invitation_pk>/revoke/", views.AccountInvitationRevokeView.as_view(),
         name="account_invitation_revoke"),
    path("invitations/<int:pk>/accept/", views.InvitationAnswerView.as_view(answer="accept"),
         name="invitation_accept"),
    path("invitations/<int:pk>/decline/", views.InvitationAnswerView.as_view(answer="decline"),
         name="invitation_decline"),
    path("accounts/<int:pk>/members/add/", views.AccountMemberAddView.as_view(), name="account_member_add"),
    path("accounts/<int:pk>/members/<int:membership_pk>/role/", views.AccountMemberRoleView.as_view(),
         name="account_member_role"),
    path("accounts/<int:pk>/members/<int:membership_pk>/remove/", views.AccountMemberRemoveView.as_view(),
         name="account_member_remove"),
    path("accounts/<int:pk>/utilities/add/", views.AccountUtilityCreateView.as_view(),
         name="account_utility_create"),
    path("accounts/<int:pk>/activation-code/refresh/", views.ActivationCodeRefreshView.as_view(),
         name="account_activation_code_refresh"),
    path("utilities/personal/", views.PersonalUtilityCreateView.as_view(), name="personal_utility_create"),
]
