from django.apps import AppConfig


class SwiftWSGIConfig(AppConfig):
    name = 'django_swiftwsgi'
    verbose_name = 'mod_swiftwsgi'
