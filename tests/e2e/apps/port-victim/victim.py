"""A web app whose $PORT someone else may take first (standard library only). With
GATE_PORT set, it first tells the test's gate which port it was given and binds it only
once the gate lets it go; if the port is taken by then, it fails to boot (EADDRINUSE)."""

import os
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT = int(os.environ["PORT"])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"victim"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    gate = os.environ.get("GATE_PORT")
    if gate:
        with socket.create_connection(("127.0.0.1", int(gate))) as conn:
            conn.sendall(f"{PORT}\n".encode())
            conn.recv(16)
    print(f"binding port {PORT}", flush=True)
    HTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
