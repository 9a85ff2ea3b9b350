// supportbot phone simulator: the customer's phone (chat through the MSG91 simulator) and an
// agent view (the tenant's agent API). Talks only to this page's origin (/api/...), polls for
// updates, and builds every node with textContent (message text is never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const TICK_RANK = { sent: 1, delivered: 2, read: 3, failed: 4 };
const TYPING_SECONDS = 25;

const state = {
  config: null,
  tenant: null,
  tab: "phone",
  customer: null, // {name, phone}
  chat: null, // per open chat, see newChat()
  agent: { items: [], open: null, detail: null, gen: 0 },
};

function newChat() {
  return {
    gen: Math.random(),
    items: new Map(),
    ticks: {},
    errors: {},
    cursor: { records: 0, webhooks: 0 },
    conversation: null,
    authors: {},
    rendered: "",
  };
}

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const doc = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = (doc && doc.error) || {};
    throw new Error(error.message || `HTTP ${response.status}`);
  }
  return doc;
}

function clock(at) {
  const date = at ? new Date(at * 1000) : new Date();
  return date.toTimeString().slice(0, 5);
}

function isoClock(text) {
  return text ? new Date(text).toTimeString().slice(0, 5) : "";
}

function tenantInfo() {
  return state.config.tenants.find((t) => t.name === state.tenant);
}

// ---------------------------------------------------------------- customer phone ----------

function chooseCustomer(name, phone) {
  const digits = String(phone || "").replace(/[\s+-]/g, "");
  if (!/^[1-9][0-9]{7,14}$/.test(digits)) {
    $("customer-error").textContent = "Phone: 8-15 digits, country code first (e.g. 919876543210)";
    $("customer-error").hidden = false;
    return;
  }
  $("customer-error").hidden = true;
  state.customer = { name: (name || "").trim() || null, phone: digits };
  $("customer-name").value = state.customer.name || "";
  $("customer-phone").value = digits;
  state.chat = newChat();
  $("chat-items").replaceChildren();
  $("chat-input").disabled = false;
  $("chat-send").disabled = false;
  $("chat-attach").disabled = false;
  $("as-customer").textContent = `you: ${state.customer.name || ""} +${digits}`;
  renderPresets();
  renderChat();
  pollChat();
  $("chat-input").focus();
}

function renderPresets() {
  const presets = state.config.customers.map((c) =>
    h(
      "button",
      {
        type: "button",
        class: "preset" + (state.customer && state.customer.phone === c.phone ? " active" : ""),
        dataset: { phone: c.phone },
        onclick: () => chooseCustomer(c.name, c.phone),
      },
      c.name,
    ),
  );
  $("presets").replaceChildren(...presets);
}

function mergeChat(chat, doc) {
  for (const item of doc.items) {
    const known = chat.items.get(item.key);
    chat.items.set(item.key, known && !item.seq ? { ...item, seq: known.seq } : item);
  }
  for (const [id, tick] of Object.entries(doc.ticks || {})) {
    if ((TICK_RANK[tick] || 0) > (TICK_RANK[chat.ticks[id]] || 0)) chat.ticks[id] = tick;
  }
  Object.assign(chat.errors, doc.errors || {});
  if (doc.cursor) chat.cursor = doc.cursor;
  if ("conversation" in doc) chat.conversation = doc.conversation;
  if (doc.authors) chat.authors = doc.authors;
}

async function sendText(text) {
  const chat = state.chat;
  const body = { customer: state.customer.phone, name: state.customer.name, text };
  const doc = await api("POST", `/api/chat/${state.tenant}/send`, body);
  if (chat === state.chat) mergeChat(chat, { items: doc.items.map(pendingSeq) });
  renderChat();
}

async function sendReply(kind, message, option) {
  const chat = state.chat;
  const body = {
    customer: state.customer.phone,
    name: state.customer.name,
    type: kind,
    reply_id: option.id,
    title: option.title,
    description: option.description || null,
    context_id: message.message_id,
  };
  const doc = await api("POST", `/api/chat/${state.tenant}/reply`, body);
  if (chat === state.chat) mergeChat(chat, { items: doc.items.map(pendingSeq) });
  renderChat();
}

