from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path('', views.index),
    path('info', views.info),
    path('admin/', admin.site.urls),
]
