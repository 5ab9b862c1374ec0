/* civic311 web chat. No framework, nothing from other sites; server text is only ever
   inserted with textContent, never as HTML. */
(() => {
  "use strict";
  const TOKEN_KEY = "civic311.token";
  const MAX = 2000;
  const log = document.getElementById("chat-log");
  const actions = document.getElementById("actions");
  const form = document.getElementById("composer");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const typing = document.getElementById("typing");
  const counter = document.getElementById("counter");
  const seen = new Set();
  let lastId = 0;
  let events = null;
  let busy = false;

  const token = () => localStorage.getItem(TOKEN_KEY);
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : "c" + Date.now().toString(36) + Math.random().toString(36).slice(2));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    const response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* empty or not JSON */ }
    if (!response.ok) {
      throw new HttpError(response.status, data.error || "Something went wrong (" + response.status + ").");
    }
    return data;
  }

  // --- rendering ---------------------------------------------------------------
  function inline(parent, text) {
    // **bold** only; everything else is plain text.
    const parts = text.split(/(\*\*[^*]+\*\*)/g);
    for (const part of parts) {
      if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
        const strong = document.createElement("strong");
        strong.textContent = part.slice(2, -2);
        parent.appendChild(strong);
      } else if (part) {
        parent.appendChild(document.createTextNode(part));
      }
    }
  }

  function markdown(parent, text) {
    let list = null;
    let para = null;
    for (const line of text.split("\n")) {
      if (/^\s*[-•]\s+/.test(line)) {
        para = null;
        if (!list) { list = document.createElement("ul"); parent.appendChild(list); }
        const li = document.createElement("li");
        inline(li, line.replace(/^\s*[-•]\s+/, ""));
        list.appendChild(li);
      } else if (!line.trim()) {
        list = null; para = null;
      } else {
        list = null;
        if (para) para.appendChild(document.createElement("br"));
        else { para = document.createElement("p"); parent.appendChild(para); }
        inline(para, line);
      }
    }
  }

  function nearBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function render(message) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    lastId = Math.max(lastId, message.id);
    const stick = nearBottom();
    const item = document.createElement("div");
    item.className = "msg";
    item.dataset.testid = "msg";
    item.setAttribute("data-testid", "msg");
    item.dataset.from = message.from;
    const who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = message.from === "bot" ? "311 says: " : "You said: ";
    item.appendChild(who);
    if (message.from === "bot") {
      markdown(item, message.text || "");
    } else {
      const text = message.text || (message.location ? "📍 Shared a location" : "");
      item.appendChild(document.createTextNode(text));
    }
    if (message.links && message.links.length) {
      const ul = document.createElement("ul");
      ul.className = "links";
      for (const link of message.links) {
        if (!/^(https?:|tel:|mailto:)/.test(link.url)) continue;
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = link.url; a.textContent = link.title; a.target = "_blank"; a.rel = "noopener noreferrer";
        li.appendChild(a); ul.appendChild(li);
      }
      item.appendChild(ul);
    }
    if (message.at) {
      const time = document.createElement("time");
      time.dateTime = message.at;
      time.textContent = new Date(message.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      item.appendChild(time);
    }
    log.appendChild(item);
    if (message.from === "bot") showActions(message); else clearActions();
    if (stick || message.from === "resident") log.scrollTop = log.scrollHeight;
  }

  function clearActions() { actions.replaceChildren(); }

  function showActions(message) {
    clearActions();
    for (const choice of message.choices || []) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = choice.label;
      button.setAttribute("data-testid", "choice");
      button.addEventListener("click", () => submit({ choice: choice.id }));
      actions.appendChild(button);
    }
    if (message.request === "location") {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "📍 Share my location";
      button.setAttribute("data-testid", "share-location");
      button.addEventListener("click", shareLocation);
      actions.appendChild(button);
    }
  }

  function notice(text) {
    const p = document.createElement("p");
    p.className = "notice";
    p.setAttribute("data-testid", "notice");
    p.setAttribute("role", "status");
    p.textContent = text;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  }

  // --- session, history, live updates --------------------------------------------
  async function newSession() {
    localStorage.removeItem(TOKEN_KEY);
    const data = await api("POST", "/api/chat/session", {});
    localStorage.setItem(TOKEN_KEY, data.token);
    log.replaceChildren(); seen.clear(); lastId = 0;
    data.messages.forEach(render);
    listen();
  }

  async function start() {
    try {
      if (token()) {
        try {
          const data = await api("GET", "/api/chat/history");
          data.messages.forEach(render);
          listen();
          return;
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 401)) throw e;
        }
      }
      await newSession();
    } catch (e) {
      notice("The chat could not start: " + e.message + " You can also call 311 any time.");
    }
  }

  function listen() {
    if (events) events.close();
    if (!window.EventSource) return;
    events = new EventSource("/api/chat/events?after=" + lastId);
    events.onmessage = (event) => {
      try { render(JSON.parse(event.data)); } catch (e) { /* ignore a malformed event */ }
    };
  }

  // --- sending --------------------------------------------------------------------
  async function post(body) {
    // The same client_id on every retry: the server answers a repeated one once.
    for (let attempt = 0; ; attempt++) {
      try {
        return await api("POST", "/api/chat/messages", body);
      } catch (e) {
        if (e instanceof HttpError && e.status === 401 && attempt === 0) {
          await newSession();
          continue;
        }
        if (e instanceof HttpError || attempt >= 3) throw e;
        await sleep(500 * 2 ** attempt);
      }
    }
  }

  async function submit(fields) {
    if (busy) return false;
    busy = true;
    send.disabled = true;
    typing.hidden = false;
    let ok = false;
    try {
      const data = await post({ client_id: uuid(), ...fields });
      data.messages.forEach(render);
      ok = true;
    } catch (e) {
      notice(e instanceof HttpError ? e.message : "Can't reach the server. Check your connection and try again.");
    } finally {
      busy = false;
      typing.hidden = true;
      updateComposer();
    }
    return ok;
  }

  function shareLocation() {
    if (!navigator.geolocation) {
      notice("Your browser can't share a location. Please type the address or nearest cross streets.");
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => submit({ location: { lat: pos.coords.latitude, lon: pos.coords.longitude } }),
      () => notice("Location was not shared. Please type the address or nearest cross streets."),
      { enableHighAccuracy: true, timeout: 15000 });
  }

  function updateComposer() {
    const length = input.value.length;
    send.disabled = busy || !input.value.trim();
    counter.textContent = length > MAX * 0.8 ? length + " / " + MAX + " characters" : "";
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 8 * 16) + "px";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (!text.trim() || busy) return;
    if (await submit({ text })) {
      if (input.value === text) input.value = "";  // keep the text if sending failed
    }
    updateComposer();
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", updateComposer);
  updateComposer();
  start();
})();
