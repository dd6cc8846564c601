"""The data-rights backend's machine API, the one the bot calls with the shared bearer token.

`POST api/requests` files a request once per Idempotency-Key (the same key and body again gets
the same answer and no new case; the same key with another body is a 409); `GET
api/requests/{reference}` tells the case's public status. Bad input is a 4xx with
`{"error": ...}` saying what to fix; nothing personal is logged. A request with an e-mail address
gets its receipt from the follow-through job (`followup.py`), woken here.
"""
from __future__ import annotations

import logging

from aiohttp import web

from backends.httpkit import BadBody, bearer_ok, json_error, parse_json, read_capped

from . import cases
from .config import CONFIG_KEY, MAX_BODY_BYTES, STORE_KEY
from .followup import WAKE_KEY
from .store import IdempotencyConflict
from .validation import REFERENCE_RE, RequestError, valid_idempotency_key, validate_request

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _denied(request: web.Request) -> web.Response | None:
    """Return a 401 answer unless the request carries the shared backend token."""
    if bearer_ok(request, request.app[CONFIG_KEY].token):
        return None
    return json_error(401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="dsr"'})


async def _request_fields(request: web.Request) -> dict:
    """Return the validated fields of a filed request; RequestError says what is wrong."""
    try:
        body = parse_json(await read_capped(request, MAX_BODY_BYTES))
    except BadBody as exc:
        raise RequestError(exc.message, exc.status) from None
    return validate_request(body)


@routes.post("/api/requests", name="api_requests")
async def post_request(request: web.Request) -> web.Response:
    """File a data-subject request once per Idempotency-Key and answer its reference."""
    denied = _denied(request)
    if denied:
        return denied
    key = request.headers.get("Idempotency-Key")
    if not valid_idempotency_key(key):
        return json_error(400, "an Idempotency-Key header of 1-128 visible ASCII characters is required")
    try:
        fields = await _request_fields(request)
    except RequestError as exc:
        return json_error(exc.status, exc.message)
    config = request.app[CONFIG_KEY]
    receipt = config.mailer is not None and fields["requester"]["email"] is not None
    try:
        response, created = await request.app[STORE_KEY].create_case(
            key, cases.canonical_hash(fields),
            lambda data: cases.new_case(fields, data["cases"], cases.local_now(config.clock),
                                        receipt=receipt))
    except IdempotencyConflict:
        return json_error(409, "this Idempotency-Key was already used with a different request")
    if created:
        log.info("dsr case created reference=%s right=%s channel=%s",
                 response["reference"], fields["right"], fields["channel"])
        if receipt:
            request.app[WAKE_KEY].set()  # the follow-through job sends the receipt now
        return web.json_response(response, status=201)
    log.info("dsr idempotent replay reference=%s", response["reference"])
    return web.json_response(response, status=200, headers={"Idempotent-Replayed": "true"})


@routes.get("/api/requests/{reference}", name="api_request")
async def get_request(request: web.Request) -> web.Response:
    """Tell the bot a case's public status, so it can answer "what happened to my request?"."""
    denied = _denied(request)
    if denied:
        return denied
    reference = request.match_info["reference"]
    case = None
    if REFERENCE_RE.match(reference):
        case = await request.app[STORE_KEY].get_case(reference)
    if case is None:
        return json_error(404, "no case with that reference")
    return web.json_response(cases.public_case(case))


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    """Answer liveness checks."""
    return web.json_response({"status": "ok"})
