// board.js: the live board. The page works without it; with it the board
// stays current over /board/ws, posts its forms in place, shows personal
// details on request and sets the box's clock from the tablet. The DOM is
// built from cloned <template>s and textContent, never from HTML strings.
"use strict";
(() => {
  const doc = document;
  const $ = (s, root = doc) => root.querySelector(s);
  const $$ = (s, root = doc) => Array.from(root.querySelectorAll(s));
  doc.documentElement.classList.add("js");
  const printButton = $("[data-print]");
  if (printButton) printButton.addEventListener("click", () => window.print());
  const main = $("#board");
  if (!main) return;

  const csrf = $('meta[name="csrf-token"]').content;
  const L = JSON.parse(main.dataset.labels); // {"rs.new": ["Ny", "new"]}
  const ROLES = $$("#roles option").map(o => o.value);
  const URGENCIES = ["low", "normal", "high", "life-threatening"];
  const tz = { timeZone: "Europe/Stockholm", hour: "2-digit", minute: "2-digit" };
  const hhmm = new Intl.DateTimeFormat("sv-SE", tz);
  const ymdhm = new Intl.DateTimeFormat("sv-SE", { ...tz, year: "numeric", month: "2-digit", day: "2-digit" });
  const S = {}; // the sections, as the hub last sent them

  const el = (tag, cls, text) => {
    const e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };
  // lab: a value's words, Swedish and then English in a grey span.
  const lab = (kind, value) => {
    const l = L[kind + "." + value] || [value || "", ""];
    return l[1] ? [l[0] + " ", el("span", "en", l[1])] : [l[0]];
  };
  const hlcDate = h => new Date(String(h || "").split("/")[0]); // "2026-11-24T05:44:00.123Z/3"
  const clock = h => { // HH:MM, or – for a time the box could not know
    const d = h instanceof Date ? h : hlcDate(h);
    return d.getUTCFullYear() >= 2025 ? hhmm.format(d) : "–";
  };
  const datetime = s => (s ? ymdhm.format(new Date(s)) : "");
  const mins = m => {
    const d = Math.round(m);
    return d < 60 ? `${d} min` : `${Math.floor(d / 60)} h` + (d % 60 ? ` ${d % 60} min` : "");
  };
  const excerpt = (s, n) => {
    const r = Array.from(String(s || "").trim().split(/\s+/).join(" "));
    return r.length > n ? r.slice(0, n - 1).join("").trim() + "…" : r.join("");
  };
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  // backdated: recorded well after it happened (a paper record typed in).
  const backdated = (occurred, recorded) => !!occurred && Math.abs(hlcDate(recorded) - new Date(occurred)) > 60000;

  // fill sets root's [data-k] elements: a boolean shows or hides one, text
  // or nodes fill it (and show it).
  function fill(root, values) {
    for (const [name, v] of Object.entries(values)) {
      const e = $(`[data-k="${name}"]`, root);
      if (!e) continue;
      if (typeof v === "boolean") {
        e.hidden = !v;
        continue;
      }
      e.hidden = false;
      if (Array.isArray(v)) e.replaceChildren(...v);
      else e.textContent = v ?? "";
    }
  }
  const options = (list, values) => list.replaceChildren(...values.map(v => Object.assign(el("option"), { value: v })));
  const more = (id, n) => {
    $(id).hidden = n <= 0;
    $(id + " span").textContent = n;
  };

  // sync makes list's children the rows of items, in order: a row already
  // there is kept (with what is typed in it), a new one cloned.
  function sync(list, items, key, template, fillRow) {
    const old = new Map($$(":scope > [data-key]", list).map(e => [e.dataset.key, e]));
    let prev = null;
    for (const it of items) {
      let row = old.get(key(it));
      if (row) old.delete(key(it));
      else {
        row = $(template).content.firstElementChild.cloneNode(true);
        row.dataset.key = key(it);
      }
      fillRow(row, it);
      const at = prev ? prev.nextElementSibling : list.firstElementChild;
      if (row !== at) list.insertBefore(row, at);
      prev = row;
    }
    old.forEach(e => e.remove());
    return items.length;
  }

  // The panels, as the server renders them.
  const R = {
    point() { $("#point-name").textContent = S.point.name || "Trygghetspunkt"; },
    activation() {
      const a = S.activation, box = $("#activation-note");
      if (!box) return;
      box.hidden = !a;
      if (!a) return;
      const p = $("p", box);
      const [sv, en] = a.state === "exercise" ? ["ÖVNING: punkten körs som övning", "Exercise"]
        : a.state === "activated" ? ["Aktiverad av kommunen", "Activated by the municipality"] : ["Inte aktiverad", "Not activated"];
      p.className = "activation activation-" + a.state;
      p.replaceChildren(sv + " ", el("span", "en", en), a.note ? " · " + a.note : "");
    },
    counts() { $$("[data-count]").forEach(e => { e.textContent = S.counts[e.dataset.count] ?? 0; }); },
    power() {
      const p = S.power, box = $("#power .pw");
      if (!box) return;
      const t = String(p.state || "").split(/\s+/);
      let key = "unknown", cls = "unknown";
      if (p.source_ok && p.state) {
        [key, cls] = t.includes("OL") ? ["OL", "ok"] : t.includes("GEN") ? ["GEN", "warn"] : t.includes("LB") ? ["LB", "bad"] : ["OB", "warn"];
      }
      const lo = p.runtime_minutes_low, hi = p.runtime_minutes_high, left = p.runtime_minutes;
      box.className = "pw pw-" + cls;
      fill(box, {
        state: lab("pw", key), charging: t.includes("CHRG"), lost: !p.source_ok, critical: !!p.critical,
        percent: p.battery_percent != null ? Math.round(p.battery_percent) + " %" : "–",
        left: left != null ? "≈ " + mins(left) : "–",
        band: left != null && lo != null && hi != null && hi - lo >= 10 ? `${mins(lo)}–${mins(hi)}` : "",
        fuel: p.generator_hours != null ? "≈ " + mins(p.generator_hours * 60) : "–", source: p.source,
        why: !p.source_ok && !!p.source_problem,
      });
      // Set apart: fill would unhide the reason's box for an empty reason.
      if (!p.source_ok && p.source_problem) $('[data-k="reason"]', box.parentElement).textContent = p.source_problem;
    },
    link() {
      const l = S.link, out = lab("lk", !l.configured ? "none" : l.online ? "online" : "offline");
      if (l.configured && l.last_sync) out.push(" · senast ", el("span", "en", "last sync"), " " + datetime(l.last_sync));
      if (l.configured && l.backlog != null) out.push(` · ${l.backlog} i kö `, el("span", "en", "queued"));
      fill($("#link"), { link: out, problem: !!l.problem });
      if (l.problem) $('[data-k="problem"]', $("#link")).replaceChildren("Synken har stoppats. ", el("span", "en", "Sync stopped:"), " " + l.problem);
    },
    clock() {
      S.now = S.clock.ok ? Date.parse(S.clock.minute) : 0;
      $("#clock-now").textContent = S.now ? clock(new Date(S.now)) : "–";
      $("#clock").hidden = !!S.now;
      if (S.announcements) R.announcements();
    },
    services() {
      for (const s of S.services) {
        const li = $(`#services li[data-key="${CSS.escape(s.name)}"]`);
        if (!li) continue;
        li.className = "svc svc-" + s.status;
        fill(li, { status: lab("ss", s.status), note: s.note || "" });
        $$(".seg button", li).forEach(b => b.setAttribute("aria-pressed", String(b.value === s.status)));
        const note = $("input[name=note]", li);
        if (note && note !== doc.activeElement) note.value = s.note || "";
      }
    },
    reports() {
      const cd = new Set(S.calldown || []), fs = $("#f-status").value, fu = $("#f-urgency").value;
      // As the server: open first, most urgent first, then longest waiting
      // (the hub sends recorded order; sort is stable).
      const shown = (S.reports || []).filter(r => (!fu || r.urgency === fu) &&
        (fs === "" ? r.status !== "resolved" : fs === "all" || r.status === fs))
        .sort((a, b) => (a.status === "resolved") - (b.status === "resolved") ||
          URGENCIES.indexOf(b.urgency) - URGENCIES.indexOf(a.urgency));
      const n = sync($("#queue"), shown, r => r.id, "#t-report", (li, r) => {
        li.className = `report urg-${r.urgency} st-${r.status}` + (cd.has(r.id) ? " calldown" : "");
        fill(li, {
          urgency: lab("urg", r.urgency), status: lab("rs", r.status), category: lab("cat", r.category),
          recorded: clock(r.recorded), calldown: cd.has(r.id), text: r.text, place: r.place, receipt: r.receipt,
          assigned: !!r.assignee, assignee: r.assignee,
          comments: (r.comments || []).map(c => {
            const e = el("li");
            e.append(el("time", "", clock(c.at)), ` ${c.author || ""}: ${c.text}`);
            return e;
          }),
        });
        $$("[data-show]", li).forEach(b => { b.hidden = !b.dataset.show.split(" ").includes(r.status); });
        $$("form[data-a]", li).forEach(f => { f.action = `/board/reports/${encodeURIComponent(r.id)}/${f.dataset.a}`; });
      });
      $("#queue-empty").hidden = n > 0;
      $("#queue-count").textContent = n;
    },
    checkins() {
      // Each household's latest, newest first: needing help, then the rest.
      const all = S.checkins, at = new Map();
      all.forEach((c, i) => at.set(c.household, i));
      const latest = all.filter((c, i) => at.get(c.household) === i).reverse();
      const rest = latest.filter(c => c.status !== "needs_help");
      const shown = latest.filter(c => c.status === "needs_help").concat(rest.slice(0, 40));
      sync($("#checkin-list"), shown, c => c.household, "#t-checkin", (li, c) => {
        li.className = "ci ci-" + c.status;
        fill(li, {
          household: c.household, size: String(c.size), status: lab("ci", c.status),
          need: c.need !== "none" && lab("need", c.need), recorded: clock(c.recorded),
          paper: backdated(c.occurred_at, c.recorded), occurred: datetime(c.occurred_at),
        });
        const b = $(".personal-btn", li);
        if (!b) return;
        if (b.dataset.id !== c.id) hidePersonal(li);
        b.dataset.id = c.id;
        b.hidden = !c.has_personal;
      });
      more("#checkin-more", rest.length - 40);
      $("#checkin-empty").hidden = latest.length > 0;
    },
    roster() {
      const list = S.roster.slice().sort((a, b) => b.on_duty - a.on_duty || cmp(a.role, b.role) || cmp(a.person, b.person));
      const n = sync($("#roster-list"), list, p => p.person, "#t-roster", (li, p) => {
        li.className = "ro" + (p.on_duty ? " on" : "");
        fill(li, { person: p.person, role: p.role, duty: lab("duty", p.on_duty ? "on" : "off"), changed: clock(p.changed) });
      });
      $("#roster-empty").hidden = n > 0;
      const persons = list.map(p => p.person);
      options($("#persons"), persons);
      options($("#people"), [...new Set(persons.concat(ROLES))]);
    },
    journal() {
      const byID = new Map(S.journal.map(j => [j.id, j])), newest = S.journal.slice().reverse();
      sync($("#journal-list"), newest.slice(0, 30), j => j.id, "#t-journal", (li, j) => {
        const fixes = byID.get(j.corrects), fixedBy = (j.corrected_by || []).map(id => byID.get(id)).filter(Boolean);
        li.className = "j" + (fixedBy.length ? " fixed" : "") + (fixes ? " fix" : "");
        fill(li, {
          recorded: clock(j.recorded), by: j.by, when: backdated(j.occurred_at, j.recorded), occurred: datetime(j.occurred_at),
          fixes: !!fixes, "fixes-what": fixes ? `${clock(fixes.recorded)} ”${excerpt(fixes.text, 60)}”` : "", text: j.text,
          fixedby: fixedBy.length > 0, "fixedby-when": fixedBy.map(f => clock(f.recorded)).join(", "),
        });
      });
      more("#journal-more", newest.length - 30);
      $("#journal-empty").hidden = newest.length > 0;
      const sel = $("#j-corrects");
      if (sel && sel !== doc.activeElement) {
        const v = sel.value;
        sel.replaceChildren(sel.options[0], ...newest.slice(0, 20).map(j =>
          Object.assign(el("option", "", `${clock(j.recorded)} ${excerpt(j.text, 50)}`), { value: j.id })));
        sel.value = byID.has(v) ? v : "";
      }
    },
    inventory() {
      const n = sync($("#inv-list"), S.inventory, i => i.item, "#t-item", (tr, i) => {
        tr.className = i.is_low ? "low" : "";
        fill(tr, {
          item: i.item, qty: `${i.quantity} ${i.unit || ""}`, low: i.low ? String(i.low) : "", "low-mark": i.is_low,
          counted: clock(i.counted), by: i.by ? " · " + i.by : "",
        });
      });
      $("#inv-empty").hidden = n > 0;
    },
    announcements() {
      // As the server: not withdrawn, not past; all while the clock is wrong.
      const list = S.announcements.filter(a => !a.withdrawn && (!a.valid_until || !S.now || S.now < Date.parse(a.valid_until)));
      const n = sync($("#ann-list"), list, a => a.id, "#t-ann", (art, a) => {
        const t = a.title || {}, b = a.body || {};
        art.className = "ann sev-" + a.severity;
        fill(art, {
          title: t.sv, "title-en": t.en || false, body: b.sv || false, severity: lab("sev", a.severity),
          published: clock(a.published), until: !!a.valid_until, "until-at": datetime(a.valid_until),
        });
      });
      $("#ann-empty").hidden = n > 0;
    },
  };
  R.calldown = R.reports;

  function apply(sections) {
    Object.assign(S, sections);
    const done = new Set();
    for (const name of ["clock", ...Object.keys(sections)]) { // times first
      const f = R[name];
      if (!f || done.has(f) || S[name] == null) continue;
      done.add(f);
      try { f(); } catch (e) { console.error("board: section", name, e); }
    }
  }

  // A snapshot, then deltas numbered one by one; a gap (or a heartbeat with
  // another number) asks for a snapshot again. Silence for 60 s or a closed
  // socket: reconnect after 1 s doubling to 30 s, with jitter.
  let ws = null, seq = null, last = 0, backoff = 1000, timer = 0, failures = 0;
  const setState = s => { $("#live").dataset.state = s; };
  function connect() {
    const sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/board/ws");
    seq = null;
    last = Date.now();
    sock.onmessage = e => {
      if (sock !== ws) return;
      last = Date.now();
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m.type === "snapshot") {
        seq = m.seq;
        backoff = 1000;
        failures = 0;
        for (const name of Object.keys(S)) delete S[name];
        apply(m.sections || {});
        setState("live");
      } else if (seq !== null && m.seq !== seq + (m.type === "delta" ? 1 : 0)) {
        seq = null; // ignore what comes until the snapshot
        sock.send(JSON.stringify({ type: "resync" }));
      } else if (seq !== null && m.type === "delta") {
        seq = m.seq;
        apply(m.sections || {});
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
    if (++failures === 3) { // logged out? then to the login page
      fetch("/api/staff/state", { cache: "no-store" }).then(r => {
        if (r.status === 401) location.assign("/login?next=%2Fboard");
      }, () => {});
    }
  }
  setInterval(() => { if (ws && Date.now() - last > 60000) lost(); }, 5000);

  // The chart is drawn on the server: fetch a fresh one now and then.
  setInterval(async () => {
    const old = $("#power-chart");
    if (!old || doc.hidden) return;
    try {
      const r = await fetch("/board", { cache: "no-store" });
      const fresh = new DOMParser().parseFromString(await r.text(), "text/html").getElementById("power-chart");
      if (r.ok && fresh) old.replaceWith(doc.importNode(fresh, true));
    } catch { /* the next time */ }
  }, 600000);

  const flashP = $("#flash");
  let flashTimer = 0;
  function flash(text, bad) {
    flashP.textContent = text;
    flashP.className = "flash" + (bad ? " bad" : "");
    flashP.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashP.hidden = true; }, bad ? 10000 : 2500);
  }

  // Forms post in place (the token as a header too); the websocket then
  // brings the change.
  main.addEventListener("submit", async e => {
    const f = e.target;
    if (f.method !== "post") return;
    e.preventDefault();
    if (f.id === "clock-form") f.elements.now_ms.value = String(Date.now());
    const body = new URLSearchParams(new FormData(f, e.submitter)), buttons = $$("button", f);
    buttons.forEach(b => { b.disabled = true; });
    try {
      const r = await fetch(f.action, { method: "POST", body, headers: { "X-CSRF-Token": csrf }, redirect: "manual", cache: "no-store" });
      if (r.type === "opaqueredirect" || r.ok) {
        flash("Sparat. / Saved.");
        if (!f.closest(".svc")) f.reset();
        [...$$("details", f), f.closest("details")].forEach(d => { if (d) d.open = false; });
      } else {
        // The error: on the board a form answers with, or JSON.
        const text = await r.text();
        let msg = new DOMParser().parseFromString(text, "text/html").querySelector(".error[role=alert]")?.textContent;
        try { msg = msg || JSON.parse(text).error; } catch { /* not JSON */ }
        flash(msg || `Fel ${r.status} / error ${r.status}`, true);
      }
    } catch {
      flash("Kunde inte skicka: ingen kontakt med boxen. / Could not send: no connection to the box.", true);
    } finally {
      buttons.forEach(b => { b.disabled = false; });
    }
  });

  // The queue's filter works in place; the address keeps it.
  const filter = $("#report-filter");
  filter.addEventListener("change", () => {
    const q = new URLSearchParams(Array.from(new FormData(filter)).filter(([, v]) => v));
    history.replaceState(null, "", "/board" + (q.size ? "?" + q : "") + "#reports");
    if (S.reports) R.reports();
    else location.reload();
  });
  filter.addEventListener("submit", e => { e.preventDefault(); });

  // Personal details: fetched on request, hidden after two minutes.
  function hidePersonal(li) {
    const dl = $("dl.personal", li);
    fill(dl, { name: "", contact: "", details: "" });
    dl.hidden = true;
    $(".personal-btn", li).setAttribute("aria-expanded", "false");
  }
  main.addEventListener("click", async e => {
    const b = e.target.closest(".personal-btn");
    if (!b) return;
    const li = b.closest("li"), dl = $("dl.personal", li);
    if (!dl.hidden) return hidePersonal(li);
    b.disabled = true;
    try {
      const r = await fetch(`/api/staff/checkins/${encodeURIComponent(b.dataset.id)}/personal`, { cache: "no-store" });
      const d = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(d.error || r.status);
      fill(dl, { name: d.name || "–", contact: d.contact || "–", details: d.details || "–" });
      dl.hidden = false;
      b.setAttribute("aria-expanded", "true");
      clearTimeout(b.hideTimer);
      b.hideTimer = setTimeout(() => hidePersonal(li), 120000);
    } catch (err) {
      flash("Kunde inte hämta uppgifterna: " + err.message, true);
    } finally {
      b.disabled = false;
    }
  });

  connect();
})();
