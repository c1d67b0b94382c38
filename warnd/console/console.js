/* warnd operator console: one state document from the daemon, drawn as a map, a timeline and
   panels, kept live by a server-sent event stream. Plain JavaScript, no build step.

   Every string that comes from a feed, a warning or an operator is inserted as text (the `el`
   helper never sets HTML): a feed's headline must never become markup on this page. */
"use strict";

(function () {
  // The PNG maps' palette (warnd/maps/style.py), so that the page and the images agree.
  const rgb = (r, g, b) => `rgb(${r}, ${g}, ${b})`;
  const RED = rgb(215, 25, 28);
  const ORANGE = rgb(253, 141, 60);
  const YELLOW = rgb(254, 217, 118);
  const GREEN = rgb(120, 198, 121);
  const PALE = rgb(255, 255, 178);
  const COLOURS = {
    sea: rgb(170, 200, 222),
    land: rgb(239, 236, 226),
    provinceBorder: rgb(120, 120, 118),
    regencyBorder: rgb(150, 148, 140),
    warnedBorder: rgb(90, 60, 50),
    epicentre: rgb(12, 12, 12),
    gauge: rgb(30, 60, 160),
    capArea: rgb(110, 40, 140),
    simulated: rgb(200, 0, 120),
  };
  // Worst first within each scale, as the PNG legend orders them.
  const SCALES = {
    tsunami: {
      title: "Peringatan tsunami",
      levels: [["awas", "Awas", RED], ["siaga", "Siaga", ORANGE], ["waspada", "Waspada", YELLOW]],
    },
    gauge: {
      title: "Status siaga",
      levels: [["siaga1", "Siaga 1", RED], ["siaga2", "Siaga 2", ORANGE], ["siaga3", "Siaga 3", YELLOW], ["siaga4", "Siaga 4", GREEN]],
    },
    severity: {
      title: "Tingkat bahaya",
      levels: [["extreme", "Ekstrem", RED], ["severe", "Berat", ORANGE], ["moderate", "Sedang", YELLOW], ["minor", "Ringan", PALE]],
    },
    mmi: {
      title: "Perkiraan guncangan (MMI)",
      levels: [
        ["8", "VIII atau lebih", rgb(165, 0, 38)], ["7", "VII", RED], ["6", "VI", rgb(244, 109, 67)],
        ["5", "V", ORANGE], ["4", "IV", YELLOW], ["3", "III atau kurang", PALE],
      ],
    },
    plain: { title: "Wilayah", levels: [["warned", "Wilayah peringatan", rgb(240, 110, 70)]] },
  };
  const STATE_LABELS = { pending: "queued", retry: "retrying", in_flight: "sending", sent: "sent", dead: "dead", dropped: "dropped" };

  const session = { user: null, csrf: null, auth: "users", twoPerson: true };
  let state = null;
  let map = null;
  let basemap = null; // {layer, byCode: Map(code -> feature), byName: Map(name -> feature)}
  let warnedLayer = null;
  let simLayer = null;
  let simRegions = [];
  let drawnKey = "";
  let newestEvent = null; // the event the view last went to
  let newestNews = null; // the newest warning's id (or event's, before any warning)
  let stream = null;
  let retryTimer = null;
  const openDetails = new Set();
  const drawn = new Map(); // renderer -> the input it last drew

  // --- small helpers ------------------------------------------------------------------------

  const $ = (sel) => document.querySelector(sel);

  /** An element with properties (never markup) and children (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (/html/i.test(k)) throw new Error(`el: ${k} is not allowed: text goes in as text`);
      if (k === "class") node.className = v;
      else if (k === "dataset") {
        for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) node.dataset[dk] = dv;
      }
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === "href" || k === "src") node.setAttribute(k, safeUrl(v));
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  /** Links come from the store (a remote post's URL, a map path): only http(s) and this site's paths. */
  function safeUrl(u) {
    const s = String(u);
    if (s.startsWith("/") && !s.startsWith("//")) return s;
    try {
      const parsed = new URL(s);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : "#";
    } catch (e) {
      return "#";
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function when(stamp) {
    if (!stamp) return "";
    const d = new Date(stamp);
    if (isNaN(d)) return String(stamp);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const s = Math.round(seconds);
    if (s < 120) return `${s} s ago`;
    if (s < 7200) return `${Math.round(s / 60)} min ago`;
    return `${Math.round(s / 3600)} h ago`;
  }

  function flash(message, isError) {
    const box = $("#flash");
    box.textContent = message;
    box.className = isError ? "error" : "ok";
    box.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { box.hidden = true; }, isError ? 15000 : 5000);
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body !== undefined) {
      opts.method = opts.method || "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(opts.body);
    }
    if (session.csrf && opts.method === "POST") opts.headers["X-CSRF-Token"] = session.csrf;
    const res = await fetch(path, opts);
    let doc = null;
    try {
      doc = await res.json();
    } catch (e) {
      doc = null;
    }
    if (!res.ok) {
      const err = new Error((doc && doc.error) || `${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return doc;
  }

  /** An action after the operator confirms it; the server's answer (or error) is shown. */
  async function act(name, body, question) {
    if (question && !window.confirm(question)) return null;
    try {
      const got = await api(`/console/api/action/${name}`, { body });
      flash((got && got.message) || `${name}: done`, false);
      return got;
    } catch (e) {
      flash(`${name}: ${e.message}`, true);
      if (e.status === 401) showLogin();
      return null;
    }
  }

  // --- login --------------------------------------------------------------------------------

  async function start() {
    let me;
    try {
      me = await api("/console/api/me");
    } catch (e) {
      flash(`the daemon does not answer: ${e.message}`, true);
      setTimeout(start, 3000);
      return;
    }
    session.auth = me.auth;
    session.twoPerson = me.two_person;
    if (me.user) {
      session.user = me.user;
      session.csrf = me.csrf;
      showConsole();
    } else {
      showLogin(me.demo_login);
    }
  }

  function showLogin(demo) {
    stopStream();
    session.user = null;
    session.csrf = null;
    $("#console").hidden = true;
    $("#who").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
    if (session.auth === "proxy") {
      $("#login-error").textContent = "The proxy in front of the console did not name a user.";
      $("#login-form button").disabled = true;
      return;
    }
    if (demo) {
      $("#login-user").value = demo.user;
      $("#login-password").value = demo.password;
      $("#demo-note").hidden = false;
    }
  }

  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#login-error").textContent = "";
    try {
      const got = await api("/console/login", { body: { user: $("#login-user").value, password: $("#login-password").value } });
      session.user = got.user;
      session.csrf = got.csrf;
      $("#login-password").value = "";
      showConsole();
    } catch (e) {
      $("#login-error").textContent = e.message;
    }
  });

  $("#logout").addEventListener("click", async () => {
    try {
      await api("/console/logout", { method: "POST" });
    } catch (e) {
      flash(`logout: ${e.message}`, true);
    }
    $("#login-user").value = "";
    $("#demo-note").hidden = true;
    showLogin(null);
  });

  function showConsole() {
    drawn.clear();
    drawnKey = "";
    $("#login").hidden = true;
    $("#console").hidden = false;
    $("#user").textContent = session.user;
    $("#who").hidden = false;
    $("#logout").hidden = session.auth === "proxy";
    $("#two-person").textContent = session.twoPerson
      ? "Two-person rule: a bulletin goes out once another operator approves it."
      : "The author's own approval is enough here (two-person rule off).";
    ensureMap();
    loadFormats();
    openStream();
  }

  // --- the live stream ------------------------------------------------------------------------

  function setStream(up, text) {
    const s = $("#stream");
    s.textContent = text;
    s.className = up ? "stream up" : "stream down";
    s.dataset.up = up ? "1" : "0";
  }

  function stopStream() {
    if (stream) stream.close();
    stream = null;
    clearTimeout(retryTimer);
  }

  function openStream() {
    stopStream();
    setStream(false, "connecting…");
    const source = new EventSource("/console/api/stream");
    stream = source;
    source.addEventListener("open", () => setStream(true, "live"));
    source.addEventListener("state", (msg) => {
      setStream(true, "live");
      try {
        render(JSON.parse(msg.data));
      } catch (e) {
        flash(`could not show the state: ${e.message}`, true);
      }
    });
    source.addEventListener("error", () => {
      setStream(false, "live updates down: reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (a refused session, a daemon restart answering an error): ask who
        // we are, then open a new stream; the page keeps the last state meanwhile.
        retryTimer = setTimeout(async () => {
          try {
            const me = await api("/console/api/me");
            if (!me.user) return showLogin(me.demo_login);
            session.csrf = me.csrf;
            openStream();
          } catch (e) {
            openStream();
          }
        }, 2000);
      }
    });
  }

  // --- rendering ----------------------------------------------------------------------------

  function render(doc) {
    state = doc;
    $("#node").textContent = doc.node ? `node ${doc.node}` : "";
    const st = doc.status || {};
    // Each part is drawn again only when what it shows changed: the state changes at every feed
    // poll, and a button rebuilt under the operator's pointer would lose their click.
    const steps = [
      [renderMap, () => null],
      [renderTimeline, () => [doc.events, doc.warnings, doc.decisions]],
      [renderHealth, () => [st.health, st.generation, st.events, st.error, Math.round((st.uptime_s || 0) / 60)]],
      [renderFeeds, () => st.feeds],
      [renderAccounts, () => doc.accounts],
      [renderPartners, () => doc.partners],
      [renderSubscriptions, () => doc.subscriptions],
      [renderCluster, () => st.cluster],
      [renderReload, () => [st.last_reload, st.config_refused]],
      [renderNotices, () => st.notices],
      [renderSilences, () => st.silences],
      [renderBulletins, () => [doc.bulletins, session.user, session.twoPerson]],
    ];
    for (const [step, input] of steps) {
      try {
        const key = JSON.stringify(input());
        if (key !== "null" && drawn.get(step) === key) continue;
        drawn.set(step, key);
        step(doc);
      } catch (e) {
        // One panel's trouble must not blank the others (a warning must stay visible).
        console.error(step.name, e);
      }
    }
    document.body.dataset.stateAt = doc.now || "";
  }

  // --- map ----------------------------------------------------------------------------------

  function ensureMap() {
    if (map) return;
    // No tile layer: the basemap is the daemon's own region outlines, so it works offline.
    map = L.map("map", { zoomControl: true, attributionControl: false, preferCanvas: false }).setView([-2.5, 118], 5);
    // The outlines lie in a pane of their own under every warning's shape (Leaflet's overlay
    // pane is at z-index 400).
    map.createPane("basemap").style.zIndex = 350;
    warnedLayer = L.layerGroup().addTo(map);
    simLayer = L.layerGroup().addTo(map);
    // Whether the view is still moving (a tool or a test waits for it to settle).
    const box = $("#map");
    map.on("movestart zoomstart", () => { box.dataset.moving = "1"; });
    map.on("moveend", () => { delete box.dataset.moving; });
    loadBasemap();
  }

  async function loadBasemap() {
    try {
      const fc = await api("/console/api/basemap");
      const byCode = new Map();
      const byName = new Map();
      for (const f of fc.features || []) {
        const p = f.properties || {};
        byCode.set(String(p.code), f);
        byName.set(placeKey(p.name), f);
      }
      const layer = L.geoJSON(fc, {
        pane: "basemap",
        interactive: false,
        style: (f) => {
          const p = f.properties;
          const province = p.level ? p.level === "province" : !String(p.code).includes(".");
          return {
            color: province ? COLOURS.provinceBorder : COLOURS.regencyBorder,
            weight: province ? 1.2 : 0.7,
            fillColor: COLOURS.land,
            fillOpacity: province ? 1 : 0,
          };
        },
      }).addTo(map);
      basemap = { layer, byCode, byName };
      $("#map").dataset.basemap = String(byCode.size);
      // Views are set without animation: Leaflet ignores a new view asked for while a zoom
      // animation runs, and a new event's view must not be lost to the one before it.
      if (fc.features && fc.features.length) map.fitBounds(layer.getBounds(), { animate: false });
      drawnKey = "";
      if (state) {
        renderMap(state);
        if (newestEvent) focusEvent(newestEvent);
      }
      // A simulation answered before the outlines arrived is drawn now.
      if (simRegions.length) drawSimulated(simRegions);
    } catch (e) {
      // Without outlines no warned region can be drawn: keep asking.
      flash(`basemap: ${e.message} (trying again)`, true);
      setTimeout(loadBasemap, 5000);
    }
  }

  function placeKey(name) {
    return String(name || "").toLowerCase().replace(/^(kabupaten|kab\.|kota|provinsi)\s+/, "").replace(/[^a-z0-9]/g, "");
  }

  function levelFromKey(key) {
    if (key === null || key === undefined) return null;
    const raw = String(key).trim();
    const mmi = raw.match(/^MMI\s*([0-9.]+)/i);
    if (mmi) {
      const n = Math.min(8, Math.max(3, Math.round(parseFloat(mmi[1]))));
      return levelOn("mmi", String(n));
    }
    const k = raw.toLowerCase().replace(/\s+/g, "");
    for (const scale of ["tsunami", "gauge", "severity"]) {
      const found = levelOn(scale, k);
      if (found) return found;
    }
    return null;
  }

  function levelOn(scale, key) {
    const levels = SCALES[scale].levels;
    const i = levels.findIndex((lv) => lv[0] === key);
    return i < 0 ? null : { scale, key, label: levels[i][1], colour: levels[i][2], rank: i };
  }

  /** A warned region's level: its own note (a tsunami zone's level, "MMI 5"), its level, or the warning's. */
  function regionLevel(region, warning) {
    return levelFromKey(region.note) || levelFromKey(region.level) || levelFromKey(warning && warning.level) || levelOn("plain", "warned");
  }

  function worse(a, b) {
    if (!a) return b;
    if (!b) return a;
    if (a.scale === b.scale) return a.rank <= b.rank ? a : b;
    return a.scale === "plain" ? b : a;
  }

  function regionShape(code, style, className) {
    if (!basemap) return null;
    const f = basemap.byCode.get(String(code));
    if (!f) return null;
    const layer = L.geoJSON(f, { style: () => Object.assign({ className }, style) });
    return layer;
  }

  function renderMap(doc) {
    if (!map) return;
    const key = JSON.stringify([doc.events, doc.warnings.map((w) => [w.id, w.regions, w.account, w.deliveries.map((d) => d.state)]), !!basemap]);
    if (key === drawnKey) return;
    drawnKey = key;
    warnedLayer.clearLayers();
    const used = new Set();
    const byEvent = new Map();
    for (const w of doc.warnings) {
      if (!byEvent.has(w.event_id)) byEvent.set(w.event_id, []);
      byEvent.get(w.event_id).push(w);
    }
    // One shape per region: its worst level over every warning that named it, and the accounts.
    const regions = new Map();
    for (const w of doc.warnings) {
      for (const r of w.regions || []) {
        const lv = regionLevel(r, w);
        const cur = regions.get(r.code) || { code: r.code, name: r.name, level: null, notes: new Set(), warnings: [] };
        cur.level = worse(cur.level, lv);
        if (r.note) cur.notes.add(r.note);
        cur.warnings.push(w);
        regions.set(r.code, cur);
      }
    }
    for (const r of regions.values()) {
      const shape = regionShape(r.code, {
        color: COLOURS.warnedBorder, weight: 1.2, fillColor: r.level.colour, fillOpacity: 0.85,
      }, `warned-region level-${r.level.key}`);
      if (!shape) continue;
      used.add(`${r.level.scale}:${r.level.key}`);
      shape.bindPopup(() => regionPopup(r));
      shape.addTo(warnedLayer);
      tagPaths(shape, { code: r.code, level: r.level.key, scale: r.level.scale, colour: r.level.colour });
    }
    for (const ev of doc.events) drawEvent(ev, regions, used);
    renderLegend(used);
    // The view follows the newest news: the event of the newest warning (a correction of an
    // older quake too), else the newest event.
    const latest = doc.warnings.length ? doc.warnings[0] : null;
    const news = latest ? latest.id : doc.events.length ? doc.events[0].id : null;
    if (news && news !== newestNews) {
      newestNews = news;
      newestEvent = latest ? latest.event_id : doc.events[0].id;
      focusEvent(newestEvent);
    }
    $("#map").dataset.warnedRegions = [...regions.keys()].join(" ");
  }

  function tagPaths(layer, data) {
    layer.eachLayer((l) => {
      const node = l.getElement && l.getElement();
      if (node) Object.assign(node.dataset, data);
    });
  }

  function regionPopup(r) {
    const accounts = [...new Set(r.warnings.map((w) => w.account))];
    return el("div", { class: "popup" },
      el("strong", {}, r.name || r.code), " ", el("span", { class: "muted" }, r.code),
      el("div", {}, `${SCALES[r.level.scale].title}: ${r.level.label}`),
      r.notes.size ? el("div", {}, [...r.notes].join(", ")) : null,
      el("div", {}, "Accounts: ", accounts.join(", ")),
      el("ul", {}, r.warnings.slice(0, 6).map((w) => el("li", {}, `${w.account} · ${w.kind} · ${w.event_id}`))));
  }

  function drawEvent(ev, regions, used) {
    if (ev.area) {
      L.geoJSON(ev.area, { style: () => ({ className: "cap-area", color: COLOURS.capArea, weight: 2, dashArray: "6 4", fillOpacity: 0.08 }) })
        .bindPopup(() => eventPopup(ev)).addTo(warnedLayer);
      used.add("cap-area");
    }
    // A tsunami's zones by name, where no warning already coloured that region.
    for (const z of ev.zones || []) {
      const f = basemap && (basemap.byName.get(placeKey(z.district)) || (!z.district && basemap.byName.get(placeKey(z.province))));
      const lv = levelFromKey(z.level);
      if (!f || !lv || regions.has(String(f.properties.code))) continue;
      const shape = regionShape(f.properties.code, { color: COLOURS.warnedBorder, weight: 1, fillColor: lv.colour, fillOpacity: 0.7 }, `zone level-${lv.key}`);
      if (shape) {
        shape.bindPopup(() => el("div", {}, el("strong", {}, `${z.district || z.province}`), el("div", {}, `${lv.label}${z.eta ? ` · ETA ${z.eta}` : ""}`)));
        shape.addTo(warnedLayer);
        used.add(`${lv.scale}:${lv.key}`);
      }
    }
    if (ev.lat === null || ev.lat === undefined || ev.lon === null || ev.lon === undefined) return;
    if (ev.hazard === "earthquake" || ev.magnitude !== null && ev.magnitude !== undefined) {
      const m = Number(ev.magnitude) || 0;
      const marker = L.circleMarker([ev.lat, ev.lon], {
        className: "epicentre", radius: Math.max(4, 3 + m * 2.2), color: COLOURS.epicentre, weight: 2, fillColor: COLOURS.epicentre, fillOpacity: 0.25,
      }).bindPopup(() => eventPopup(ev)).addTo(warnedLayer);
      tagPaths(L.layerGroup([marker]), { event: ev.id });
      used.add("epicentre");
    } else {
      const lv = levelFromKey(ev.level);
      const marker = L.circleMarker([ev.lat, ev.lon], {
        className: ev.hazard === "flood" ? "gauge" : "point", radius: 7, color: COLOURS.gauge, weight: 2,
        fillColor: lv ? lv.colour : COLOURS.gauge, fillOpacity: 0.9,
      }).bindPopup(() => eventPopup(ev)).addTo(warnedLayer);
      tagPaths(L.layerGroup([marker]), { event: ev.id });
      used.add("gauge");
      if (lv) used.add(`${lv.scale}:${lv.key}`);
    }
  }

  function eventPopup(ev) {
    const rows = [
      ["hazard", ev.hazard], ["magnitude", ev.magnitude !== null && ev.magnitude !== undefined ? `M${ev.magnitude}` : null],
      ["depth", ev.depth_km !== null && ev.depth_km !== undefined ? `${ev.depth_km} km` : null],
      ["level", ev.level], ["stage", ev.stage], ["value", ev.value !== null && ev.value !== undefined ? `${ev.value} ${ev.unit || ""}` : null],
      ["time", when(ev.time)], ["feed", ev.feed], ["status", ev.status], ["ended", ev.ended ? "yes" : null],
    ];
    return el("div", { class: "popup" },
      el("strong", {}, ev.headline || ev.place || ev.id),
      ev.place && ev.headline ? el("div", {}, ev.place) : null,
      el("table", {}, rows.filter((r) => r[1] !== null && r[1] !== undefined && r[1] !== "").map((r) => el("tr", {}, el("th", {}, r[0]), el("td", {}, r[1])))),
      el("div", { class: "muted" }, ev.id));
  }

  function focusEvent(eventId) {
    if (!map || !state) return;
    const bounds = L.latLngBounds([]);
    const ev = state.events.find((e) => e.id === eventId);
    if (ev && ev.lat !== null && ev.lat !== undefined && ev.lon !== null && ev.lon !== undefined) bounds.extend([ev.lat, ev.lon]);
    for (const w of state.warnings) {
      if (w.event_id !== eventId) continue;
      for (const r of w.regions || []) {
        const f = basemap && basemap.byCode.get(String(r.code));
        if (f) bounds.extend(L.geoJSON(f).getBounds());
      }
    }
    if (bounds.isValid()) map.fitBounds(bounds.pad(0.6), { maxZoom: 8, animate: false });
  }

  function renderLegend(used) {
    const box = clear($("#legend"));
    for (const [name, scale] of Object.entries(SCALES)) {
      const shown = scale.levels.filter((lv) => used.has(`${name}:${lv[0]}`));
      if (!shown.length) continue;
      box.append(el("div", { class: "legend-title" }, scale.title));
      for (const [key, label, colour] of shown) {
        box.append(el("div", { class: "legend-row", dataset: { scale: name, level: key, colour } },
          swatch(colour), label));
      }
    }
    const marks = [
      ["epicentre", "Pusat gempa (size: magnitude)", COLOURS.epicentre],
      ["gauge", "Pos pantau / titik", COLOURS.gauge],
      ["cap-area", "Area CAP", COLOURS.capArea],
      ["simulated", "Simulasi (not sent)", COLOURS.simulated],
    ];
    for (const [key, label, colour] of marks) {
      if (used.has(key) || (key === "simulated" && simRegions.length)) {
        box.append(el("div", { class: `legend-row mark-${key}`, dataset: { level: key, colour } }, swatch(colour, key), label));
      }
    }
    box.hidden = !box.firstChild;
  }

  function swatch(colour, kind) {
    const s = el("span", { class: `swatch ${kind || ""}` });
    s.style.background = kind === "epicentre" || kind === "simulated" || kind === "cap-area" ? "transparent" : colour;
    s.style.borderColor = colour;
    return s;
  }

  function drawSimulated(regions) {
    simRegions = regions || [];
    if (!simLayer) return;
    simLayer.clearLayers();
    for (const r of simRegions) {
      const lv = regionLevel(r, null);
      const shape = regionShape(r.code, {
        color: COLOURS.simulated, weight: 3, dashArray: "6 5", fillColor: lv.colour, fillOpacity: 0.5,
      }, `simulated-region level-${lv.key}`);
      if (!shape) continue;
      shape.bindPopup(() => el("div", {}, el("strong", {}, `Simulated: ${r.name || r.code}`), el("div", {}, lv.label), r.note ? el("div", {}, r.note) : null));
      shape.addTo(simLayer);
      tagPaths(shape, { code: r.code, level: lv.key, simulated: "1" });
    }
    drawnKey = "";
    if (state) renderMap(state);
    const b = L.featureGroup(simLayer.getLayers());
    if (simRegions.length && b.getBounds().isValid()) map.fitBounds(b.getBounds().pad(0.6), { maxZoom: 8, animate: false });
  }

  // --- timeline -----------------------------------------------------------------------------

  function renderTimeline(doc) {
    const list = $("#timeline");
    for (const d of list.querySelectorAll("details[data-key]")) {
      if (d.open) openDetails.add(d.dataset.key);
      else openDetails.delete(d.dataset.key);
    }
    const groups = new Map();
    const group = (id) => {
      if (!groups.has(id)) groups.set(id, { id, event: null, warnings: [], decisions: [], latest: "" });
      return groups.get(id);
    };
    const later = (g, t) => { if (t && String(t) > g.latest) g.latest = String(t); };
    for (const ev of doc.events) { const g = group(ev.id); g.event = ev; later(g, ev.time); }
    for (const w of doc.warnings) { const g = group(w.event_id); g.warnings.push(w); later(g, w.created_at); }
    for (const d of doc.decisions || []) { const g = group(d.event_id); g.decisions.push(d); later(g, d.at); }
    const ordered = [...groups.values()].sort((a, b) => (a.latest < b.latest ? 1 : a.latest > b.latest ? -1 : 0));
    clear(list);
    for (const g of ordered) list.append(timelineEntry(g));
    if (!ordered.length) list.append(el("li", { class: "muted" }, "No events yet."));
  }

  function timelineEntry(g) {
    const ev = g.event;
    const title = ev ? (ev.headline || ev.place || ev.id) : g.id;
    const facts = ev ? [ev.hazard, ev.magnitude !== null && ev.magnitude !== undefined ? `M${ev.magnitude}` : null,
      ev.depth_km !== null && ev.depth_km !== undefined ? `${ev.depth_km} km deep` : null, ev.level, ev.status, when(ev.time)].filter(Boolean) : [];
    const item = el("li", { class: "event", dataset: { event: g.id } },
      el("div", { class: "event-head" },
        el("button", { type: "button", class: "link", title: "show on the map", on: { click: () => focusEvent(g.id) } }, title),
        el("span", { class: "muted" }, facts.join(" · "))),
      el("div", { class: "muted small" }, g.id));
    const warnings = g.warnings.slice().sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    for (const w of warnings) item.append(warningEntry(w));
    if (g.decisions.length) {
      const key = `dec:${g.id}`;
      const d = el("details", { class: "decisions", dataset: { key }, open: openDetails.has(key) },
        el("summary", {}, `Decisions (${g.decisions.length})`));
      for (const dec of g.decisions.slice().sort((a, b) => (a.at < b.at ? 1 : -1))) {
        d.append(el("div", { class: "decision" }, el("div", { class: "muted" }, `${when(dec.at)} · ${dec.change}${dec.node ? ` · ${dec.node}` : ""}`),
          el("ul", {}, (dec.rules || []).map(ruleLine))));
      }
      item.append(d);
    }
    return item;
  }

  function ruleLine(r) {
    if (r.fired) {
      const bits = [`posts: ${(r.posts || []).join(", ") || "none"}`];
      if (r.regions && r.regions.length) bits.push(`regions: ${r.regions.join(", ")}`);
      if (r.unmapped_zones && r.unmapped_zones.length) bits.push(`unmapped zones: ${r.unmapped_zones.join(", ")}`);
      const held = (r.held || []).map((h) => `${h.account}: ${h.reason}${h.detail ? ` (${h.detail})` : ""}`);
      return el("li", { class: "fired" }, el("strong", {}, `${r.rule} fired`), ` — ${bits.join("; ")}`,
        held.length ? el("div", { class: "muted" }, `held: ${held.join("; ")}`) : null);
    }
    return el("li", { class: "skipped" }, `${r.rule} did not fire: ${r.reason}`, r.detail ? ` — ${r.detail}` : "");
  }

  function warningEntry(w) {
    const box = el("div", { class: `warning${w.life_safety ? " life-safety" : ""}`, dataset: { warning: w.id, account: w.account, kind: w.kind, bulletin: w.bulletin ? w.bulletin.id : undefined } },
      el("div", { class: "warning-head" },
        el("strong", {}, w.account), ` · ${[w.kind, w.level, `rule ${w.rule}`, when(w.created_at)].filter(Boolean).join(" · ")}`,
        w.life_safety ? el("span", { class: "badge life" }, "life safety") : null,
        w.status && w.status !== "actual" ? el("span", { class: "badge exercise" }, w.status) : null,
        w.bulletin ? el("span", { class: "badge bulletin" }, `bulletin ${w.bulletin.id} by ${w.bulletin.author}, approved by ${w.bulletin.approver || "—"}`) : null),
      el("div", { class: "warning-body" },
        w.map ? el("a", { href: w.map, target: "_blank", rel: "noopener", class: "thumb" },
          el("img", { src: w.map, alt: `map of warning ${w.id}`, loading: "lazy", on: { error: (e) => { e.target.parentNode.classList.add("missing"); } } })) : null,
        el("pre", { class: "warning-text" }, w.text)),
      el("table", { class: "deliveries" }, (w.deliveries || []).map((d) => deliveryRow(d, w))));
    if (w.regions && w.regions.length) {
      box.append(el("div", { class: "muted small" }, "Regions: ",
        w.regions.map((r) => `${r.name || r.code}${r.note ? ` (${r.note})` : ""}`).join(", ")));
    }
    return box;
  }

  function deliveryRow(d, w) {
    const label = STATE_LABELS[d.state] || d.state;
    const detail = [];
    if (d.state === "sent") {
      if (d.url) detail.push(el("a", { href: d.url, target: "_blank", rel: "noopener", class: "post-link" }, "post"));
      if (d.sent_at) detail.push(` ${when(d.sent_at)}`);
    } else if (d.state === "retry") {
      detail.push(`attempt ${d.attempts}: ${d.last_error || d.reason || ""}`);
      if (d.next_attempt_at) detail.push(` · next ${when(d.next_attempt_at)}`);
    } else if (d.state === "dead") {
      detail.push(`${d.reason || ""}${d.last_error ? `: ${d.last_error}` : ""}`);
    } else if (d.state === "pending" && d.next_attempt_at) {
      detail.push(`due ${when(d.next_attempt_at)}`);
    }
    const buttons = [];
    if (["pending", "retry", "dead"].includes(d.state)) {
      buttons.push(el("button", { type: "button", class: "retry", on: { click: () => act("delivery/retry", { id: d.id }, `Send delivery ${d.id} to ${d.target} now?`) } }, "retry"));
    }
    if (["pending", "retry", "dead"].includes(d.state) && (!w.life_safety || d.state === "dead")) {
      buttons.push(el("button", { type: "button", class: "drop", on: { click: () => dropDelivery(d) } }, "drop"));
    }
    return el("tr", { class: `delivery state-${d.state}`, dataset: { delivery: d.id, state: d.state, target: d.target } },
      el("td", {}, d.target), el("td", {}, el("span", { class: `badge state-${d.state}` }, label)), el("td", {}, detail), el("td", {}, buttons));
  }

  async function dropDelivery(d) {
    const reason = window.prompt(`Drop delivery ${d.id} to ${d.target}? It will not be sent. Why?`);
    if (reason === null) return;
    await act("delivery/drop", { id: d.id, reason }, null);
  }

  // --- panels -------------------------------------------------------------------------------

  function fillTable(selector, rows) {
    const body = clear($(`${selector} tbody`));
    for (const r of rows) body.append(r);
    if (!rows.length) {
      const cols = $(`${selector} thead tr`).children.length;
      body.append(el("tr", {}, el("td", { colSpan: cols, class: "muted" }, "none")));
    }
  }

  function renderHealth(doc) {
    const st = doc.status || {};
    const h = st.health || {};
    const box = clear($("#health"));
    box.append(el("div", { class: `health ${h.status || ""}`, dataset: { health: h.status || "" } }, `health: ${h.status || "unknown"}`),
      el("div", { class: "muted" }, `generation ${st.generation ?? "?"} · up ${ago(st.uptime_s).replace(" ago", "")} · events ${st.events ?? "?"} · at ${when(doc.now)}`));
    if (h.reasons && h.reasons.length) box.append(el("ul", {}, h.reasons.map((r) => el("li", {}, r.message || r.detail || JSON.stringify(r)))));
    if (st.error) box.append(el("div", { class: "error" }, st.error));
  }

  function renderFeeds(doc) {
    const feeds = (doc.status && doc.status.feeds) || [];
    fillTable("#feeds", feeds.map((f) => el("tr", { dataset: { feed: f.feed, health: f.health } },
      el("td", {}, f.feed),
      el("td", {}, el("span", { class: `badge health-${String(f.health).replace(/\s+/g, "-")}` }, f.health === "ok" ? "fresh" : f.health)),
      el("td", {}, f.last_ok ? `${when(f.last_ok)} (${ago(f.age_s)})` : "never"),
      el("td", {}, when(f.last_change)),
      el("td", {}, f.failures ? `${f.failures}: ${f.last_error || ""}` : "", f.notice ? el("div", { class: "muted" }, f.notice) : null))));
  }

  function renderAccounts(doc) {
    const rows = [];
    for (const a of doc.accounts || []) {
      for (const t of a.targets || [{ target: a.name }]) {
        const held = t.held_until && new Date(t.held_until) > new Date(doc.now || Date.now());
        const status = t.disabled ? `disabled${t.reason ? `: ${t.reason}` : ""}` : held ? `held until ${when(t.held_until)}${t.reason ? ` (${t.reason})` : ""}` : "ok";
        rows.push(el("tr", { dataset: { target: t.target } },
          el("td", {}, a.name, el("div", { class: "muted small" }, `${a.lang || ""} · ${(a.regions || []).join(", ")}`)),
          el("td", {}, t.target),
          el("td", { class: t.disabled || held ? "warn" : "" }, status),
          el("td", {}, t.budget_left === null || t.budget_left === undefined ? "" : String(t.budget_left)),
          el("td", {}, t.disabled || held ? el("button", { type: "button", on: { click: () => act("account/enable", { target: t.target }, `Enable ${t.target} again (lift its ${t.disabled ? "disable" : "hold"})?`) } }, "enable") : null)));
      }
    }
    fillTable("#accounts", rows);
  }

  function renderPartners(doc) {
    fillTable("#partners", (doc.partners || []).map((p) => el("tr", {},
      el("td", {}, p.name), el("td", {}, (p.accounts || []).join(", ")),
      el("td", {}, Object.entries(p.queue || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")))));
  }

  function renderSubscriptions(doc) {
    fillTable("#subscriptions", (doc.subscriptions || []).map((s) => el("tr", { class: s.state === "paused" ? "warn" : "" },
      el("td", {}, s.id), el("td", {}, s.partner),
      el("td", {}, s.state, s.paused_reason ? ` (${s.paused_reason})` : ""),
      el("td", {}, (s.accounts || []).join(", ")),
      el("td", {}, `hazards ${(s.hazards || ["all"]).join(", ")}; min level ${s.min_level || "any"}; ${s.format}`),
      el("td", {}, `${s.url} · ${s.contact} (asked ${s.requested_at} from ${s.requested_from})`),
      el("td", {},
        s.state === "pending" || s.state === "paused"
          ? el("button", { type: "button", on: { click: () => act("subscription/approve", { id: s.id }, `${s.state === "paused" ? "Resume" : "Approve"} subscription ${s.id} (${s.partner}, ${s.url})? Warnings of ${(s.accounts || []).join(", ")} will be pushed to it.`) } }, s.state === "paused" ? "resume" : "approve")
          : null,
        el("button", { type: "button", on: { click: () => act("subscription/revoke", { id: s.id }, `Revoke subscription ${s.id} (${s.partner})? Nothing more is sent to it and what waits for it is dropped.`) } }, "revoke"),
        s.lane && (s.lane.disabled || s.lane.held_until)
          ? el("button", { type: "button", on: { click: () => act("account/enable", { target: s.lane.target }, `Enable ${s.lane.target} again (lift its ${s.lane.disabled ? "disable" : "hold"}${s.lane.reason ? `: ${s.lane.reason}` : ""})?`) } }, "enable")
          : null))));
  }

  function renderCluster(doc) {
    const c = (doc.status && doc.status.cluster) || { nodes: [] };
    fillTable("#cluster", (c.nodes || []).map((n) => el("tr", { class: n.role === "gone" ? "warn" : "" },
      el("td", {}, n.node, n.leader ? el("span", { class: "badge" }, "leader") : null),
      el("td", {}, n.role), el("td", {}, `${n.host || ""} ${n.pid ? `pid ${n.pid}` : ""}`),
      el("td", {}, ago(n.heartbeat_age_s)), el("td", {}, ago(n.up_s).replace(" ago", "")))));
  }

  function renderReload(doc) {
    const st = doc.status || {};
    const box = clear($("#reload"));
    const r = st.last_reload;
    box.append(el("div", {}, r ? `last reload ${when(r.at)}: ${r.ok ? "applied" : "rejected"} (generation ${r.generation ?? "?"})` : "not reloaded since start"));
    if (r && r.problems && r.problems.length) box.append(el("ul", { class: "error" }, r.problems.map((p) => el("li", {}, p))));
    if (st.config_refused) box.append(el("div", { class: "error" }, `the configuration on disk is refused: ${JSON.stringify(st.config_refused)}`));
  }

  function renderNotices(doc) {
    const list = clear($("#notices"));
    const notices = (doc.status && doc.status.notices) || [];
    for (const n of notices) {
      list.append(el("li", { class: `notice ${n.severity || ""}` }, el("strong", {}, `${n.kind}${n.subject ? ` (${n.subject})` : ""}`), `: ${n.message}`,
        el("span", { class: "muted" }, ` since ${when(n.since)}`)));
    }
    if (!notices.length) list.append(el("li", { class: "muted" }, "none"));
  }

  function renderSilences(doc) {
    const silences = (doc.status && doc.status.silences) || [];
    fillTable("#silences", silences.map((s) => el("tr", { dataset: { silence: s.id } },
      el("td", {}, String(s.id)), el("td", {}, s.rule || ""), el("td", {}, s.account || ""), el("td", {}, s.region || ""),
      el("td", {}, when(s.until)), el("td", {}, s.reason || ""),
      // Silences from the store have numeric ids ("4"); those planned in the configuration
      // ("config#0") end only by editing it.
      el("td", {}, /^\d+$/.test(String(s.id)) ? el("button", { type: "button", on: { click: () => act("silence/expire", { id: Number(s.id) }, `Expire silence ${s.id} now?`) } }, "expire")
        : el("span", { class: "muted small" }, "in the configuration")))));
  }

  $("#silence-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const body = { minutes: parseInt(f.minutes.value, 10), reason: f.reason.value };
    for (const k of ["rule", "account", "region"]) if (f[k].value.trim()) body[k] = f[k].value.trim();
    const scope = ["rule", "account", "region"].filter((k) => body[k]).map((k) => `${k} ${body[k]}`).join(", ") || "(nothing named)";
    const got = await act("silence/add", body, `Silence ${scope} for ${body.minutes} minutes? Life-safety posts still go out.`);
    if (got) f.reset();
  });

  // --- simulate -----------------------------------------------------------------------------

  let formatsLoaded = false;
  async function loadFormats() {
    if (formatsLoaded) return;
    try {
      const got = await api("/console/api/formats");
      const list = Array.isArray(got) ? got : got.formats || [];
      const select = clear($("#sim-format"));
      for (const f of list) {
        const name = typeof f === "string" ? f : f.name || f.format;
        const desc = typeof f === "string" ? "" : f.description || "";
        select.append(el("option", { value: name, title: desc }, desc ? `${name} — ${desc}` : name));
      }
      formatsLoaded = true;
    } catch (e) {
      flash(`formats: ${e.message}`, true);
    }
  }

  // The document's file name, when it came from a file (chosen or dropped): the format is
  // guessed from it as `warnd simulate` guesses it from a path.
  let simName;
  $("#sim-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (file) { $("#sim-document").value = await file.text(); simName = file.name; }
  });
  $("#sim-document").addEventListener("input", () => { simName = undefined; });
  // A recorded document dropped on the text area (or anywhere on the form) is read into it.
  const form = $("#simulate-form");
  // Only files are taken over: text dragged into the text area is dropped there as usual.
  const carriesFiles = (ev) => !!ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
  form.addEventListener("dragover", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    form.classList.add("dropping");
  });
  form.addEventListener("dragleave", (ev) => { if (!form.contains(ev.relatedTarget)) form.classList.remove("dropping"); });
  form.addEventListener("drop", async (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    form.classList.remove("dropping");
    const file = ev.dataTransfer.files[0];
    if (!file) return;
    $("#sim-document").value = await file.text();
    simName = file.name;
    flash(`read ${file.name} (${file.size} bytes): press Simulate`);
  });

  $("#sim-clear").addEventListener("click", () => { drawSimulated([]); clear($("#sim-result")); });

  $("#simulate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = clear($("#sim-result"));
    const name = simName;
    try {
      const got = await api("/console/api/action/simulate", { body: { document: $("#sim-document").value, format: $("#sim-format").value, name } });
      const posts = got.posts || [];
      out.append(el("p", { class: "note" }, `${posts.length} post(s) would be made. Nothing was sent. `,
        el("button", { type: "button", class: "link", on: { click: () => $("#map").scrollIntoView({ behavior: "smooth" }) } }, "Show the regions on the map (dashed)")));
      for (const p of posts) {
        out.append(el("div", { class: `warning simulated${p.life_safety ? " life-safety" : ""}`, dataset: { account: p.account } },
          el("div", { class: "warning-head" }, el("strong", {}, p.account), ` · ${p.kind} · to ${(p.targets || []).join(", ")}`,
            p.life_safety ? el("span", { class: "badge life" }, "life safety") : null),
          el("pre", { class: "warning-text" }, p.text),
          el("div", { class: "muted small" }, "Regions: ", (p.regions || []).map((r) => (typeof r === "string" ? r : r.name || r.code)).join(", "))));
      }
      if (got.rejected && got.rejected.length) {
        out.append(el("div", { class: "error" }, "Rejected: ", got.rejected.map((r) => (typeof r === "string" ? r : `${r.field || ""} ${r.reason || ""} ${r.detail || r.message || ""}`.trim())).join("; ")));
      }
      if (got.explain && got.explain.length) {
        out.append(el("details", {}, el("summary", {}, "Why each rule did or did not fire"),
          got.explain.map((step) => el("div", {}, el("div", { class: "muted" }, `${step.event_id || ""} ${step.change || ""}`), el("ul", {}, (step.rules || []).map(ruleLine))))));
      }
      drawSimulated(got.map || []);
    } catch (e) {
      out.append(el("p", { class: "error" }, e.message));
    }
  });

  // --- bulletins ----------------------------------------------------------------------------

  const split = (s) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
  // Optional fields left empty are left out, not sent as empty text.
  const given = (body) => Object.fromEntries(Object.entries(body).filter(([, v]) => v !== "" && !(Array.isArray(v) && !v.length)));

  function resetBulletinForm() {
    const f = $("#bulletin-form");
    f.reset();
    f.correct_id.value = "";
    for (const k of ["hazard", "status", "accounts", "regions"]) f[k].disabled = false;
    $("#bulletin-form-title").textContent = "Write a bulletin";
    $("#bulletin-submit").textContent = "Write bulletin";
  }

  $("#bulletin-reset").addEventListener("click", resetBulletinForm);

  $("#bulletin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    let got;
    if (f.correct_id.value) {
      const body = given({ id: f.correct_id.value, text_id: f.text_id.value, text_en: f.text_en.value, headline: f.headline.value, level: f.level.value });
      got = await act("bulletin/correct", body, `Write a correction of ${body.id}? It goes out once approved.`);
    } else {
      const body = given({
        accounts: split(f.accounts.value), regions: split(f.regions.value), hazard: f.hazard.value, level: f.level.value,
        status: f.status.value, headline: f.headline.value, text_id: f.text_id.value, text_en: f.text_en.value,
      });
      const where = [...(body.accounts || []), ...(body.regions || [])].join(", ") || "(nobody named)";
      got = await act("bulletin/write", body, `Write this ${body.status} ${body.hazard} bulletin for ${where}? It goes out once approved.`);
    }
    if (got) resetBulletinForm();
  });

  function correctBulletin(b) {
    const f = $("#bulletin-form");
    f.correct_id.value = b.id;
    f.hazard.value = b.hazard || "other";
    f.status.value = b.status || "exercise";
    f.accounts.value = (b.accounts || []).join(", ");
    f.regions.value = (b.regions || []).join(", ");
    for (const k of ["hazard", "status", "accounts", "regions"]) f[k].disabled = true;
    f.level.value = b.level || "";
    f.headline.value = b.headline || "";
    f.text_id.value = b.text_id || "";
    f.text_en.value = b.text_en || "";
    $("#bulletin-form-title").textContent = `Correct ${b.id}`;
    $("#bulletin-submit").textContent = "Write correction";
    f.scrollIntoView({ behavior: "smooth" });
  }

  function renderBulletins(doc) {
    const rows = (doc.bulletins || []).map((b) => {
      const buttons = [];
      if (b.state === "pending") {
        const own = b.author === session.user && session.twoPerson;
        buttons.push(el("button", {
          type: "button", class: "approve", disabled: own, title: own ? "another operator approves" : "",
          on: { click: () => act("bulletin/approve", { id: b.id }, `Approve ${b.kind} bulletin ${b.id} (${b.status}) by ${b.author}? It goes out now.`) },
        }, "approve"));
        buttons.push(el("button", {
          type: "button", class: "reject", on: {
            click: async () => {
              const why = window.prompt(`Reject bulletin ${b.id}? Why?`);
              if (why !== null) await act("bulletin/reject", { id: b.id, why }, null);
            },
          },
        }, "reject"));
      }
      if (b.state === "approved" && b.kind !== "cancel") {
        buttons.push(el("button", { type: "button", class: "correct", on: { click: () => correctBulletin(b) } }, "correct"));
        buttons.push(el("button", {
          type: "button", class: "cancel", on: {
            click: async () => {
              const why = window.prompt(`Cancel bulletin series ${b.series || b.id}? Every account that posted it gets a cancellation once approved. Why?`);
              if (why !== null) await act("bulletin/cancel", { id: b.id, why }, null);
            },
          },
        }, "cancel"));
      }
      return el("tr", { dataset: { bulletin: b.id, state: b.state } },
        el("td", {}, el("strong", {}, b.headline || b.id), el("div", { class: "muted small" }, `${b.id} · ${b.kind}${b.series && b.series !== b.id ? ` of ${b.series}` : ""}`),
          el("div", { class: "muted small" }, [...(b.accounts || []), ...(b.regions || [])].join(", "))),
        el("td", {}, el("span", { class: `badge bulletin-${b.state}` }, b.state), b.why || b.rejected_why ? el("div", { class: "muted small" }, b.why || b.rejected_why) : null),
        el("td", {}, `${b.hazard || ""}${b.level ? ` / ${b.level}` : ""}`, el("div", { class: b.status === "exercise" ? "badge exercise" : "muted small" }, b.status)),
        el("td", {}, el("div", { class: "bulletin-text" }, b.text_id || ""), b.text_en ? el("div", { class: "bulletin-text muted" }, b.text_en) : null),
        el("td", { class: "author" }, b.author || "", el("div", { class: "muted small" }, when(b.created_at))),
        el("td", { class: "approver" }, b.approver || (b.rejected_by ? `rejected by ${b.rejected_by}` : ""), el("div", { class: "muted small" }, when(b.approved_at))),
        el("td", {}, buttons));
    });
    fillTable("#bulletins", rows);
  }

  start();
})();
