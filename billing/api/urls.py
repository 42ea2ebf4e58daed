from django.urls import re_path

from billing.api import events, views
from jsonapi.routers import Router

router = Router()
router.register("product-types", views.ProductTypeViewSet, basename="producttype")
router.register("products", views.ProductViewSet, basename="product")
router.register("charges", views.ChargeViewSet, basename="charge")
router.register("merchants", views.MerchantViewSet, basename="merchant")
router.register("event-streams", events.EventStreamViewSet, basename="eventstream")

urlpatterns = [
    re_path(r"^event-streams/(?P<pk>[0-9]{1,18})/events/$", events.EventListView.as_view(),
            name="eventstream-events"),
    re_path(r"^event-streams/(?P<pk>[0-9]{1,18})/sse/$", events.EventStreamSSEView.as_view(), name="eventstream-sse"),
    *router.urls,
]
