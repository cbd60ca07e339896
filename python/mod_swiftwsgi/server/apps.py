from django.apps import AppConfig


class SwiftWSGIConfig(AppConfig):
    name = 'mod_swiftwsgi.server'
    label = 'mod_swiftwsgi'
    verbose_name = 'mod_swiftwsgi'
