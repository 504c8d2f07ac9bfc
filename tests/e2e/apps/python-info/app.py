"""Says which Python runs it. Imports pkg_resources at start, as older gunicorn and Flask
extensions do: it crashes where the environment has no setuptools with pkg_resources."""

import json
import os
import platform
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import pkg_resources

SETUPTOOLS = pkg_resources.get_distribution("setuptools").version


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(
            {
                "version": platform.python_version(),
                "base_prefix": sys.base_prefix,
                "setuptools": SETUPTOOLS,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
