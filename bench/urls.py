from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench import views
from config.urls import urlpatterns as roster_patterns

urlpatterns = [
    path("ceiling/memberships/", views.memberships),
    path("ceiling/accounts/", views.accounts),
    path("ceiling/accounts/<int:pk>/auditlog/", views.auditlog),
    path("ceiling/memberships/<int:pk>/", csrf_exempt(views.membership_patch)),
    path("ceiling/memberships/post/", csrf_exempt(views.membership_post)),
    path("ceiling/charges/", views.charges),
    path("ceiling/charges/post/", csrf_exempt(views.charge_post)),
    path("ceiling/products/", views.products),
    path("ceiling/event-streams/<int:pk>/events/", views.events),
    path("ceiling/event-streams/<int:pk>/deep-cursor/", views.events_deep_cursor),
    *roster_patterns,
]
