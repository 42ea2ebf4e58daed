from django.urls import re_path

from billing.api import views
from jsonapi.query import ID_PATTERN
from jsonapi.routers import Router

router = Router()
router.register("product-types", views.ProductTypeViewSet, basename="producttype")
router.register("products", views.ProductViewSet, basename="product")
router.register("charges", views.ChargeViewSet, basename="charge")
router.register("merchants", views.MerchantViewSet, basename="merchant")
router.register("assets", views.AssetViewSet, basename="asset")

urlpatterns = [
    re_path(rf"^assets/(?P<pk>{ID_PATTERN})/secret/$", views.AssetSecretView.as_view(), name="asset-secret"),
    *router.urls,
]
