'use strict';
// Settings of the seed stack, from the environment (the load-test harness sets them:
// loadtests/sbload/stack.py `Stack.start_seed_webhook` / `start_seed_worker`).

function env(name, fallback) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) throw new Error(`missing environment variable ${name}`);
    return fallback;
  }
  return value;
}

module.exports = {
  redisUrl: env('REDIS_URL', 'redis://127.0.0.1:6379/0'),
  host: env('HOST', '127.0.0.1'),
  port: Number(env('PORT', '3000')),
  webhookSecret: env('WEBHOOK_SECRET', ''),
  tenant: env('TENANT_ID', 'seed'),
  integratedNumber: env('INTEGRATED_NUMBER', ''),
  msg91BaseUrl: env('MSG91_BASE_URL', 'http://127.0.0.1:1').replace(/\/+$/, ''),
  msg91AuthKey: env('MSG91_AUTH_KEY', ''),
  openrouterBaseUrl: env('OPENROUTER_BASE_URL', 'http://127.0.0.1:1/api/v1').replace(/\/+$/, ''),
  openrouterApiKey: env('OPENROUTER_API_KEY', 'x'),
  llmModel: env('LLM_MODEL', 'openai/gpt-4o-mini'),
  concurrency: Number(env('CONCURRENCY', '100')),
  throttlePerMinute: Number(env('THROTTLE_PER_MINUTE', '10')),
  dedupeTtlSeconds: Number(env('DEDUPE_TTL_SECONDS', '86400')),
  queueName: env('QUEUE_NAME', 'webhook'),
  attempts: Number(env('JOB_ATTEMPTS', '3')),
  metricsPort: Number(env('METRICS_PORT', '0')),
};
