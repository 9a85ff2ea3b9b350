'use strict';
// The seed's worker, minimal: a Bull processor with `CONCURRENCY` jobs at a time; each job calls
// the OpenRouter chat completions API, then sends the customer's text back through MSG91's
// session-message API -- the same two requests as supportbot's `llm-echo` handler
// (loadtests/sbload/llm_echo.py), so the load driver's ledger matches the replies by token.
// A tiny HTTP server on METRICS_PORT serves /metrics with the gauges the harness samples.
const http = require('node:http');
const axios = require('axios');
const config = require('./config');
const { openQueue } = require('./queue');

const OUTBOUND_PATH = '/api/v5/whatsapp/whatsapp-outbound-message/';
const SLOW_DOWN_TEXT =
  'You are sending messages very quickly. Please wait a minute, then try again.';
const LLM_TIMEOUT_MS = 60000; // the seed: "Always set appropriate timeouts"
const SEND_TIMEOUT_MS = 10000;

// One keep-alive agent per upstream, no socket cap (axios on Node 20, as @nestjs/axios uses it).
const agent = new http.Agent({ keepAlive: true });
const llm = axios.create({ baseURL: config.openrouterBaseUrl, timeout: LLM_TIMEOUT_MS, httpAgent: agent });
const msg91 = axios.create({ baseURL: config.msg91BaseUrl, timeout: SEND_TIMEOUT_MS, httpAgent: agent });

let inFlight = 0;
let turnsTotal = 0;
let failedTotal = 0;

async function handle(job) {
  const { customer, text, notice } = job.data;
  const reply = notice ? SLOW_DOWN_TEXT : text;
  if (!reply) return;
  inFlight += 1;
  try {
    await llm.post(
      '/chat/completions',
      { model: config.llmModel, messages: [{ role: 'user', content: reply }], max_tokens: 64 },
      { headers: { Authorization: `Bearer ${config.openrouterApiKey}` } },
    );
    const headers = { accept: 'application/json' };
    if (config.msg91AuthKey) headers.authkey = config.msg91AuthKey;
    await msg91.post(
      OUTBOUND_PATH,
      {
        integrated_number: config.integratedNumber,
        recipient_number: customer,
        content_type: 'text',
        text: reply,
      },
      { headers },
    );
    turnsTotal += 1;
  } catch (err) {
    failedTotal += 1;
    throw err;
  } finally {
    inFlight -= 1;
  }
}

function serveMetrics(queue) {
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    let waiting = 0;
    try {
      waiting = await queue.getWaitingCount();
    } catch {
      waiting = -1;
    }
    const body = [
      `supportbot_worker_turns_in_flight ${inFlight}`,
      `supportbot_worker_jobs_in_flight ${inFlight}`,
      `supportbot_worker_queue_depth ${waiting}`,
      `supportbot_worker_turns_total ${turnsTotal}`,
      `seedstack_worker_failed_total ${failedTotal}`,
      '',
    ].join('\n');
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
  });
  server.listen(config.metricsPort, config.host);
  return server;
}

async function main() {
  const queue = openQueue();
  await queue.isReady();
  // /metrics first, so the harness's sampler (which starts once it answers) sees the ramp.
  const server = config.metricsPort ? serveMetrics(queue) : null;
  if (server) await new Promise((resolve) => server.once('listening', resolve));
  queue.process(config.concurrency, handle);
  const stop = async () => {
    if (server) server.close();
    await queue.close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
