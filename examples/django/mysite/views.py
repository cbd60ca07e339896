import sys

from django.http import JsonResponse
from django.shortcuts import render


def index(request):
    return render(request, 'index.html', {'python': sys.version.split()[0]})


def info(request):
    """What the server gave this request: mod_swiftwsgi's environ keys."""
    keys = ('mod_wsgi.process_group', 'mod_wsgi.application_group', 'wsgi.multithread', 'wsgi.url_scheme',
            'SCRIPT_NAME', 'PATH_INFO')
    return JsonResponse({k: request.META.get(k) for k in keys} | {'prefix': sys.prefix})
