"""The portal's account pages (SPEC §4); the addresses of sign-in, reset, sign-up and dashboard are fixed."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignupView.as_view(), name="signup"),
    path("verify-email/<str:token>/", views.EmailVerifyView.as_view(), name="email_verify"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password-reset/complete/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("profile/email/", views.EmailChangeView.as_view(), name="email_change"),
    path("profile/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("profile/avatar/", views.AvatarUploadView.as_view(), name="avatar_upload"),
    path("profile/avatar/reset/", views.AvatarResetView.as_view(), name="avatar_reset"),
    path("profile/contacts/add/", views.ContactAddView.as_view(), name="contact_add"),
    path("profile/contacts/<int:pk>/remove/", views.ContactRemoveView.as_view(), name="contact_remove"),
    path("profile/sessions/<int:pk>/revoke/", views.SessionRevokeView.as_view(), name="session_revoke"),
    path("profile/browsers/<int:pk>/revoke/", views.BrowserSessionRevokeView.as_view(), name="browser_session_revoke"),
    path("profile/sign-out-everywhere/", views.SignOutEverywhereView.as_view(), name="sign_out_everywhere"),
]
