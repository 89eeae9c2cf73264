// The dashboard's logic: every 2 s it reads /v1/services, /v1/health and /v1/dataplane with the
// token typed into the page (kept in sessionStorage, sent as Authorization: Bearer), keeps the
// last 5 minutes of each service's and real server's rates for uPlot's charts, and sends
// weight edits and drains as PATCHes of the real server. Every value reaches the DOM as text
// (textContent, attribute values): nothing from the API is parsed as HTML.
'use strict';
(() => {
  const POLL_MS = 2000;
  const HISTORY = 150;  // samples kept per chart: 5 minutes at 2 s
  const TOKEN_KEY = 'fulcrum.token';
  const DRAINED_KEY = 'fulcrum.drained.';  // + service id + ' ' + server id: the weight before draining

  const $ = (id) => document.getElementById(id);
  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  const setText = (e, text) => { if (e.textContent !== String(text)) e.textContent = String(text); };

  const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
  async function api(method, url, body) {
    const headers = {};
    if (token()) headers.authorization = `Bearer ${token()}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    if (!r.ok) {
      const why = (json && json.message) || `${r.status} ${r.statusText}`;
      throw new Error(r.status === 401 ? `${why}: enter the API token above` : why);
    }
    return json;
  }

  /** The poll's state (#status) and the last action's result (#notice). */
  function say(id, text, error) {
    $(id).className = error ? 'error' : '';
    setText($(id), text);
  }
  const status = (text, error) => say('status', text, error);
  const notice = (text, error) => say('notice', text, error);

  // ---- numbers ---------------------------------------------------------------------------
  const fmt = (n) => {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    const a = Math.abs(n);
    if (a >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
    if (a >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
    if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
    return String(Math.round(n * 10) / 10);
  };

  // ---- charts ----------------------------------------------------------------------------
  /** A small uPlot chart of some rates over time, with its own history. */
  function chart(parent, title, series, width, height, legend = true) {
    const data = [[], ...series.map(() => [])];
    const box = el('div', { class: 'chart' });
    parent.append(box);
    const opts = {
      title, width, height,
      cursor: { show: true }, legend: { show: legend, live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ size: 28 }, { size: 50, values: (_u, vals) => vals.map(fmt) }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, value: (_u, v) => fmt(v) }))],
    };
    const plot = new uPlot(opts, data, box);
    return {
      push(t, rates) {
        data[0].push(t);
        series.forEach((s, i) => data[i + 1].push(rates ? rates[s.key] : null));
        if (data[0].length > HISTORY) data.forEach((d) => d.shift());
        plot.setData(data);
      },
    };
  }
  const PKT_SERIES = [
    { key: 'cps', label: 'conn/s', color: '#7b1fa2' },
    { key: 'inpps', label: 'in pkt/s', color: '#1565c0' },
    { key: 'outpps', label: 'out pkt/s', color: '#2e7d32' },
  ];
  const BYTE_SERIES = [
    { key: 'inbps', label: 'in B/s', color: '#1565c0' },
    { key: 'outbps', label: 'out B/s', color: '#2e7d32' },
  ];

  // ---- services --------------------------------------------------------------------------
  const services = new Map();  // service id -> { root, head, charts, tbody, servers: Map }

  function serviceView(id) {
    const head = { sched: el('span', { class: 'muted sched' }), conns: el('span', { class: 'muted conns' }) };
    const tbody = el('tbody');
    const charts = el('div', { class: 'charts' });
    const root = el('div', { class: 'service', 'data-service': id },
      el('div', { class: 'service-head' }, el('span', { class: 'id' }, id), head.sched, head.conns),
      charts,
      el('table', { class: 'servers' },
        el('thead', {}, el('tr', {}, ...['real server', 'method', 'weight', 'effective', 'health', 'last check', 'active', 'inactive', 'rates', '']
          .map((h) => el('th', {}, h)))),
        tbody));
    $('services').append(root);
    return { root, head, tbody, servers: new Map(),
      pkts: chart(charts, 'connections and packets per second', PKT_SERIES, 420, 160),
      bytes: chart(charts, 'bytes per second', BYTE_SERIES, 420, 160) };
  }

  function serverView(svcId, r, tbody) {
    const cells = {
      method: el('td'), weight: el('input', { type: 'number', min: 0, max: 2147483647, 'aria-label': `weight of ${r.id}` }),
      effective: el('td', { class: 'num effective' }), badge: el('span', { class: 'badge' }), reason: el('td', { class: 'reason' }),
      active: el('td', { class: 'num active' }), inactive: el('td', { class: 'num inactive' }), charts: el('td'),
    };
    const drain = el('button', { type: 'button', class: 'drain' });
    const set = el('button', { type: 'button', class: 'set-weight' }, 'Set');
    cells.weight.addEventListener('input', () => { cells.weight.dataset.dirty = '1'; });
    const row = el('tr', { class: 'server', 'data-server': r.id },
      el('td', { class: 'id' }, r.id), cells.method,
      el('td', { class: 'weight' }, cells.weight, ' ', set), cells.effective,
      el('td', {}, cells.badge), cells.reason, cells.active, cells.inactive, cells.charts, el('td', {}, drain));
    tbody.append(row);
    const view = { row, cells, drain, weight: 0,
      pkts: chart(cells.charts, '', PKT_SERIES, 260, 70, false) };  // the service's legend names the series
    set.addEventListener('click', () => {
      const w = Number(cells.weight.value);
      if (!Number.isInteger(w) || w < 0) return notice(`weight of ${r.id}: give a whole number 0 or more`, true);
      setWeight(svcId, r.id, w).then(() => { delete cells.weight.dataset.dirty; });
    });
    drain.addEventListener('click', () => {
      const key = `${DRAINED_KEY}${svcId} ${r.id}`;
      if (view.weight > 0) {
        sessionStorage.setItem(key, String(view.weight));
        setWeight(svcId, r.id, 0);
      } else {
        const before = Number(sessionStorage.getItem(key)) || 1;
        setWeight(svcId, r.id, before).then((ok) => { if (ok) sessionStorage.removeItem(key); });
      }
    });
    return view;
  }

  async function setWeight(svcId, serverId, weight) {
    try {
      await api('PATCH', `/v1/services/${encodeURIComponent(svcId)}/servers/${encodeURIComponent(serverId)}`, { weight });
      notice(`${serverId} of ${svcId}: weight ${weight}`);
      poll.now();
      return true;
    } catch (e) {
      notice(`${serverId} of ${svcId}: ${e.message}`, true);
      return false;
    }
  }

  function drawServices(list, health, t) {
    // /v1/health names a service by its key: 'tcp 1.2.3.4:80' for the id 'tcp:1.2.3.4:80'.
    // A real server's id brackets an IPv6 address: '[2001:db8::10]:80'.
    const checks = new Map(health.servers.map((h) => [`${h.service} ${h.address.includes(':') ? `[${h.address}]` : h.address}:${h.port}`, h]));
    const seen = new Set();
    for (const s of list) {
      seen.add(s.id);
      let v = services.get(s.id);
      if (!v) services.set(s.id, v = serviceView(s.id));
      setText(v.head.sched, `${s.scheduler || 'wlc'}${s.persistence ? `, persistent ${s.persistence.timeout || 360} s` : ''}`);
      setText(v.head.conns, `${fmt(s.rates.cps)} conn/s, ${fmt(s.stats.conns)} connections since start`);
      v.pkts.push(t, s.rates);
      v.bytes.push(t, s.rates);
      const key = s.id.replace(':', ' ');
      const seenServers = new Set();
      for (const r of s.realServers) {
        seenServers.add(r.id);
        let sv = v.servers.get(r.id);
        if (!sv) v.servers.set(r.id, sv = serverView(s.id, r, v.tbody));
        const check = checks.get(`${key} ${r.id}`);
        const state = check ? check.state : (r.health || 'unchecked');
        sv.weight = r.weight ?? 1;
        sv.row.className = `server health-${state}`;
        setText(sv.cells.method, r.method || 'dr');
        if (!sv.cells.weight.dataset.dirty && document.activeElement !== sv.cells.weight) sv.cells.weight.value = String(sv.weight);
        setText(sv.cells.effective, r.inDataplane ? r.effectiveWeight : 'removed');
        setText(sv.cells.badge, state);
        const last = check && check.lastResult;
        setText(sv.cells.reason, last ? `${last.ok ? 'ok' : 'failed'}: ${last.detail} (${new Date(last.at).toLocaleTimeString()}; ${state} since ${new Date(check.since).toLocaleTimeString()})` : '');
        setText(sv.cells.active, r.activeConns);
        setText(sv.cells.inactive, r.inactConns);
        setText(sv.drain, sv.weight > 0 ? 'Drain' : 'Undrain');
        sv.pkts.push(t, r.rates);
      }
      for (const [id, sv] of v.servers) if (!seenServers.has(id)) { sv.row.remove(); v.servers.delete(id); }
    }
    for (const [id, v] of services) if (!seen.has(id)) { v.root.remove(); services.delete(id); }
    if (!list.length) setText($('services'), 'No virtual services.');
    else if ($('services').firstChild && $('services').firstChild.nodeType === Node.TEXT_NODE) $('services').firstChild.remove();
  }

  // ---- dataplane -------------------------------------------------------------------------
  function fill(table, rows) {
    const tbody = table.tBodies[0];
    tbody.replaceChildren(...rows.map((cells) => el('tr', {}, ...cells.map((c, i) => el('td', i ? { class: 'num' } : {}, c)))));
  }
  function drawDataplane(dp) {
    const drops = Object.entries(dp.drops || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    fill($('drops'), drops.length ? drops.map(([k, n]) => [k, fmt(n)]) : [['none', '']]);
    fill($('workers'), (dp.workers || []).map((w) => [w.id, w.lcore, `${fmt(w.connections)} / ${fmt(w.connCapacity)}`,
      `${(w.occupancy * 100).toFixed(1)}%`, fmt(w.rxPackets), fmt(w.txPackets), w.polls ? `${(w.busyPolls / w.polls * 100).toFixed(1)}%` : '–']));
    fill($('ports'), (dp.ports || []).map((p) => [p.name, p.device, p.linkUp ? `up ${p.speedMbps} Mb/s` : 'down',
      fmt(p.stats.ipackets), fmt(p.stats.opackets), fmt(p.stats.imissed), fmt(p.stats.ierrors)]));
  }

  // ---- polling ---------------------------------------------------------------------------
  const poll = (() => {
    let timer;
    let running = false;
    async function once() {
      clearTimeout(timer);
      if (running) return;
      running = true;
      try {
        const [list, health, dp] = await Promise.all([api('GET', '/v1/services'), api('GET', '/v1/health'), api('GET', '/v1/dataplane')]);
        const t = Date.now() / 1000;
        drawServices(list, health, t);
        drawDataplane(dp);
        status(`updated ${new Date().toLocaleTimeString()}`);
      } catch (e) {
        status(e.message, true);
      } finally {
        running = false;
        timer = setTimeout(once, POLL_MS);
      }
    }
    return { now: once };
  })();

  $('token').value = token();
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    poll.now();
  });
  $('token-clear').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    poll.now();
  });
  poll.now();
})();
