// Headless-Chromium bridge for Python tests (supportbot_dev.phone.browser): drives Debian's
// chromium through playwright-core (never a downloaded browser). One JSON command per stdin
// line, one JSON answer per stdout line: {"id", "op", ...args} -> {"id", "ok", "value"|"error"}.
"use strict";

const readline = require("node:readline");

const { chromium } = require(process.env.SUPPORTBOT_PLAYWRIGHT);
const executablePath = process.env.SUPPORTBOT_CHROMIUM;
const userDataDir = process.env.SUPPORTBOT_USER_DATA_DIR;
const args = JSON.parse(process.env.SUPPORTBOT_CHROMIUM_ARGS || "[]");

let context = null;
let page = null;

function locator(cmd) {
  const found = page.locator(cmd.selector, cmd.text ? { hasText: cmd.text } : undefined);
  return cmd.all ? found : found.first();
}

const ops = {
  async launch(cmd) {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args,
      viewport: cmd.viewport || { width: 1280, height: 900 },
    });
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(cmd.timeout || 15000);
    return await context.browser()?.version?.() ?? null;
  },
  async goto(cmd) {
    await page.goto(cmd.url, { waitUntil: "load" });
    return page.url();
  },
  async fill(cmd) {
    await locator(cmd).fill(cmd.value);
  },
  async press(cmd) {
    await locator(cmd).press(cmd.key);
  },
  async click(cmd) {
    await locator(cmd).click();
  },
  async select(cmd) {
    return await locator(cmd).selectOption(cmd.value);
  },
  async wait(cmd) {
    await locator(cmd).waitFor({ state: cmd.state || "visible", timeout: cmd.timeout });
  },
  async count(cmd) {
    return await page.locator(cmd.selector, cmd.text ? { hasText: cmd.text } : undefined).count();
  },
  async texts(cmd) {
    return await page.locator(cmd.selector).allInnerTexts();
  },
  async attribute(cmd) {
    return await locator(cmd).getAttribute(cmd.name);
  },
  async visible(cmd) {
    return await locator(cmd).isVisible();
  },
  async screenshot(cmd) {
    await page.screenshot({ path: cmd.path, fullPage: !!cmd.fullPage });
    return cmd.path;
  },
  async evaluate(cmd) {
    return await page.evaluate(cmd.expression);
  },
  async close() {
    if (context) await context.close();
    context = null;
  },
};

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  queue = queue.then(async () => {
    let cmd = {};
    try {
      cmd = JSON.parse(line);
      const op = ops[cmd.op];
      if (!op) throw new Error(`unknown op ${cmd.op}`);
      const value = await op(cmd);
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: true, value: value ?? null }) + "\n");
    } catch (err) {
      const error = String((err && err.message) || err).split("\n").slice(0, 12).join("\n");
      process.stdout.write(JSON.stringify({ id: cmd.id, ok: false, error }) + "\n");
    }
  });
});
lines.on("close", () => {
  queue.then(() => (context ? context.close() : null)).finally(() => process.exit(0));
});
