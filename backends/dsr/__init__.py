"""The reference data-rights (DSR) backend: GDPR requests, statutory deadlines and a staff view.

It stands in for a municipality's case-handling system: the bot files requests over HTTP
(`POST api/requests`) and staff handle them in plain HTML pages. See `app.create_app`.
"""
