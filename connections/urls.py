"""The connection pages. These paths are stable: tools and tests rely on them."""

from django.urls import path

from connections import views

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/", views.connection_create, name="create"),
    path("<int:pk>/", views.connection_detail, name="detail"),
    path("<int:pk>/data/", views.connection_data, name="data"),
    path("<int:pk>/data/download/", views.connection_data_download, name="data_download"),
    path("<int:pk>/edit/", views.connection_edit, name="edit"),
    path("<int:pk>/delete/", views.connection_delete, name="delete"),
    path("test/", views.connection_test_values, name="test"),
    path("<int:pk>/test/", views.connection_test_saved, name="test_saved"),
]
