"""The portal's account and utility pages (SPEC §4), included at the site's root."""

from django.urls import path

from accounts import portal_accounts as accounts
from memberships import views

urlpatterns = [
    path("accounts/new/", accounts.AccountCreateView.as_view(), name="account_create"),
    path("accounts/activate/", accounts.ActivateView.as_view(), name="account_activate"),
    path("accounts/<int:pk>/", accounts.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<int:pk>/delete/", accounts.AccountDeleteView.as_view(), name="account_delete"),
    path("accounts/<int:pk>/history/", accounts.AccountHistoryView.as_view(), name="account_history"),
    path("accounts/<int:pk>/members/add/", accounts.AccountMemberAddView.as_view(), name="account_member_add"),
    path("accounts/<int:pk>/members/<int:membership_pk>/role/", accounts.AccountMemberRoleView.as_view(),
         name="account_member_role"),
    path("accounts/<int:pk>/members/<int:membership_pk>/remove/", accounts.AccountMemberRemoveView.as_view(),
         name="account_member_remove"),
    path("accounts/<int:pk>/utilities/add/", accounts.AccountUtilityCreateView.as_view(),
         name="account_utility_create"),
    path("accounts/<int:pk>/activation-code/refresh/", accounts.ActivationCodeRefreshView.as_view(),
         name="account_activation_code_refresh"),
    path("utilities/personal/", views.PersonalUtilityCreateView.as_view(), name="personal_utility_create"),
    path("utilities/<int:pk>/", views.UtilityDetailView.as_view(), name="utility_detail"),
    path("utilities/<int:pk>/delete/", views.UtilityDeleteView.as_view(), name="utility_delete"),
    path("utilities/<int:pk>/memberships/add/", views.MembershipAddView.as_view(), name="membership_add"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/subscriber/", views.MembershipSubscriberView.as_view(),
         name="membership_subscriber"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/role/", views.MembershipRoleView.as_view(),
         name="membership_role"),
    path("utilities/<int:pk>/memberships/<int:membership_pk>/remove/", views.MembershipRemoveView.as_view(),
         name="membership_remove"),
]
