/* civic311 web chat: the resident-facing page.
 *
 * Plain, dependency-free JavaScript; nothing is loaded from other sites. Text from the
 * server is only ever inserted with textContent / createTextNode, never as HTML.
 *
 * API (same origin): POST /api/chat/session, GET /api/chat/history,
 * POST /api/chat/messages, POST /api/chat/photos (multipart: photo, client_id),
 * GET /api/chat/events (Server-Sent Events, cookie auth).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "civic311.token";
  var body = document.body;
  var MAX = parseInt(body.getAttribute("data-max-chars") || "", 10) || 2000;
  var NEAR = Math.max(0, MAX - 200);          // show the counter from here on
  var PHOTOS = body.getAttribute("data-photos") === "on";
  var MAX_PHOTO_MB = parseFloat(body.getAttribute("data-max-photo-mb") || "") || 10;
  var PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
  var REQUEST_TIMEOUT_MS = 30000;
  var UPLOAD_TIMEOUT_MS = 180000;              // a 10 MB photo on a slow phone connection
  var RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
  var STICK_PX = 48;                           // "at the bottom" tolerance for auto-scroll

  var log = document.getElementById("chat-log");
  var form = document.getElementById("composer");
  var input = document.getElementById("chat-input");
  var sendButton = document.getElementById("chat-send");
  var typing = document.getElementById("typing");
  var typingText = typing ? typing.querySelector(".typing-text") : null;
  var counter = document.getElementById("chat-counter");
  var status = document.getElementById("chat-status");
  var jump = document.getElementById("jump");
  var cityName = (document.querySelector("h1") || {}).textContent || "311";

  var rendered = new Map();     // message id -> row element
  var lastId = 0;               // highest message id seen (for ?after=)
  var busy = false;             // one message in flight at a time
  var stick = true;             // follow new messages unless the resident scrolled up
  var lastTop = 0;              // the log's scrollTop at the last scroll event: up or down?
  var pending = null;           // the "sending…" bubble of the message in flight
  var lastFailed = null;        // {text, clientId}: resending the same text reuses the id
  var events = null;            // the EventSource
  var eventsRetry = 0;
  var eventsTimer = null;
  var sessionPromise = null;    // a session being created (shared by concurrent callers)
  var memoryToken = null;       // when localStorage is unavailable
  var counterBand = "";

  /* ---------------------------------------------------------------- utilities */

  function getToken() {
    try { return window.localStorage.getItem(TOKEN_KEY); } catch (e) { return memoryToken; }
  }

  function setToken(token) {
    memoryToken = token;
    try { window.localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode */ }
  }

  // A version 4 UUID. crypto.randomUUID only exists on https/localhost pages.
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function charCount(text) {   // code points, as the server counts them
    var n = 0;
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if (c < 0xd800 || c > 0xdbff) n++;
    }
    return n;
  }

  function announce(text) {
    if (!status) return;
    status.textContent = "";
    if (text) setTimeout(function () { status.textContent = text; }, 50);
  }

  /* ---------------------------------------------------------------- HTTP */

  function HttpError(statusCode, message) {
    this.status = statusCode;
    this.message = message;
  }
  function NetworkError() { this.message = "network"; }

  // payload: an object sent as JSON, or FormData sent as it is (the browser sets its boundary).
  function api(method, path, payload, withAuth, timeoutMs) {
    var headers = { "Accept": "application/json" };
    var isForm = window.FormData !== undefined && payload instanceof window.FormData;
    if (payload !== undefined && !isForm) headers["Content-Type"] = "application/json";
    var token = getToken();
    if (withAuth !== false && token) headers["Authorization"] = "Bearer " + token;
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs || REQUEST_TIMEOUT_MS) : null;
    return fetch(path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      body: payload === undefined ? undefined : isForm ? payload : JSON.stringify(payload),
      signal: controller ? controller.signal : undefined
    }).then(function (response) {
      return response.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : {}; } catch (e) { data = null; }
        if (!response.ok) {
          var message = data && typeof data.error === "string" && data.error
            ? data.error
            : "Something went wrong (error " + response.status + "). Please try again.";
          throw new HttpError(response.status, message);
        }
        if (!data) throw new HttpError(response.status, "The server sent an answer the page could not read.");
        return data;
      });
    }, function () {
      throw new NetworkError();
    }).finally(function () {
      if (timer) clearTimeout(timer);
    });
  }

  function retryable(error) {
    return error instanceof NetworkError ||
      (error instanceof HttpError && (error.status === 502 || error.status === 503 || error.status === 504));
  }

  /* ---------------------------------------------------------------- rendering */

  // **bold** inside one line; everything else is literal text.
  function inline(parent, line) {
    var re = /\*\*(.+?)\*\*/g;
    var at = 0;
    var m;
    while ((m = re.exec(line)) !== null) {
      if (m.index > at) parent.appendChild(document.createTextNode(line.slice(at, m.index)));
      parent.appendChild(el("strong", null, m[1]));
      at = m.index + m[0].length;
    }
    if (at < line.length) parent.appendChild(document.createTextNode(line.slice(at)));
  }

  // The Markdown subset bots use: **bold**, "- " bullet lines, line breaks, blank-line paragraphs.
  function markdown(parent, text) {
    var list = null;
    var para = null;
    String(text || "").replace(/\r\n?/g, "\n").split("\n").forEach(function (line) {
      var bullet = /^\s*[-*•]\s+(.*)$/.exec(line);
      if (bullet) {
        para = null;
        if (!list) { list = el("ul"); parent.appendChild(list); }
        var li = el("li");
        inline(li, bullet[1]);
        list.appendChild(li);
      } else if (!line.trim()) {
        list = null;
        para = null;
      } else {
        list = null;
        if (para) para.appendChild(el("br"));
        else { para = el("p"); parent.appendChild(para); }
        inline(para, line);
      }
    });
  }

  function safeUrl(url, sameOriginOnly) {
    if (typeof url !== "string" || !url) return null;
    var parsed;
    try { parsed = new URL(url, window.location.href); } catch (e) { return null; }
    if (sameOriginOnly) return parsed.origin === window.location.origin ? parsed.href : null;
    return /^(https?:|mailto:|tel:)$/.test(parsed.protocol) ? parsed.href : null;
  }

  function formatTime(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) return null;
    var now = new Date();
    var time = date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    if (date.toDateString() === now.toDateString()) return time;
    var day = date.toLocaleDateString([], {
      month: "short", day: "numeric",
      year: date.getFullYear() === now.getFullYear() ? undefined : "numeric"
    });
    return day + ", " + time;
  }

  function messageRow(message) {
    var fromBot = message.from !== "resident";
    var row = el("div", "row " + (fromBot ? "from-bot" : "from-resident"));
    row.setAttribute("data-id", String(message.id));

    row.appendChild(el("span", "visually-hidden", fromBot ? cityName + " said:" : "You said:"));

    var bubble = el("div", "bubble");
    bubble.setAttribute("data-testid", "msg");
    bubble.setAttribute("data-from", fromBot ? "bot" : "resident");
    bubble.setAttribute("data-id", String(message.id));
    if (fromBot && message.urgent) {
      // The 911 message: announced at once by screen readers, and styled to stand out.
      bubble.className = "bubble urgent";
      bubble.setAttribute("role", "alert");
    }
    if (fromBot) {
      markdown(bubble, message.text);
    } else if (message.text) {
      bubble.textContent = message.text;
    } else if (message.location) {
      bubble.textContent = "Shared my location";
    } else if (message.choice) {
      bubble.textContent = message.choice;
    }

    // Photos only from this server: a message can never make the page load another site.
    var photoUrls = !fromBot && Array.isArray(message.photos) && message.photos.length
      ? message.photos : [message.photo_url];
    photoUrls.forEach(function (url) {
      var photo = safeUrl(url, true);
      if (!photo) return;
      var img = el("img", "photo");
      img.alt = fromBot ? "Photo" : "Your photo";
      // Its height is known only once loaded: follow the conversation down again then, or
      // the reply and its buttons below it end up under the fold on a phone.
      img.addEventListener("load", function () { afterAdd(false); });
      img.src = photo;
      bubble.appendChild(img);
    });

    var links = Array.isArray(message.links) ? message.links : [];
    var ul = null;
    links.forEach(function (link) {
      if (!link) return;
      var href = safeUrl(link.url, false);
      var title = link.title || link.url || "";
      if (!ul) { ul = el("ul", "links"); bubble.appendChild(ul); }
      var li = el("li");
      if (href) {
        var a = el("a", null, title);
        a.href = href;
        if (!/^(mailto|tel):/.test(href)) {
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          a.appendChild(el("span", "visually-hidden", " (opens in a new tab)"));
        }
        li.appendChild(a);
      } else {
        li.textContent = title;
      }
      ul.appendChild(li);
    });
    row.appendChild(bubble);

    var when = message.at ? formatTime(message.at) : null;
    if (when) {
      var meta = el("div", "meta");
      var time = el("time", null, when);
      time.dateTime = message.at;
      time.title = new Date(message.at).toLocaleString();
      meta.appendChild(time);
      row.appendChild(meta);
    }

    if (fromBot) {
      var actions = buildActions(message);
      if (actions) row.appendChild(actions);
    }
    return row;
  }

  function buildActions(message) {
    var choices = Array.isArray(message.choices) ? message.choices : [];
    var wantsLocation = message.request === "location";
    var wantsPhoto = message.request === "photo" && PHOTOS;
    if (!choices.length && !wantsLocation && !wantsPhoto) return null;
    var group = el("div", "actions");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Answers you can pick");
    choices.forEach(function (choice) {
      if (!choice || choice.id === undefined) return;
      var button = el("button", "choice", choice.label || String(choice.id));
      button.type = "button";
      button.setAttribute("data-testid", "choice");
      button.addEventListener("click", function (event) {
        submit({ choice: String(choice.id) }, choice.label || String(choice.id), event.detail === 0);
      });
      group.appendChild(button);
    });
    if (wantsLocation) {
      var share = el("button", "choice share");
      setShareLabel(share, "Share my location");
      share.type = "button";
      share.setAttribute("data-testid", "share-location");
      share.addEventListener("click", function (event) { shareLocation(share, event.detail === 0); });
      group.appendChild(share);
    }
    if (wantsPhoto) {
      var attach = el("button", "choice attach", "Attach photo");
      attach.type = "button";
      attach.setAttribute("data-testid", "attach-photo");
      var picker = el("input", "visually-hidden");
      picker.type = "file";
      picker.accept = "image/*";
      picker.tabIndex = -1;
      picker.setAttribute("aria-hidden", "true");
      picker.addEventListener("change", function () {
        if (picker.files && picker.files[0]) attachPhoto(picker.files[0]);
        picker.value = "";
      });
      attach.addEventListener("click", function () { picker.click(); });
      group.appendChild(attach);
      group.appendChild(picker);
    }
    return group;
  }

  // A map-pin icon drawn inline (no emoji font needed), then the label text.
  function setShareLabel(button, text) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7zm0 9.5A2.5 2.5 0 1 1 12 6.5a2.5 2.5 0 0 1 0 5z");
    svg.appendChild(path);
    button.replaceChildren(svg, document.createTextNode(text));
  }

  function atBottom() {
    return log.scrollHeight - log.scrollTop - log.clientHeight <= STICK_PX;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    lastTop = log.scrollTop;
    stick = true;
    if (jump) jump.hidden = true;
  }

  function afterAdd(force) {
    if (force || stick) scrollToEnd();
    else if (jump) jump.hidden = false;
  }

  // Adds messages not shown yet, in id order; returns how many were new.
  function addMessages(messages, opts) {
    var added = 0;
    (messages || []).forEach(function (message) {
      if (!message || typeof message.id !== "number" || rendered.has(message.id)) return;
      if (message.from === "resident" && pending) removePending();
      var row = messageRow(message);
      if (message.id > lastId) {
        if (pending && pending.parentNode === log) log.insertBefore(row, pending);
        else log.appendChild(row);
        lastId = message.id;
      } else {
        // Out of order (rare): before the first shown message with a larger id.
        var next = null;
        rendered.forEach(function (other, id) {
          if (id > message.id && (!next || id < Number(next.getAttribute("data-id")))) next = other;
        });
        log.insertBefore(row, next);
      }
      rendered.set(message.id, row);
      added++;
    });
    if (added) {
      refreshActions();
      updatePlaceholder();
      afterAdd(opts && opts.force);
    }
    return added;
  }

  // The composer says what the bot is waiting for: a place, an answer, or any question.
  function updatePlaceholder() {
    var rows = log.querySelectorAll(".row:not(.pending)");
    var last = rows.length ? rows[rows.length - 1] : null;
    var text = "Type your question…";
    if (last && !last.classList.contains("from-resident")) {
      if (last.querySelector(".share")) text = "Type the address or cross streets…";
      else if (last.querySelector(".actions")) text = "Type your answer, or tap one above…";
    }
    input.placeholder = text;
  }

  // Only the newest bot turn (after the resident's last stored message) keeps its buttons;
  // older ones are removed, so every visible "choice" button is one that still applies.
  function refreshActions() {
    var rows = log.querySelectorAll(".row:not(.stale):not(.pending)");
    var active = null;
    for (var i = rows.length - 1; i >= 0; i--) {
      if (rows[i].classList.contains("from-resident")) break;
      if (rows[i].querySelector(".actions")) { active = rows[i]; break; }
    }
    var groups = log.querySelectorAll(".actions");
    for (var j = 0; j < groups.length; j++) {
      if (active !== null && groups[j].parentNode === active) setGroupDisabled(groups[j], busy);
      else groups[j].parentNode.removeChild(groups[j]);
    }
  }

  function setGroupDisabled(group, disabled) {
    var buttons = group.querySelectorAll("button");
    for (var k = 0; k < buttons.length; k++) {
      if (!buttons[k].hasAttribute("data-working")) buttons[k].disabled = disabled;
    }
  }

  function notice(text, opts) {
    opts = opts || {};
    var p = el("div", "notice" + (opts.kind ? " notice-" + opts.kind : ""));
    p.setAttribute("data-testid", "notice");
    if (opts.kind === "error") p.setAttribute("role", "alert");
    p.appendChild(el("span", null, text));
    if (opts.retry) {
      var again = el("button", "notice-action", opts.retryLabel || "Try again");
      again.type = "button";
      again.setAttribute("data-testid", "notice-retry");
      again.addEventListener("click", function () {
        if (p.parentNode) p.parentNode.removeChild(p);
        opts.retry();
      });
      p.appendChild(again);
    }
    if (pending && pending.parentNode === log) log.insertBefore(p, pending);
    else log.appendChild(p);
    afterAdd(true);
    return p;
  }

  // preview: an object URL of a photo being sent, shown small in the "sending…" bubble.
  function showPending(label, preview) {
    removePending();
    var row = el("div", "row from-resident pending");
    row.appendChild(el("span", "visually-hidden", "Sending:"));
    var bubble = el("div", "bubble", label);
    bubble.setAttribute("data-testid", "msg-pending");
    bubble.setAttribute("data-from", "resident");
    if (preview) {
      var img = el("img", "photo preview");
      img.src = preview;
      img.alt = "";
      bubble.appendChild(img);
    }
    row.appendChild(bubble);
    var meta = el("div", "meta", "Sending…");
    row.appendChild(meta);
    row.setAttribute("aria-hidden", "true");   // announced once stored, not twice
    pending = row;
    log.appendChild(row);
    scrollToEnd();
  }

  function removePending() {
    if (pending && pending.parentNode) pending.parentNode.removeChild(pending);
    pending = null;
  }

  function setTyping(on, text) {
    if (!typing) return;
    typing.hidden = !on;
    if (typingText) typingText.textContent = text || "311 is typing…";
  }

  /* ---------------------------------------------------------------- session */

  function newSession(reason) {
    if (sessionPromise) return sessionPromise;
    closeEvents();
    sessionPromise = api("POST", "/api/chat/session", {}, false).then(function (data) {
      if (!data || typeof data.token !== "string") throw new HttpError(500, "The chat could not start.");
      setToken(data.token);
      // An earlier conversation stays on screen, but its buttons no longer apply.
      var old = log.querySelectorAll(".row");
      for (var i = 0; i < old.length; i++) old[i].classList.add("stale");
      if (reason === "expired" && rendered.size) {
        notice("Your earlier chat had expired, so a new one has started.", { kind: "info" });
      }
      rendered.clear();
      lastId = 0;
      addMessages(data.messages, { force: true });
      refreshActions();
      openEvents();
    }).finally(function () {
      sessionPromise = null;
    });
    return sessionPromise;
  }

  function loadHistory() {
    return api("GET", "/api/chat/history").then(function (data) {
      addMessages(data.messages, { force: true });
      openEvents();
    });
  }

  function start() {
    var attempt = getToken()
      ? loadHistory().catch(function (error) {
          if (error instanceof HttpError && error.status === 401) return newSession("unknown");
          throw error;
        })
      : newSession("first");
    return attempt.catch(function (error) {
      var why = error instanceof NetworkError
        ? "The chat can't reach the city's server right now."
        : error.message;
      notice(why + " You can also call 311.", { kind: "error", retry: start });
    });
  }

  /* ---------------------------------------------------------------- live updates */

  function closeEvents() {
    if (events) { events.onmessage = null; events.onerror = null; events.close(); }
    events = null;
    if (eventsTimer) { clearTimeout(eventsTimer); eventsTimer = null; }
  }

  function openEvents() {
    closeEvents();
    if (!window.EventSource) return;
    var source = new EventSource("/api/chat/events?after=" + encodeURIComponent(String(lastId)));
    events = source;
    source.onopen = function () { eventsRetry = 0; };
    source.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      addMessages([message]);
    };
    source.onerror = function () {
      // A dropped connection is retried by the browser itself; a refused one (401,
      // server down at connect time) closes the source for good, so resynchronise.
      if (source.readyState === 2 /* CLOSED */ && events === source) scheduleResync();
    };
  }

  function scheduleResync() {
    closeEvents();
    var delay = Math.min(60000, 2000 * Math.pow(2, eventsRetry++));
    eventsTimer = setTimeout(resync, delay);
  }

  function resync() {
    eventsTimer = null;
    if (!getToken()) { newSession("unknown").catch(scheduleResync); return; }
    api("GET", "/api/chat/history").then(function (data) {
      addMessages(data.messages);
      openEvents();
    }, function (error) {
      if (error instanceof HttpError && error.status === 401) {
        newSession("expired").catch(scheduleResync);
      } else {
        scheduleResync();
      }
    });
  }

  window.addEventListener("online", function () {
    if (!events && !sessionPromise && getToken()) { eventsRetry = 0; resync(); }
  });

  /* ---------------------------------------------------------------- sending */

  function postMessage(path, payload, timeoutMs) {
    var sessionRenewed = false;
    function attempt(n) {
      return api("POST", path, payload, true, timeoutMs).catch(function (error) {
        if (error instanceof HttpError && error.status === 401 && !sessionRenewed) {
          sessionRenewed = true;
          return newSession("expired").then(function () {
            if (pending) log.appendChild(pending);   // keep "sending…" last
            return attempt(n);
          });
        }
        if (retryable(error) && n < RETRY_DELAYS_MS.length) {
          setTyping(true, "Connection problem. Trying again…");
          if (n === 0) announce("Connection problem. Trying again.");
          return sleep(RETRY_DELAYS_MS[n]).then(function () { return attempt(n + 1); });
        }
        throw error;
      });
    }
    return attempt(0);
  }

  // Sends one message; resolves to true once the server has stored it.
  function submit(fields, label, byKeyboard, clientId) {
    var payload = { client_id: clientId || uuid() };
    Object.keys(fields).forEach(function (k) { payload[k] = fields[k]; });
    return deliver("/api/chat/messages", payload, { label: label, byKeyboard: byKeyboard });
  }

  // One request in flight at a time, with its "sending…" bubble; retried (same client id,
  // so the server records it once) while the connection is the problem.
  function deliver(path, payload, opts) {
    if (busy) return Promise.resolve(false);
    busy = true;
    var byKeyboard = opts.byKeyboard;
    updateComposer();
    refreshActions();
    showPending(opts.label, opts.preview);
    setTyping(true);
    return postMessage(path, payload, opts.timeoutMs).then(function (data) {
      removePending();
      addMessages(data.messages, { force: true });
      return true;
    }, function (error) {
      removePending();
      var message = error instanceof NetworkError || retryable(error)
        ? (opts.lostMessage || "Your message could not be sent: the connection to the city's server was lost. Please try again.")
        : error.message;
      notice(message, { kind: "error", retry: opts.retry && retryable(error) ? opts.retry : null });
      return false;
    }).then(function (ok) {
      busy = false;
      setTyping(false);
      updateComposer();
      refreshActions();
      var active = document.activeElement;
      if (byKeyboard && (!active || active === body || !isVisible(active))) input.focus();
      return ok;
    });
  }

  function isVisible(node) {
    return !!(node.offsetWidth || node.offsetHeight || node.getClientRects().length);
  }

  function sendText() {
    var text = input.value;
    if (busy || !text.trim() || charCount(text) > MAX) return;
    var clientId = lastFailed && lastFailed.text === text ? lastFailed.clientId : uuid();
    input.value = "";
    updateComposer();
    submit({ text: text }, text, false, clientId).then(function (ok) {
      if (ok) {
        lastFailed = null;
        return;
      }
      // Nothing typed is lost: put it back (ahead of anything typed since).
      lastFailed = { text: text, clientId: clientId };
      input.value = input.value ? text + "\n" + input.value : text;
      updateComposer();
    });
  }

  function shareLocation(button, byKeyboard) {
    if (busy) return;
    function refused(why) {
      button.removeAttribute("data-working");
      setShareLabel(button, "Share my location");
      refreshActions();
      notice(why + " Please type the address or the nearest cross streets instead.", { kind: "info" });
      if (byKeyboard) input.focus();
    }
    if (!navigator.geolocation || !window.isSecureContext) {
      refused("This browser can't share your location from this page.");
      return;
    }
    button.setAttribute("data-working", "");
    button.disabled = true;
    setShareLabel(button, "Finding your location…");
    navigator.geolocation.getCurrentPosition(function (position) {
      button.removeAttribute("data-working");
      setShareLabel(button, "Share my location");
      var lat = Math.round(position.coords.latitude * 1e6) / 1e6;
      var lon = Math.round(position.coords.longitude * 1e6) / 1e6;
      submit({ location: { lat: lat, lon: lon } }, "Shared my location", byKeyboard);
    }, function (error) {
      if (error && error.code === 1) refused("Your location was not shared.");
      else refused("Your location could not be found.");
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  // Checked here first (type and size) so a resident on a slow connection does not wait
  // for a refusal; the server checks the content again, whatever the browser says.
  function attachPhoto(file, clientId) {
    if (busy || !file) return Promise.resolve(false);
    if (file.type && PHOTO_TYPES.indexOf(file.type) < 0) {
      notice("That file isn't a photo I can take. Please choose a JPEG, PNG or WebP picture.", { kind: "error" });
      return Promise.resolve(false);
    }
    var limit = MAX_PHOTO_MB * 1024 * 1024;
    if (file.size > limit) {
      notice("That photo is " + (file.size / 1048576).toFixed(1) + " MB; the limit is " +
        MAX_PHOTO_MB + " MB. Please choose a smaller photo.", { kind: "error" });
      return Promise.resolve(false);
    }
    var id = clientId || uuid();
    var upload = new FormData();
    upload.append("client_id", id);
    upload.append("photo", file, file.name || "photo");
    var preview = window.URL && URL.createObjectURL ? URL.createObjectURL(file) : null;
    return deliver("/api/chat/photos", upload, {
      label: "Photo",
      preview: preview,
      timeoutMs: UPLOAD_TIMEOUT_MS,
      lostMessage: "Your photo could not be sent: the connection to the city's server was lost.",
      retry: function () { attachPhoto(file, id); }
    }).then(function (ok) {
      if (preview) URL.revokeObjectURL(preview);
      return ok;
    });
  }

  /* ---------------------------------------------------------------- composer */

  function autosize() {
    input.style.height = "auto";
    var cs = window.getComputedStyle(input);
    var border = (parseFloat(cs.borderTopWidth) || 0) + (parseFloat(cs.borderBottomWidth) || 0);
    input.style.height = (input.scrollHeight + border) + "px";
  }

  function updateComposer() {
    var text = input.value;
    var n = charCount(text);
    var over = n > MAX;
    sendButton.disabled = busy || !text.trim() || over;
    if (over) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (counter) {
      if (n >= NEAR) {
        counter.hidden = false;
        counter.textContent = over
          ? (n - MAX).toLocaleString() + " characters over the " + MAX.toLocaleString() + " limit"
          : n.toLocaleString() + " / " + MAX.toLocaleString();
        counter.classList.toggle("over", over);
      } else {
        counter.hidden = true;
        counter.textContent = "";
      }
    }
    var band = over ? "over" : n >= NEAR ? "near" : "";
    if (band !== counterBand) {
      counterBand = band;
      if (band === "over") announce("Your message is longer than " + MAX.toLocaleString() + " characters. Please shorten it.");
      else if (band === "near") announce((MAX - n).toLocaleString() + " characters left.");
    }
    autosize();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendText();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      sendText();
    }
  });
  input.addEventListener("input", updateComposer);

  // Only the resident scrolling up stops the following. A scroll event can also come after
  // content grew (a photo getting its height once loaded): judged by position alone, that
  // read as "not at the bottom any more" and left the reply under a new photo below the fold.
  log.addEventListener("scroll", function () {
    var top = log.scrollTop;
    if (top < lastTop - 1) stick = atBottom();
    else if (atBottom()) stick = true;
    lastTop = top;
    if (stick && jump) jump.hidden = true;
  }, { passive: true });

  if (jump) jump.addEventListener("click", function () { scrollToEnd(); });

  // Keep the newest message in view when the screen changes size (phone keyboard opening).
  if (window.ResizeObserver) {
    new ResizeObserver(function () { if (stick) log.scrollTop = log.scrollHeight; }).observe(log);
  }

  updateComposer();
  start();
})();
