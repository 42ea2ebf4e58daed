from rest_framework.routers import SimpleRouter

from memberships.api import views

router = SimpleRouter()
router.register("utilities", views.UtilityViewSet, basename="utility")
router.register("memberships", views.MembershipViewSet, basename="membership")

urlpatterns = router.urls