function pendingSeq(item) {
  // Until the poll brings its real sequence number, a just-sent bubble goes last.
  return { ...item, seq: 0, localSeq: Date.now() };
}

function ordered(chat) {
  const key = (item) => (item.seq ? item.seq : Number.MAX_SAFE_INTEGER);
  return [...chat.items.values()].sort((a, b) => key(a) - key(b) || (a.localSeq || 0) - (b.localSeq || 0));
}

function botTick(chat, item) {
  const tick = chat.ticks[item.message_id];
  if (!tick) return h("span", { class: "tick clock", title: "accepted by MSG91" }, "◷");
  if (tick === "failed") {
    return h("span", { class: "tick failed", title: chat.errors[item.message_id] || "failed" }, "!");
  }
  const marks = tick === "sent" ? "✓" : "✓✓";
  return h("span", { class: "tick" + (tick === "read" ? " read" : ""), title: tick, dataset: { tick } }, marks);
}

function customerTick(item, answered) {
  if (item.delivery === "failed") {
    return h("span", { class: "tick failed", title: item.error || "the bot did not accept it" }, "!");
  }
  if (item.delivery !== "accepted") return h("span", { class: "tick", title: "posted" }, "✓");
  const title = answered ? "answered" : "the bot's webhook accepted it";
  return h("span", { class: "tick" + (answered ? " read" : ""), title }, "✓✓");
}

// Media by reference: images inline, other files as a link named by their file name. Offline
// preview: an image the browser cannot load (the example flows' made-up hosts) is shown from this
// page's samples of the same file name (static/samples/) when there is one, else as a link.
function mediaView(media) {
  if (!media || !media.url) return null;
  const label = media.filename || media.url.split("?")[0].split("/").pop() || media.type;
  const link = (icon) => h("a", { class: "doc", href: media.url, target: "_blank", rel: "noopener" }, `${icon} ${label}`);
  if (media.type === "image" || media.type === "sticker") {
    const img = h("img", { class: "media-img", src: media.url, alt: label, dataset: { url: media.url } });
    const sample = "/static/samples/" + encodeURIComponent(label);
    img.addEventListener("load", () => (img.dataset.loaded = img.src === media.url ? "url" : "sample"));
    img.addEventListener("error", () => {
      if (!img.src.endsWith(sample)) img.src = sample;
      else img.replaceWith(link("🖼"));
    });
    return h("div", { class: "media", dataset: { type: media.type } }, img);
  }
  if (media.type === "video") {
    return h("div", { class: "media", dataset: { type: "video" } }, h("video", { src: media.url, controls: true, preload: "none" }), link("🎬"));
  }
  return h("div", { class: "media", dataset: { type: media.type } }, link(media.type === "audio" ? "🎵" : "📄"));
}

async function sendMedia(kind, url, caption) {
  const chat = state.chat;
  const body = { customer: state.customer.phone, name: state.customer.name, type: kind, url, caption: caption || null };
  const doc = await api("POST", `/api/chat/${state.tenant}/media`, body);
  if (chat === state.chat) mergeChat(chat, { items: doc.items.map(pendingSeq) });
  renderChat();
}

function botBubble(chat, item) {
  const author = chat.authors[item.message_id];
  const meta = h("span", { class: "meta" }, clock(item.at), botTick(chat, item));
  const parts = [];
  if (author) parts.push(h("div", { class: "author" }, `Agent ${author}`));
  if (item.kind === "template") {
    const t = item.template;
    parts.push(h("div", { class: "template-tag" }, `Template · ${t.name}${t.language ? " (" + t.language + ")" : ""}`));
    if (t.header) parts.push(mediaView(t.header));
    if (t.params.length) {
      parts.push(h("ol", { class: "template-params" }, t.params.map((p) => h("li", {}, p))));
    }
  } else {
    if (item.header) parts.push(h("div", { class: "head" }, item.header));
    if (item.media) parts.push(mediaView(item.media));
    if (item.text || !item.media) parts.push(h("span", { class: "text" }, item.text));
    if (item.footer) parts.push(h("div", { class: "foot" }, item.footer));
  }
  parts.push(meta);
  const bubble = h("div", { class: "bubble bot", dataset: { kind: item.kind, messageId: item.message_id } }, parts);
  const row = h("div", { class: "row bot" }, bubble);
  if (item.kind === "buttons") {
    const buttons = item.buttons.map((b) =>
      h(
        "button",
        { type: "button", class: "reply-button", dataset: { id: b.id }, onclick: () => act(() => sendReply("button_reply", item, b)) },
        "↩ " + b.title,
      ),
    );
    row.append(h("div", { class: "buttons" }, buttons));
  } else if (item.kind === "list") {
    row.append(
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "list-open", onclick: () => openList(item) }, "☰ " + item.list.button)),
    );
  }
  return row;
}

