"""Answers with what app.json gave this dyno's environment (a secret's length only)."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(
            {
                "greeting": os.environ.get("GREETING"),
                "api_token": os.environ.get("API_TOKEN"),
                "secret_key_length": len(os.environ.get("SECRET_KEY", "")),
                "database_url_scheme": os.environ.get("DATABASE_URL", "").split(":", 1)[0],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
