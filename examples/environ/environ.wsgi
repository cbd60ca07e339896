# Dumps what a WSGI application sees under Apache: the request environ, the body length,
# the Python running it, the mod_wsgi/apache modules of its interpreter, and the process and
# thread serving it. HTML by default; `?format=text` gives plain text.

import html
import os
import sys
import threading
from urllib.parse import parse_qs


def _module_attributes(name):
    """Public attributes of an importable module, or None if it does not exist."""
    try:
        module = __import__(name)
    except ImportError:
        return None
    attributes = {}
    for attr in sorted(dir(module)):
        if attr.startswith('_'):
            continue
        value = getattr(module, attr)
        attributes[attr] = '<callable>' if callable(value) else repr(value)
    return attributes


def _input_length(environ):
    """Reads wsgi.input to the end in chunks and returns the number of bytes."""
    stream = environ['wsgi.input']
    total = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return total
        total += len(chunk)


def _sections(environ):
    try:
        import pwd
        user = pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        user = str(os.getuid())
    mod_wsgi = _module_attributes('mod_wsgi')
    interpreter = ('(mod_wsgi module not importable)' if mod_wsgi is None
                   else mod_wsgi.get('application_group', '?'))
    yield 'Request', {
        'wsgi.input length': repr(_input_length(environ)),
        'interpreter (mod_wsgi.application_group)':
            interpreter + ("  ('' is the main interpreter, %{GLOBAL})"
                           if interpreter == "''" else ''),
    }
    yield 'Process', {
        'pid': repr(os.getpid()),
        'parent pid': repr(os.getppid()),
        'user': user,
        'thread': threading.current_thread().name,
        'thread id': repr(threading.get_ident()),
        'cwd': os.getcwd(),
    }
    yield 'Python', {
        'sys.version': sys.version,
        'sys.prefix': sys.prefix,
        'sys.base_prefix': sys.base_prefix,
        'sys.executable': repr(sys.executable),
        'sys.path': '\n'.join(sys.path),
    }
    yield 'environ', {key: repr(environ[key]) for key in sorted(environ)}
    yield 'mod_wsgi module', mod_wsgi if mod_wsgi is not None else {'': 'not importable'}
    apache = _module_attributes('apache')
    yield 'apache module', apache if apache is not None else {'': 'not importable'}


def _render_text(sections):
    lines = []
    for title, rows in sections:
        lines.append('== %s ==' % title)
        for key, value in rows.items():
            lines.append('%s: %s' % (key, value.replace('\n', '\n    ')))
        lines.append('')
    return '\n'.join(lines)


def _render_html(sections, script_name):
    out = ['<!DOCTYPE html>', '<html><head><meta charset="utf-8">',
           '<title>WSGI environ</title>',
           '<style>body{font-family:sans-serif} td,th{text-align:left;vertical-align:top;'
           'padding:2px 8px;border-bottom:1px solid #ddd} td{font-family:monospace;'
           'white-space:pre-wrap;word-break:break-all}</style></head><body>',
           '<h1>WSGI environ</h1>',
           '<form method="post" action="%s"><input name="text" value="some body">'
           ' <button>POST it</button> (shows the wsgi.input length)'
           ' · <a href="?format=text">as text</a></form>'
           % html.escape(script_name, quote=True)]
    for title, rows in sections:
        out.append('<h2>%s</h2><table>' % html.escape(title))
        for key, value in rows.items():
            out.append('<tr><th>%s</th><td>%s</td></tr>'
                       % (html.escape(key), html.escape(value)))
        out.append('</table>')
    out.append('</body></html>')
    return '\n'.join(out)


def application(environ, start_response):
    sections = list(_sections(environ))
    query = parse_qs(environ.get('QUERY_STRING', ''))
    if query.get('format') == ['text']:
        body = _render_text(sections).encode('utf-8', 'backslashreplace')
        content_type = 'text/plain; charset=utf-8'
    else:
        body = _render_html(sections, environ.get('SCRIPT_NAME', '')).encode(
            'utf-8', 'backslashreplace')
        content_type = 'text/html; charset=utf-8'
    start_response('200 OK', [('Content-Type', content_type),
                              ('Content-Length', str(len(body))),
                              ('Cache-Control', 'no-store')])
    return [body]