function customerBubble(item, answered) {
  const parts = [];
  if (item.kind === "reply") parts.push(h("div", { class: "replied" }, "↩ selected"));
  if (item.media) parts.push(mediaView(item.media));
  if (item.text || !item.media) parts.push(h("span", { class: "text" }, item.text));
  parts.push(h("span", { class: "meta" }, clock(item.at), customerTick(item, answered)));
  return h("div", { class: "row customer" },
    h("div", { class: "bubble customer", dataset: { kind: item.kind, messageId: item.message_id } }, parts));
}

function openList(item) {
  $("list-title").textContent = item.list.button;
  const body = [];
  for (const section of item.list.sections) {
    if (section.title) body.push(h("div", { class: "list-section" }, section.title));
    for (const row of section.rows) {
      body.push(
        h("button", {
          type: "button",
          class: "list-row",
          dataset: { id: row.id },
          onclick: () => {
            $("list-sheet").hidden = true;
            act(() => sendReply("list_reply", item, row));
          },
        }, row.title, row.description ? h("span", { class: "desc" }, row.description) : null),
      );
    }
  }
  $("list-body").replaceChildren(...body);
  $("list-sheet").hidden = false;
}

function handoffText(conversation) {
  if (!conversation) return null;
  if (conversation.handoff_state === "human") {
    const who = conversation.handoff_agent ? ` (${conversation.handoff_agent})` : "";
    return ["human", `You are chatting with a human agent${who}. The bot is paused.`];
  }
  if (conversation.handoff_state === "pending") {
    return ["pending", "Handed over to a human agent: waiting for one to join…"];
  }
  return null;
}

function renderChat() {
  const chat = state.chat;
  const tenant = tenantInfo();
  $("bot-name").textContent = tenant ? tenant.name : "—";
  $("bot-avatar").textContent = tenant ? tenant.name[0].toUpperCase() : "?";
  if (!chat) return;
  const items = ordered(chat);
  const last = items[items.length - 1];
  const banner = handoffText(chat.conversation);
  const typing =
    !!last && last.side === "customer" && last.delivery !== "failed" && !banner &&
    Date.now() / 1000 - (last.at || Date.now() / 1000) < TYPING_SECONDS;
  $("typing").hidden = !typing;
  $("bot-status").textContent = typing ? "typing…" : tenant ? `+${tenant.number}` : "";
  $("handoff-banner").hidden = !banner;
  if (banner) {
    $("handoff-banner").className = "handoff-banner " + banner[0];
    $("handoff-banner").textContent = banner[1];
  }
  const fingerprint = JSON.stringify([items, chat.ticks, chat.authors]);
  if (fingerprint === chat.rendered) return;
  chat.rendered = fingerprint;
  const box = $("chat");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const rows = items.map((item, i) => {
    if (item.side === "bot") return botBubble(chat, item);
    const answered = items.slice(i + 1).some((later) => later.side === "bot");
    return customerBubble(item, answered);
  });
  $("chat-items").replaceChildren(...rows);
  if (atBottom || typing) box.scrollTop = box.scrollHeight;
}

