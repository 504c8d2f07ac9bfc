"""Takes jobs from Redis and writes their results back (the word, upper-cased)."""

import os

import redis

r = redis.Redis.from_url(os.environ["REDIS_URL"])
print("worker ready", flush=True)
while True:
    _, item = r.blpop("jobs")
    job, word = item.decode().split(" ", 1)
    r.set(f"result:{job}", word.upper())
    print(f"did job {job}", flush=True)
