"""The agent API's routes (`create_router`): conversations, agent replies, handoff / hand back.

Every route needs ``Authorization: Bearer <HS256 JWT>`` (see `tokens`). Agent replies take the
bot's own delivery path (`engine.delivery.deliver_replies`: history row with author
``agent:<id>``, MSG91 `Deliverer`, 24 h window -> template, exactly once per delivery key). An
agent reply to a conversation the bot still answers takes it over (handoff state ``human``), so
the bot does not talk over the agent; hand it back with ``POST .../handback``.

(No ``from __future__ import annotations`` here: FastAPI must see the dependency types that are
defined inside `create_router`.)
"""

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

import redis.asyncio as aioredis
from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from supportbot.agentapi.fields import BIGINT_MAX, StorableText, storable_text
from supportbot.agentapi.schemas import (
    AgentOut,
    ConversationDetailOut,
    ConversationOut,
    ConversationPageOut,
    CsatOut,
    ErrorBody,
    HandbackIn,
    HandoffIn,
    MessageOut,
    ReplyIn,
    ReplyOut,
    ReplyOutcomeOut,
)
from supportbot.agentapi.tokens import AgentClaims, TokenError, check_secret, verify_token
from supportbot.engine import control, metrics
from supportbot.engine.delivery import deliver_replies, recipient_of
from supportbot.messages import OutboundKind, OutboundMessage
from supportbot.provider.deliverer import Deliverer, ReplyOutcome, ReplyStatus
from supportbot.provider.interface import InvalidOutboundMessage, SendTransport
from supportbot.provider.sending import DeliveryDeferred
from supportbot.settings import BotSettings
from supportbot.storage import csat, queries
from supportbot.storage.db import Pool
from supportbot.storage.models import Conversation, HandoffState

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
RETRY_AFTER_SECONDS = 30

CustomerId = Annotated[
    str,
    Path(min_length=1, description="Conversation key: the BSUID, else the phone digits."),
    AfterValidator(storable_text),
]


def reply_message(body: ReplyIn, provider: SendTransport) -> OutboundMessage:
    """The agent's reply; media is checked against WhatsApp's limits (the tenant's provider's
    request builder) here (a 422), before any conversation state changes or a send is
    attempted."""
    if body.media is None:
        return OutboundMessage(kind=OutboundKind.TEXT, text=body.text or "")
    media = body.media
    message = OutboundMessage(
        kind=OutboundKind(media.kind),
        text=body.text or "",
        media_url=media.url,
        media_filename=media.filename,
        media_mime=media.mime,
        media_size=media.size,
    )
    try:
        provider.request_for("0", message)
    except InvalidOutboundMessage as exc:
        raise ApiError(422, "invalid_media", str(exc), field="body.media") from None
    return message


