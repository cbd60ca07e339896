"""A small Flask application, served by Apache through flask.wsgi (or wsgi.py with swiftwsgi-express)."""

import platform
import sys
from importlib.metadata import version

from flask import Flask, jsonify, render_template_string, request

app = Flask(__name__)

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Flask under Apache</title></head>
<body>
<h1>Hello from Flask {{ flask_version }}</h1>
<p>Python {{ python_version }}, application group {{ group|tojson }},
served at <code>{{ request.script_root }}</code>.</p>
<form method="post" action="{{ url_for('echo') }}">
  <input name="message" value="{{ message }}"> <button>echo</button>
</form>
<p><a href="{{ url_for('info') }}">info as JSON</a></p>
</body></html>
"""


def _application_group():
    return request.environ.get('mod_wsgi.application_group')


@app.route('/')
def index():
    return render_template_string(
        PAGE, flask_version=version('flask'),
        python_version=platform.python_version(), group=_application_group(),
        message='Hello')


@app.route('/echo', methods=['POST'])
def echo():
    message = request.form.get('message', '')
    return jsonify(message=message, length=len(message))


@app.route('/info')
def info():
    return jsonify(
        flask=version('flask'),
        werkzeug=version('werkzeug'),
        python=sys.version,
        prefix=sys.prefix,
        application_group=_application_group(),
        process_group=request.environ.get('mod_wsgi.process_group'),
        script_name=request.environ.get('SCRIPT_NAME'),
        path_info=request.environ.get('PATH_INFO'),
        multithread=request.environ.get('wsgi.multithread'),
        multiprocess=request.environ.get('wsgi.multiprocess'),
        server_software=request.environ.get('SERVER_SOFTWARE'),
    )
