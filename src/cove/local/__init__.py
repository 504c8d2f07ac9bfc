"""`cove local`: run an app's Procfile on this machine, as `heroku local` does, without a
server, a sandbox or Linux-only APIs (plain POSIX process groups)."""
