// The seed's webhook as its users would write it: NestJS 12 (a controller in a module) on the
// Fastify adapter, the same `ingest.js` logic. Plain JavaScript, so the decorators the seed
// writes in TypeScript (`@Controller`, `@Post`, `@HttpCode`, `@Body`, `@Headers`) are applied
// with `Reflect.decorate` / direct calls; Nest sees the same metadata.
import 'reflect-metadata';
import { createRequire } from 'node:module';
import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Module,
  Post,
  UnauthorizedException,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

const require = createRequire(import.meta.url);
const Redis = require('ioredis');
const config = require('./config.js');
const { openQueue } = require('./queue.js');
const { secretOk, makeIngest } = require('./ingest.js');

const redis = new Redis(config.redisUrl);
const queue = openQueue();
const accept = makeIngest(redis, queue);

class WebhookController {
  async inbound(body, secret) {
    if (!secretOk(secret)) throw new UnauthorizedException('Invalid webhook signature');
    return accept(body);
  }

  async status(secret) {
    if (!secretOk(secret)) throw new UnauthorizedException('Invalid webhook signature');
    return { status: 'accepted' };
  }
}

class HealthController {
  healthz() {
    return { status: 'ok' };
  }
}

function method(cls, name, decorators) {
  const desc = Object.getOwnPropertyDescriptor(cls.prototype, name);
  Object.defineProperty(cls.prototype, name, Reflect.decorate(decorators, cls.prototype, name, desc));
}

method(WebhookController, 'inbound', [Post('inbound'), HttpCode(200)]);
Body()(WebhookController.prototype, 'inbound', 0);
Headers('x-webhook-secret')(WebhookController.prototype, 'inbound', 1);
method(WebhookController, 'status', [Post('status'), HttpCode(200)]);
Headers('x-webhook-secret')(WebhookController.prototype, 'status', 0);
Reflect.decorate([Controller('webhooks/msg91')], WebhookController);
method(HealthController, 'healthz', [Get('healthz')]);
Reflect.decorate([Controller()], HealthController);

class AppModule {}
Reflect.decorate([Module({ controllers: [WebhookController, HealthController] })], AppModule);

const app = await NestFactory.create(AppModule, new FastifyAdapter({ bodyLimit: 1 << 20 }), {
  logger: ['error'],
});
const stop = async () => {
  await app.close().catch(() => {});
  await queue.close().catch(() => {});
  redis.disconnect();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await app.listen(config.port, config.host);
