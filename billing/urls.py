"""The portal's billing pages of a utility (SPEC §4), included at the site's root."""

from django.urls import path

from billing import views

urlpatterns = [
    path("utilities/<int:pk>/products/", views.ProductListView.as_view(), name="product_list"),
    path("utilities/<int:pk>/products/add/", views.ProductCreateView.as_view(), name="product_create"),
    path("utilities/<int:pk>/products/<int:product_pk>/edit/", views.ProductEditView.as_view(), name="product_edit"),
    path("utilities/<int:pk>/products/<int:product_pk>/delete/", views.ProductDeleteView.as_view(),
         name="product_delete"),
    path("utilities/<int:pk>/charges/", views.ChargeListView.as_view(), name="charge_list"),
]
