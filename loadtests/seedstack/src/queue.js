'use strict';
// The one Bull queue both processes share (the seed's "Bull Queue (webhook processing)").
const Queue = require('bull');
const config = require('./config');

function openQueue() {
  return new Queue(config.queueName, config.redisUrl, {
    prefix: `seed:${config.tenant}`,
    defaultJobOptions: {
      // The seed's "async webhook processing with retry mechanisms": 3 attempts, exponential
      // backoff from 1 s. Finished jobs are removed so Redis does not grow with the run.
      attempts: config.attempts,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 1000,
    },
  });
}

module.exports = { openQueue };
