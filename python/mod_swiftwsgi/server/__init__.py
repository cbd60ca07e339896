"""The Django application of mod_swiftwsgi (``INSTALLED_APPS += ['mod_swiftwsgi.server']``):
``manage.py runswiftwsgi``. The wheel also keeps the module, its host library and
swiftwsgi-express in this directory, as mod_wsgi keeps its module in ``mod_wsgi/server``."""
