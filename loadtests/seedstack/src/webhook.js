'use strict';
// The seed's webhook, minimal: POST /webhooks/msg91/inbound checks the shared secret header,
// reads MSG91's flat inbound body, de-duplicates on the message id (SET NX EX), applies the
// per-customer per-minute throttle (INCR + EXPIRE on a per-minute key), enqueues one Bull job
// per message and answers 200 {"status": "accepted" | "duplicate" | "throttled" | "ignored"}
// (the answers of supportbot's webhook, so the load driver's ledger reads them).
const crypto = require('node:crypto');
const Fastify = require('fastify');
const Redis = require('ioredis');
const config = require('./config');
const { openQueue } = require('./queue');

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

async function main() {
  const redis = new Redis(config.redisUrl);
  const queue = openQueue();
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  const prefix = `seed:${config.tenant}:`;
  const limit = config.throttlePerMinute;

  app.post('/webhooks/msg91/inbound', async (request, reply) => {
    if (!secretOk(request.headers['x-webhook-secret'])) {
      reply.code(401);
      return { status: 'unauthorized' };
    }
    const body = request.body;
    if (body === null || typeof body !== 'object') {
      reply.code(400);
      return { status: 'rejected', reason: 'not_json_object' };
    }
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
      // supportbot's semantics: the message is acknowledged but not answered; the first one
      // over the limit in a window gets one slow-down notice.
      if (count === limit + 1) await queue.add({ customer, id, notice: true });
      return { status: 'throttled' };
    }
    await queue.add({ customer, id, text: messageText(body), receivedAt: Date.now() });
    return { status: 'accepted' };
  });

  app.post('/webhooks/msg91/status', async (request, reply) => {
    if (!secretOk(request.headers['x-webhook-secret'])) {
      reply.code(401);
      return { status: 'unauthorized' };
    }
    return { status: 'accepted' };
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  const stop = async () => {
    await app.close().catch(() => {});
    await queue.close().catch(() => {});
    redis.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await app.listen({ host: config.host, port: config.port });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
