"""Cove's static-site server: serves a built site as heroku-buildpack-static's static.json
describes it. Standard library only (Python 3.9+): it runs on the stack's interpreter in a
dyno that has no Python of its own."""