class ApiError(Exception):
    """An error answer: HTTP status, stable code, message (never secrets or personal data) and,
    for invalid input, the `field` at fault (``query.before_id``, ``body.text``...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.field = field


@dataclass
class AgentResources:
    settings: BotSettings
    pool: Pool
    redis: aioredis.Redis
    deliverer: Deliverer


_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing, invalid or expired bearer token"},
    422: {"model": ErrorBody, "description": "Invalid input; `field` names it"},
    503: {"model": ErrorBody, "description": "Not ready, or delivery deferred"},
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "No such conversation"}
}


def create_router(
    settings: BotSettings,
    resources: Callable[[], AgentResources | None],
    *,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The routes; `resources()` returns the open resources (None while starting/stopping).
    Errors are raised as `ApiError`: install `app.error_handlers` on the app serving them."""
    bearer = HTTPBearer(
        auto_error=False,
        scheme_name="AgentToken",
        description="HS256 JWT signed with the tenant's JWT secret; claims sub (agent id), "
        "tenant, exp. Mint one with `supportbot agent-token --agent NAME`.",
    )

    def agent(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> AgentClaims:
        secret = settings.jwt_secret
        if secret is None or not secret.get_secret_value():
            raise ApiError(503, "disabled", "the agent API has no JWT secret configured")
        try:
            check_secret(secret.get_secret_value().encode())
        except ValueError as exc:
            raise ApiError(503, "disabled", str(exc)) from None
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("bearer token required")
        try:
            return verify_token(
                credentials.credentials,
                secret.get_secret_value().encode(),
                tenant=settings.tenant_id,
                now=clock(),
            )
        except TokenError as exc:
            raise _unauthorized(exc.reason) from None

    def opened() -> AgentResources:
        found = resources()
        if found is None:
            raise ApiError(503, "not_ready", "the agent API is starting or stopping")
        return found

    Agent = Annotated[AgentClaims, Depends(agent)]
    Res = Annotated[AgentResources, Depends(opened)]
    router = APIRouter(responses=_ERRORS)

    async def conversation_or_404(res: AgentResources, customer_id: str) -> Conversation:
        found = await queries.get_conversation(res.pool, settings.tenant_id, customer_id)
        if found is None:
            raise ApiError(404, "not_found", "no such conversation")
        return found

    @router.get("/me", response_model=AgentOut, tags=["agent"], summary="Who the token is for")
    async def me(claims: Agent) -> AgentOut:
        return AgentOut(agent=claims.agent, tenant=claims.tenant, expires_at=claims.expires_at)

    @router.get(
        "/conversations",
        response_model=ConversationPageOut,
        tags=["conversations"],
        summary="List or search conversations (newest activity first)",
        responses={400: {"model": ErrorBody, "description": "Bad cursor"}},
    )
    async def list_conversations(
        claims: Agent,
        res: Res,
        q: Annotated[
            StorableText | None,
            Query(max_length=200, description="Name, phone or id substring, or message words"),
        ] = None,
        handoff: Annotated[Literal["bot", "pending", "human"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
        cursor: Annotated[StorableText | None, Query(max_length=500)] = None,
    ) -> ConversationPageOut:
        try:
            page = await queries.list_conversations(
                res.pool,
                settings.tenant_id,
                query=q,
                handoff=None if handoff is None else HandoffState(handoff),
                limit=limit,
                cursor=cursor,
            )
        except queries.BadCursorError:
            raise ApiError(400, "bad_cursor", "invalid pagination cursor") from None
        now = clock()
        return ConversationPageOut(
            items=[ConversationOut.of(c, now) for c in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/conversations/{customer_id}",
        response_model=ConversationDetailOut,
        tags=["conversations"],
        summary="Read a conversation with its latest messages",
        responses=_NOT_FOUND,
    )
    async def read_conversation(
        customer_id: CustomerId,
        claims: Agent,
        res: Res,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    ) -> ConversationDetailOut:
        conversation = await conversation_or_404(res, customer_id)
        found = await queries.get_messages(
            res.pool, settings.tenant_id, customer_id, limit=limit, before_id=before_id
        )
        surveys = await csat.of_customer(res.pool, settings.tenant_id, customer_id)
        return ConversationDetailOut(
            conversation=ConversationOut.of(conversation, clock()),
            messages=[MessageOut.of(m) for m in found],
            next_before_id=found[0].id if len(found) == limit else None,
            csat=[CsatOut.of(s) for s in surveys],
        )

    @router.post(
        "/conversations/{customer_id}/messages",
        response_model=ReplyOut,
        tags=["replies"],
        summary="Send an agent reply (takes the conversation over from the bot)",
        responses={
            **_NOT_FOUND,
            409: {"model": ErrorBody, "description": "The customer opted out"},
            502: {"model": ErrorBody, "description": "MSG91 refused the reply; nothing changed"},
        },
    )
    async def send_reply(
        customer_id: CustomerId,
        body: ReplyIn,
        claims: Agent,
        res: Res,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                description="Retry with the same key: the reply is sent at most once.",
            ),
        ] = None,
    ) -> ReplyOut:
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ApiError(400, "bad_idempotency_key", "use 1-100 of A-Z a-z 0-9 . _ : -")
        conversation = await conversation_or_404(res, customer_id)
        if conversation.opted_out:
            raise ApiError(409, "opted_out", "the customer opted out of messages")
        message = reply_message(body, res.deliverer.sender.client)
        turn_id = f"agent:{claims.agent}:{idempotency_key or uuid.uuid4().hex}"
        try:
            outcomes = await deliver_replies(
                res.pool,
                res.deliverer,
                recipient_of(conversation),
                turn_id,
                [message],
                author=claims.author,
            )
        except DeliveryDeferred:
            metrics.AGENT_REPLIES.labels("deferred").inc()
            raise ApiError(
                503,
                "delivery_deferred",
                "MSG91 is not accepting messages right now; retry with the same Idempotency-Key",
                {"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        for outcome in outcomes:
            metrics.AGENT_REPLIES.labels(outcome.status.value).inc()
        if not any(o.status is not ReplyStatus.UNDELIVERABLE for o in outcomes):
            raise ApiError(502, "reply_not_sent", not_sent_message(outcomes))
        if conversation.handoff_state is not HandoffState.HUMAN:  # it went out: take over
            await control.request_handoff(
                res.pool,
                settings.tenant_id,
                customer_id,
                reason="agent_reply",
                source="api",
                agent=claims.agent,
            )
        latest = await conversation_or_404(res, customer_id)
        return ReplyOut(
            turn_id=turn_id,
            replies=[ReplyOutcomeOut.of(o) for o in outcomes],
            conversation=ConversationOut.of(latest, clock()),
        )

    @router.post(
        "/conversations/{customer_id}/handoff",
        response_model=ConversationOut,
        tags=["handoff"],
        summary="Take the conversation (the bot stays silent until handed back)",
        responses=_NOT_FOUND,
    )
    async def handoff(
        customer_id: CustomerId, claims: Agent, res: Res, body: HandoffIn | None = None
    ) -> ConversationOut:
        await conversation_or_404(res, customer_id)
        reason = (body.reason if body else None) or "api"
        found = await control.request_handoff(
            res.pool,
            settings.tenant_id,
            customer_id,
            reason=reason,
            source="api",
            agent=claims.agent,
        )
        if found is None:
            raise ApiError(404, "not_found", "no such conversation")
        return ConversationOut.of(found, clock())

    @router.post(
        "/conversations/{customer_id}/handback",
        response_model=ConversationOut,
        tags=["handoff"],
        summary="Hand the conversation back to the bot",
        responses=_NOT_FOUND,
    )
    async def handback(
        customer_id: CustomerId, claims: Agent, res: Res, body: HandbackIn | None = None
    ) -> ConversationOut:
        found = await control.hand_back(res.pool, settings.tenant_id, customer_id)
        if found is None:
            raise ApiError(404, "not_found", "no such conversation")
        if body is not None and body.resolved:
            # the worker's CSAT sender asks (or records why not) once the flow's delay passed
            await csat.create(
                res.pool,
                settings.tenant_id,
                customer_id,
                "agent_resolved",
                now=datetime.fromtimestamp(clock(), UTC),
                delay_seconds=0,
            )
        return ConversationOut.of(found, clock())

    return router


def not_sent_message(outcomes: Sequence[ReplyOutcome]) -> str:
    """Why no part of a reply went out, for the 502: MSG91's error codes and our own reasons
    only (MSG91's free text may quote the customer's number)."""
    causes = sorted({_cause(o) for o in outcomes}) or ["nothing to send"]
    return f"the reply was not sent ({'; '.join(causes)}); the conversation is unchanged"


def _cause(outcome: ReplyOutcome) -> str:
    if outcome.error_code and outcome.error_code != "invalid":
        return f"MSG91 error {outcome.error_code}"
    return outcome.reason or "undeliverable"  # our own reason: invalid message, window rules


def _unauthorized(reason: str) -> ApiError:
    return ApiError(401, "unauthorized", reason, {"WWW-Authenticate": "Bearer"})
