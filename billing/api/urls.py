from billing.api import views
from jsonapi.routers import Router

router = Router()
router.register("product-types", views.ProductTypeViewSet, basename="producttype")
router.register("products", views.ProductViewSet, basename="product")
router.register("charges", views.ChargeViewSet, basename="charge")
router.register("merchants", views.MerchantViewSet, basename="merchant")

urlpatterns = router.urls
