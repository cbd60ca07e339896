# The smallest WSGI application (PEP 3333).
#
# A WSGI body is an iterable of *bytes*. Returning str items (['Hello World!']) is a
# common mistake copied from Python 2 era examples: mod_wsgi and mod_swiftwsgi both answer
# it with a 500 and a TypeError in the error log.

def application(environ, start_response):
    body = b'Hello World!\n'
    start_response('200 OK', [
        ('Content-Type', 'text/plain; charset=utf-8'),
        ('Content-Length', str(len(body))),
    ])
    return [body]
