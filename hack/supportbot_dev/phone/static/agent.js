// supportbot phone simulator, agent view: the tenant's conversations through the page's proxy
// of the agent API (handed-off first), one conversation's history, agent replies (with an
// Idempotency-Key), take over / hand back. Uses the helpers and `state` of app.js (loaded after
// this file; everything here runs only once both are loaded).
"use strict";

function badge(conversation) {
  const s = conversation.handoff_state;
  return h("span", { class: "badge " + s }, s === "human" ? "agent" : s);
}

function renderAgentList() {
  const items = state.agent.items.map((c) =>
    h(
      "button",
      {
        type: "button",
        class: "conv-item" + (state.agent.open === c.customer_id ? " open" : ""),
        dataset: { customer: c.customer_id, state: c.handoff_state },
        onclick: () => openConversation(c.customer_id),
      },
      h("div", { class: "name" }, c.name || "+" + (c.phone || c.customer_id), badge(c)),
      h("div", { class: "sub" }, `+${c.phone || c.customer_id} · ${isoClock(c.last_activity_at)}`),
    ),
  );
  if (!items.length) items.push(h("p", { class: "conv-sub" }, "No conversations yet."));
  $("conv-list").replaceChildren(...items);
}

function agentMessage(m) {
  const body = m.body || {};
  const byAgent = m.author.startsWith("agent:");
  const parts = [];
  if (m.direction === "outbound") {
    parts.push(h("div", { class: "author" }, byAgent ? "Agent " + m.author.slice(6) : "Bot"));
  }
  if (m.kind === "template") {
    parts.push(h("div", { class: "template-tag" }, "Template · " + (body.template_name || "")));
  }
  if (m.media) parts.push(mediaView({ type: m.kind, url: m.media.url, filename: m.media.filename }));
  if (m.location) parts.push(h("div", { class: "doc" }, `📍 ${m.location.latitude}, ${m.location.longitude}`));
  parts.push(h("span", { class: "text" }, m.text || (m.media ? "" : `[${m.kind}]`)));
  const options = (body.buttons || []).map((b) => b.title);
  for (const section of body.sections || []) for (const row of section.rows || []) options.push(row.title);
  if (options.length) parts.push(h("div", { class: "chips" }, options.map((o) => h("span", { class: "chip" }, o))));
  const status = m.delivery_state ? " · " + m.delivery_state : "";
  parts.push(h("span", { class: "meta" }, isoClock(m.created_at) + status));
  return h(
    "div",
    { class: `row ${m.direction}` + (byAgent ? " by-agent" : "") },
    h("div", { class: "bubble agent-msg", dataset: { author: m.author } }, parts),
  );
}

function renderAgentDetail() {
  const doc = state.agent.detail;
  const open = !!doc;
  for (const id of ["agent-input", "agent-send", "agent-handoff", "agent-handback", "agent-media-kind", "agent-media-url"]) $(id).disabled = !open;
  if (!doc) return;
  const c = doc.conversation;
  $("conv-title").replaceChildren(c.name || "+" + (c.phone || c.customer_id), badge(c));
  const window = c.window_open ? "24 h window open" : "window closed: replies go out as a template";
  $("conv-sub").textContent = `+${c.phone || c.customer_id} · ${window}` + (c.opted_out ? " · opted out" : "");
  $("agent-handoff").disabled = c.handoff_state === "human";
  $("agent-handback").disabled = c.handoff_state === "bot";
  const fingerprint = JSON.stringify(doc.messages);
  if (fingerprint === state.agent.rendered) return;
  state.agent.rendered = fingerprint;
  const box = $("agent-messages");
  box.replaceChildren(...doc.messages.map(agentMessage));
  box.scrollTop = box.scrollHeight;
}

async function openConversation(customer) {
  state.agent.open = customer;
  state.agent.detail = null;
  state.agent.rendered = "";
  renderAgentList();
  await pollAgent();
}

async function pollAgent() {
  const tenant = tenantInfo();
  if (!tenant || !tenant.agent) {
    $("agent-error").textContent = "This tenant has no agent API configured for the page.";
    $("agent-error").hidden = false;
    return;
  }
  const gen = state.agent.gen;
  const q = $("conv-search").value.trim();
  try {
    const list = await api("GET", `/api/agent/${state.tenant}/conversations` + (q ? "?q=" + encodeURIComponent(q) : ""));
    let detail = null;
    if (state.agent.open) {
      detail = await api("GET", `/api/agent/${state.tenant}/conversations/${encodeURIComponent(state.agent.open)}`);
    }
    if (gen !== state.agent.gen) return;
    state.agent.items = list.items;
    state.agent.detail = detail;
    $("agent-error").hidden = true;
    renderAgentList();
    renderAgentDetail();
  } catch (err) {
    $("agent-error").textContent = err.message;
    $("agent-error").hidden = false;
  }
}

function idempotencyKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

async function agentAction(path, body, headers) {
  const customer = encodeURIComponent(state.agent.open);
  await api("POST", `/api/agent/${state.tenant}/conversations/${customer}/${path}`, body, headers);
  await pollAgent();
}

