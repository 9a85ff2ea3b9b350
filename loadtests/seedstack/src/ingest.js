'use strict';
// The webhook's logic, shared by the Fastify (`webhook.js`) and NestJS (`nest-webhook.mjs`)
// front ends: secret check, MSG91 flat body, SET NX EX de-duplication on the message id,
// per-customer per-minute INCR throttle, one Bull job per message. Answers carry supportbot's
// words ({"status": "accepted" | "duplicate" | "throttled" | "ignored"}) so the load driver's
// ledger reads them.
const crypto = require('node:crypto');
const config = require('./config');

const SECRET = Buffer.from(config.webhookSecret);

function secretOk(given) {
  if (typeof given !== 'string' || SECRET.length === 0) return false;
  const buf = Buffer.from(given);
  return buf.length === SECRET.length && crypto.timingSafeEqual(buf, SECRET);
}

function filled(value) {
  return typeof value === 'string' && value !== '' && !value.startsWith('{{');
}

// Text of a flat inbound body: `text`, or the tapped button's / list row's title.
function messageText(body) {
  if (filled(body.text)) return body.text;
  if (filled(body.interactive)) {
    try {
      const interactive = JSON.parse(body.interactive);
      const reply = interactive[interactive.type] || {};
      return String(reply.title || '');
    } catch {
      return '';
    }
  }
  if (filled(body.button)) {
    try {
      return String(JSON.parse(body.button).text || '');
    } catch {
      return '';
    }
  }
  return '';
}

// The message id: `uuid` (MSG91's copy of the wamid), else the first `messages[].id`.
function messageId(body) {
  if (filled(body.uuid)) return body.uuid;
  if (filled(body.messages)) {
    try {
      const first = JSON.parse(body.messages)[0];
      if (first && typeof first.id === 'string') return first.id;
    } catch {
      // fall through
    }
  }
  return null;
}

// `accept(body)` -> the answer's JSON for an authenticated inbound POST.
function makeIngest(redis, queue) {
  const prefix = `seed:${config.tenant}:`;
  const limit = config.throttlePerMinute;
  return async function accept(body) {
    if (body === null || typeof body !== 'object') return { status: 'rejected' };
    const customer = filled(body.customerNumber) ? body.customerNumber.replace(/[^\d]/g, '') : '';
    const id = messageId(body);
    if (!customer || !id || body.direction === 'outbound') return { status: 'ignored' };

    const fresh = await redis.set(`${prefix}dedupe:${id}`, '1', 'EX', config.dedupeTtlSeconds, 'NX');
    if (fresh === null) return { status: 'duplicate' };

    const window = Math.floor(Date.now() / 60000);
    const key = `${prefix}thr:${customer}:${window}`;
    const count = await redis.incr(key);
    if (count === 1) await redis.expire(key, 120);
    if (count > limit) {
      // supportbot's semantics: acknowledged, not answered; the first message over the limit
      // in a window gets one slow-down notice.
      if (count === limit + 1) await queue.add({ customer, id, notice: true });
      return { status: 'throttled' };
    }
    await queue.add({ customer, id, text: messageText(body), receivedAt: Date.now() });
    return { status: 'accepted' };
  };
}

module.exports = { secretOk, messageText, messageId, makeIngest };
