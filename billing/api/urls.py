from django.urls import re_path

from billing.api import events, views
from jsonapi.query import ID_PATTERN
from jsonapi.routers import Router

router = Router()
router.register("product-types", views.ProductTypeViewSet, basename="producttype")
router.register("products", views.ProductViewSet, basename="product")
router.register("charges", views.ChargeViewSet, basename="charge")
router.register("merchants", views.MerchantViewSet, basename="merchant")
router.register("assets", views.AssetViewSet, basename="asset")
router.register("event-streams", events.EventStreamViewSet, basename="eventstream")

urlpatterns = [
    re_path(rf"^assets/(?P<pk>{ID_PATTERN})/secret/$", views.AssetSecretView.as_view(), name="asset-secret"),
    re_path(rf"^event-streams/(?P<pk>{ID_PATTERN})/events/$", events.EventListView.as_view(),
            name="eventstream-events"),
    re_path(rf"^event-streams/(?P<pk>{ID_PATTERN})/sse/$", events.EventStreamSSEView.as_view(),
            name="eventstream-sse"),
    *router.urls,
]
