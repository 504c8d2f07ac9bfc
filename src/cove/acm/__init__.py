"""Automated Certificate Management (`certs:auto`): an ACME client that gets and renews
certificates for the custom domains of apps with ACM on (see docs/api.md)."""
