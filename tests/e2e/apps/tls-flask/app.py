"""What an app behind Cove's router sees of HTTPS: the forwarded headers, Flask's view
through ProxyFix, and its database over SSL."""

import os

import psycopg
from flask import Flask, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__)
# As Heroku's docs say for Flask: one proxy in front (the router).
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_port=1)


@app.route("/")
def index():
    return jsonify(
        headers=dict(request.headers),
        scheme=request.scheme,
        url=request.url,
        remote_addr=request.remote_addr,
    )


@app.route("/db")
def db():
    # As apps on Heroku Postgres connect: SSL required.
    with psycopg.connect(os.environ["DATABASE_URL"], sslmode="require") as conn:
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    return jsonify(ssl=row[0], version=row[1])
