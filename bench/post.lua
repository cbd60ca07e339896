-- wrk script: a small form POST, as the RSS benchmark's application reads wsgi.input.
wrk.method = "POST"
wrk.body   = "name=value&other=some+more+data&x=1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
