"""runswiftwsgi: serve this Django project through Apache and mod_swiftwsgi.

Builds a `swiftwsgi-express start-server` command line from the project's settings, adds the
options it was given (the same as mod_wsgi's runmodwsgi: swiftwsgi-express takes
mod_wsgi-express's options), and replaces this process with it."""

import os
import shutil
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mod_swiftwsgi import express_executable
from mod_swiftwsgi.express import command_environment


def _url_path(url):
    """A settings URL as an absolute URL path without its trailing slash, or None when Apache
    cannot serve it (an absolute http(s) URL: the files live elsewhere)."""
    if not url or '://' in url or url.startswith('//'):
        return None
    path = '/' + url.lstrip('/')
    return path.rstrip('/') or '/'


def _given(arguments, option):
    return any(a == option or a.startswith(option + '=') for a in arguments)


class Command(BaseCommand):
    help = ('Serves this project through Apache and mod_swiftwsgi (swiftwsgi-express start-server). '
            'Takes every swiftwsgi-express start-server option, as runmodwsgi takes mod_wsgi-express\'s; '
            'see `swiftwsgi-express start-server --help`.')
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.allow_abbrev = False

        # Options that are not Django's own go to swiftwsgi-express unchanged.
        def parse_args(args=None, namespace=None):
            options, rest = parser.parse_known_args(args, namespace)
            options.express_arguments = rest
            return options
        parser.parse_args = parse_args
        return parser

    def express(self):
        """$SWIFTWSGI_EXPRESS, else the wheel's program, else swiftwsgi-express on PATH (the
        Debian package's or make install's)."""
        program = os.environ.get('SWIFTWSGI_EXPRESS') or express_executable() or shutil.which('swiftwsgi-express')
        if not program or not os.access(program, os.X_OK):
            raise CommandError('swiftwsgi-express not found: pip install mod-swiftwsgi, install the Debian package, '
                               'or name it in $SWIFTWSGI_EXPRESS')
        return program

    def command_line(self, arguments):
        wsgi_application = getattr(settings, 'WSGI_APPLICATION', None)
        if not wsgi_application or '.' not in wsgi_application:
            raise CommandError('settings.WSGI_APPLICATION must name the WSGI callable, e.g. mysite.wsgi.application')
        module, _, callable_object = wsgi_application.rpartition('.')
        command = [self.express(), 'start-server', '--application-type', 'module',
                   '--entry-point', module, '--callable-object', callable_object]

        if not _given(arguments, '--working-directory'):
            base = getattr(settings, 'BASE_DIR', None)
            if base is None:
                # The directory that holds the settings module's top-level package.
                top = sys.modules[os.environ['DJANGO_SETTINGS_MODULE'].split('.')[0]]
                base = os.path.dirname(os.path.dirname(os.path.abspath(top.__file__)))
            command += ['--working-directory', str(base)]

        middleware = getattr(settings, 'MIDDLEWARE', None) or []
        if 'whitenoise.middleware.WhiteNoiseMiddleware' not in middleware:
            for url, root in [(getattr(settings, 'STATIC_URL', None), getattr(settings, 'STATIC_ROOT', None)),
                              (getattr(settings, 'MEDIA_URL', None), getattr(settings, 'MEDIA_ROOT', None))]:
                path = _url_path(url)
                if path and path != '/' and root:
                    root = str(root)
                    os.makedirs(root, exist_ok=True)
                    command += ['--url-alias', path, root]

        # The running virtual environment is the application's Python.
        if sys.prefix != getattr(sys, 'base_prefix', sys.prefix) and not _given(arguments, '--python-home'):
            command += ['--python-home', sys.prefix]
        if os.environ.get('DJANGO_SETTINGS_MODULE'):
            command += ['--passenv', 'DJANGO_SETTINGS_MODULE']
        return command + list(arguments)

    def handle(self, *args, **options):
        command = self.command_line(options.get('express_arguments') or [])
        if options.get('verbosity', 1) > 1:
            self.stderr.write(' '.join(command))
        sys.stdout.flush()
        sys.stderr.flush()
        # swiftwsgi-express replaces this process, and Apache replaces swiftwsgi-express: Ctrl-C
        # and SIGTERM reach Apache.
        os.execve(command[0], command, command_environment())
