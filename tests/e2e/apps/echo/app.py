import os

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return jsonify(
        headers=dict(request.headers),
        dyno=os.environ.get("DYNO"),
        port=os.environ.get("PORT"),
        home=os.environ.get("HOME"),
        cwd=os.getcwd(),
        web_concurrency=os.environ.get("WEB_CONCURRENCY"),
    )