async function pollChat() {
  const chat = state.chat;
  if (!chat || !state.customer) return;
  const gen = chat.gen;
  const { records, webhooks } = chat.cursor;
  const path = `/api/chat/${state.tenant}/${state.customer.phone}?records=${records}&webhooks=${webhooks}`;
  try {
    const doc = await api("GET", path);
    if (state.chat && state.chat.gen === gen) {
      mergeChat(chat, doc);
      renderChat();
    }
  } catch (err) {
    $("bot-status").textContent = "offline: " + err.message;
  }
}

// ---------------------------------------------------------------- wiring ------------------

async function act(fn) {
  try {
    await fn();
  } catch (err) {
    alert(err.message);
  }
}

function selectTab(tab) {
  state.tab = tab;
  for (const button of document.querySelectorAll(".tab")) button.classList.toggle("active", button.dataset.tab === tab);
  $("view-phone").hidden = tab !== "phone";
  $("view-agent").hidden = tab !== "agent";
  if (tab === "agent") pollAgent();
}

function selectTenant(name) {
  state.tenant = name;
  state.agent = { items: [], open: null, detail: null, gen: state.agent.gen + 1 };
  $("agent-messages").replaceChildren();
  $("conv-title").textContent = "Choose a conversation";
  $("conv-sub").textContent = "";
  renderAgentDetail();
  if (state.customer) chooseCustomer(state.customer.name, state.customer.phone);
  else renderChat();
  if (state.tab === "agent") pollAgent();
}

function loop(fn, ms) {
  const tick = async () => {
    try {
      await fn();
    } finally {
      setTimeout(tick, ms);
    }
  };
  setTimeout(tick, ms);
}

async function start() {
  state.config = await api("GET", "/api/config");
  $("tenant-select").replaceChildren(
    ...state.config.tenants.map((t) => h("option", { value: t.name }, `${t.name} (+${t.number})`)),
  );
  $("tenant-select").addEventListener("change", (e) => selectTenant(e.target.value));
  for (const button of document.querySelectorAll(".tab")) button.addEventListener("click", () => selectTab(button.dataset.tab));
  $("customer-form").addEventListener("submit", (e) => {
    e.preventDefault();
    chooseCustomer($("customer-name").value, $("customer-phone").value);
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("chat-input").value.trim();
    if (!text || !state.customer) return;
    $("chat-input").value = "";
    act(() => sendText(text));
  });
  $("list-close").addEventListener("click", () => ($("list-sheet").hidden = true));
  $("chat-attach").addEventListener("click", () => {
    $("attach-form").hidden = !$("attach-form").hidden;
    if (!$("attach-form").hidden) $("attach-url").focus();
  });
  $("attach-sample").addEventListener("click", () => {
    $("attach-url").value = new URL("/static/samples/damaged-kettle.png", location.href).href;
  });
  $("attach-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("attach-url").value.trim();
    if (!url || !state.customer) return;
    const kind = $("attach-kind").value;
    const caption = $("attach-caption").value.trim();
    $("attach-url").value = "";
    $("attach-caption").value = "";
    $("attach-form").hidden = true;
    act(() => sendMedia(kind, url, caption));
  });
  $("agent-composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("agent-input").value.trim();
    const kind = $("agent-media-kind").value;
    const url = $("agent-media-url").value.trim();
    if ((!text && !(kind && url)) || !state.agent.open) return;
    const body = kind && url ? { text: text || null, media: { kind, url } } : { text };
    $("agent-input").value = "";
    $("agent-media-url").value = "";
    $("agent-media-kind").value = "";
    act(() => agentAction("messages", body, { "Idempotency-Key": idempotencyKey() }));
  });
  $("agent-handoff").addEventListener("click", () => act(() => agentAction("handoff", { reason: "agent" })));
  $("agent-handback").addEventListener("click", () => act(() => agentAction("handback", {})));
  $("conv-search").addEventListener("input", () => pollAgent());
  renderPresets();
  selectTenant(state.config.tenants[0].name);
  loop(pollChat, state.config.poll_ms);
  loop(() => (state.tab === "agent" ? pollAgent() : null), Math.max(1000, state.config.poll_ms));
  loop(async () => renderChat(), 1000); // typing indicator times out
}

start().catch((err) => {
  document.body.prepend(h("p", { class: "form-error" }, "Could not start: " + err.message));
});
