from rest_framework.routers import SimpleRouter

from memberships.api import views

router = SimpleRouter()
router.register("account-memberships", views.AccountMembershipViewSet, basename="accountmembership")

urlpatterns = router.urls
