// central.js: central's situation picture, live. The pages work without
// it. With it, a websocket (/central/ws) says only that the picture
// changed (its version; a minute tick too, so the ages move on); the
// script then fetches the page's live parts with its own session (so in
// its own scope) and swaps each [data-part] for the fresh one. The forms
// are never touched: a half-typed announcement stays.
"use strict";
(() => {
  const doc = document;
  doc.documentElement.classList.add("js");
  const main = doc.querySelector("main[data-live]");
  if (!main) return;
  const src = main.dataset.live;
  let version = main.dataset.version;
  const live = doc.getElementById("live");
  const setState = s => { if (live) live.dataset.state = s; };

  // A part holding the focus (a button about to be pressed) is swapped
  // once the focus leaves it, so that nobody loses their place.
  const pending = new Map(); // id → fresh element
  doc.addEventListener("focusout", () => setTimeout(() => {
    for (const [id, fresh] of pending) {
      const old = doc.getElementById(id);
      if (old && !old.contains(doc.activeElement)) {
        old.replaceWith(fresh);
        pending.delete(id);
      }
    }
  }));
  function swap(fresh) {
    for (const part of fresh.querySelectorAll("[data-part][id]")) {
      const old = doc.getElementById(part.id);
      if (!old) continue;
      const el = doc.importNode(part, true);
      if (old.contains(doc.activeElement)) pending.set(part.id, el);
      else old.replaceWith(el);
    }
    const m = fresh.querySelector("main[data-version]");
    if (m) version = m.dataset.version;
  }

  // One fetch at a time; a change during it brings one more.
  let busy = false, again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(src, { cache: "no-store", credentials: "same-origin", redirect: "manual" });
      if (r.status === 401 || r.type === "opaqueredirect") {
        location.assign("/login?next=" + encodeURIComponent(location.pathname));
        return;
      }
      if (r.ok) swap(new DOMParser().parseFromString(await r.text(), "text/html"));
    } catch { /* the next change tries again */ }
    busy = false;
    if (again) { again = false; refresh(); }
  }

  // The hub's messages: a snapshot on connect, deltas, heartbeats. Any
  // picture section is a reason to fetch; silence for 60 s or a closed
  // socket: reconnect after 1 s doubling to 30 s, with jitter.
  let ws = null, last = 0, backoff = 1000, timer = 0;
  function connect() {
    const sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/central/ws");
    last = Date.now();
    sock.onmessage = e => {
      if (sock !== ws) return;
      last = Date.now();
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      const pic = m.sections && m.sections.picture;
      if (m.type === "snapshot") {
        backoff = 1000;
        setState("live");
        if (!pic || String(pic.version) !== String(version)) refresh();
      } else if (m.type === "delta" && pic) {
        refresh();
      }
    };
    sock.onclose = () => { if (sock === ws) lost(); };
  }
  function lost() {
    if (ws) ws.close();
    ws = null;
    setState("offline");
    if (timer) return;
    timer = setTimeout(() => { timer = 0; connect(); }, Math.min(backoff, 30000) * (0.5 + Math.random() / 2));
    backoff = Math.min(backoff * 2, 30000);
  }
  setInterval(() => { if (ws && Date.now() - last > 60000) lost(); }, 5000);
  connect();
})();
