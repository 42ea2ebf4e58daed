from jsonapi.routers import Router
from memberships.api import views

router = Router()
router.register("utilities", views.UtilityViewSet, basename="utility")
router.register("memberships", views.MembershipViewSet, basename="membership")

urlpatterns = router.urls
