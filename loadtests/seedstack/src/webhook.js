'use strict';
// The seed's webhook on plain Fastify: POST /webhooks/msg91/inbound (secret header, then
// `ingest.js`), POST /webhooks/msg91/status, GET /healthz.
const Fastify = require('fastify');
const Redis = require('ioredis');
const config = require('./config');
const { openQueue } = require('./queue');
const { secretOk, makeIngest } = require('./ingest');

async function main() {
  const redis = new Redis(config.redisUrl);
  const queue = openQueue();
  const accept = makeIngest(redis, queue);
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });

  app.post('/webhooks/msg91/inbound', async (request, reply) => {
    if (!secretOk(request.headers['x-webhook-secret'])) {
      reply.code(401);
      return { status: 'unauthorized' };
    }
    const answer = await accept(request.body);
    if (answer.status === 'rejected') reply.code(400);
    return answer;
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
