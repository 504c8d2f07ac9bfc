"""Notes in Postgres (Flask-SQLAlchemy, migrated by the release phase) and jobs that a
worker takes from Redis."""

import os
import uuid

import redis
from flask import Flask, request
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
# Heroku gives postgres://; SQLAlchemy 1.4+ wants postgresql:// (Heroku's documented fix).
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"].replace(
    "postgres://", "postgresql://", 1
)
db = SQLAlchemy(app)
migrate = Migrate(app, db)


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    text = db.Column(db.String(200), nullable=False)


@app.post("/notes")
def add_note():
    db.session.add(Note(text=request.form["text"]))
    db.session.commit()
    return "saved\n", 201


@app.get("/notes")
def list_notes():
    return "\n".join(n.text for n in Note.query.order_by(Note.id)) + "\n"


def queue():
    return redis.Redis.from_url(os.environ["REDIS_URL"])


@app.post("/jobs")
def add_job():
    job = str(uuid.uuid4())
    queue().rpush("jobs", f"{job} {request.form['word']}")
    return job


@app.get("/jobs/<job>")
def job_result(job):
    result = queue().get(f"result:{job}")
    return (result.decode(), 200) if result else ("pending", 202)
