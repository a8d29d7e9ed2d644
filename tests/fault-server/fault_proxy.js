#!/usr/bin/env node
'use strict';
// Fault-injecting HTTP proxy between cohort-finder and the real FHIR test server (tests/fhir-server), for the REST
// fault tests (tests/rest-faults, RELIABILITY.md section (b): R1/R2/R7/R8/R9, N7, F1, F7/F10, P-3, P-6, P-7/P-8/P-9,
// P-10, P-16, T5). Node.js built-in modules only; listens on 127.0.0.1 only.
//
// Usage: node fault_proxy.js --upstream http://127.0.0.1:PORT --scenario NAME [--mode seed|population] [--seed N]
//                            [--port P] [--port-file FILE] [--record FILE] [--delay-ms MS] [--exit-on-stdin-close]
//   --mode: the client's --mode (default seed); it tells the Observation seed search from the population search.
//   Forwards every request to the upstream server unchanged, Host header included, so the server's absolute paging
//   links point back at the proxy; Accept-Encoding is dropped upstream so bodies can be rewritten. One fault
//   scenario (below) is applied; `--scenario none` forwards only.
//   Two "foreign" listeners stand for other origins: http://127.0.0.2:<port> (another host) and
//   http://127.0.0.1:<other port> (same host, other port). They answer an empty searchset and record everything.
//   Writes "<proxy port> <foreign 127.0.0.2 port> <foreign 127.0.0.1 port>" to --port-file once listening.
//   --record FILE: one JSON object per request, appended as it completes:
//     {n, t_ms, listener ("proxy"|"foreign-host"|"foreign-port"), method, path, type, page, query (hash of the
//      query without _offset: one per search), target (hash of the full target), auth (Authorization present?),
//      upstream (upstream status or null), sent (what the client got), fault (injected fault or null),
//      error (only when the proxy itself could not reach the upstream server)}
//   Paths are recorded without their query strings and credentials are never recorded: only whether they were sent.
//   Ends on SIGTERM/SIGINT or when stdin closes (if --exit-on-stdin-close).
//
// Deterministic: faults are keyed by the search (resource type, phase, page number), never by timing; where a
// scenario spreads faults over the request stream (storm, bursts) the positions come from --seed, and no single
// request target gets more faults than the client's retry cap allows (so the expected outcome does not depend on
// which concurrent request happens to be hit).
//
// Scenarios (phase: "data" = the patient-data searches of either mode, i.e. not /metadata and not the seed searches;
// "seed" = the seed searches; the first search that reaches the target page is the one faulted, "locked"):
//   none                  forward only
//   429-seconds           first attempt of page 1 of Condition and page 2 of Observation (data): 429, Retry-After: 1
//   429-date              same, Retry-After as an HTTP-date 2 s ahead (IMF-fixdate, whole seconds)
//   503-storm             the first N requests (N from the seed, 8..14) answer 503, at most 3 per target
//   502-504-bursts        3 bursts of 2-3 requests at seeded positions answer 502 / 504 alternately, at most 3 per target
//   reset-mid-body        page 2 of Observation (data): headers + half the body, then TCP RST; first attempt only
//   truncated-body        page 2 of Observation (data): Content-Length 1000 bytes larger than the body, then FIN;
//                         every attempt
//   malformed-json        page 2 of Condition (data): 200 with the JSON cut in the middle; every attempt
//   next-foreign-host     page 1 of MedicationRequest (data): next link moved to http://127.0.0.2:<foreign port>
//   next-foreign-port     page 1 of Patient (data): next link moved to http://127.0.0.1:<other port>
//   next-outside-base     page 1 of Condition (data): next link on the same origin but outside the FHIR base path
//   next-at-base          page 1 of Condition (data): next link at the base itself, HAPI style ([base]?_getpages=...)
//                         (/other-tenant/fhir/...)
//   next-loop             page 3 of Observation (data): next link points back at page 2 (the URL the client used)
//   runaway-empty         last page of Procedure (data) gets a next link; then endless empty pages with next links
//   runaway-repeat        last page of Condition (data) gets a next link; then the same page again and again under
//                         new URLs
//   runaway-fresh         last page of Procedure (data) gets a next link; then endless pages of new resources
//                         (the last page's entries with new ids), Bundle.total unchanged
//   duplicates            page 2 of Observation (data) carries its own entries, then page 1's, then its own again
//   outcome-warning       page 1 of Condition (data) carries an OperationOutcome entry (severity warning,
//                         search.mode outcome) with a canary in its diagnostics
//   outcome-error         page 2 of Observation (data) carries an OperationOutcome entry with severity error
//   slow-once             page 2 of Condition (data): response delayed by --delay-ms (default 4000); first attempt only
//   gzip-bomb             page 1 of MedicationRequest (data): 200, Content-Encoding gzip, ~1.3 MB that inflate to
//                         1.25 GiB of zeros (concatenated gzip members); first attempt only
//   oversized-body        page 1 of Patient (data): 200 announcing Content-Length 600 MiB, 64 KiB sent, then stall
//   page-expired          page 2 of Observation (data): 410 (the paging state expired), first attempt only
//   500-once              page 3 of Observation (data): 500 + OperationOutcome, first attempt only
//   500-forever           page 1 of Procedure (data): 500 + OperationOutcome, every attempt
//   503-forever           page 1 of MedicationStatement (data): 503 (no Retry-After), every attempt
//   seed-500              page 1 of the Condition seed search: 500, every attempt
//   post-refused          page 1 of Observation (data) asked for as POST _search: 405, as a server without POST
//                         searches answers
//   versionless           every page of Observation (data): no meta.versionId, and before each entry an older copy
//                         of it (lastUpdated a day earlier, status entered-in-error), as a server without versions
//                         repeats a resource updated while the client paged
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

// ---- arguments ----------------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const name = a.slice(2);
    if (name === 'exit-on-stdin-close') out[name] = true;
    else out[name] = argv[++i];
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));
if (!args.upstream || !args.scenario) {
  process.stderr.write('usage: fault_proxy.js --upstream URL --scenario NAME [--mode seed|population] [--seed N] ' +
                       '[--port P] [--port-file F] [--record F] [--delay-ms MS] [--exit-on-stdin-close]\n');
  process.exit(2);
}
const upstream = new URL(args.upstream);
const scenarioName = args.scenario;
const seed = Number(args.seed || 1) >>> 0;
const slowDelayMs = Number(args['delay-ms'] || 4000);
const started = process.hrtime.bigint();

// mulberry32: small, seedable, good enough to place faults.
function rng(s) {
  let a = s || 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(seed);
const randInt = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));

// ---- recording ----------------------------------------------------------------------------------------------------
function elapsedMs() { return Number(process.hrtime.bigint() - started) / 1e6; }
function hash(s) { return crypto.createHash('sha256').update(s).digest('hex').slice(0, 12); }
let requestCount = 0;
function record(entry) {
  if (args.record) fs.appendFileSync(args.record, JSON.stringify(entry) + '\n');
}

// ---- request classification ---------------------------------------------------------------------------------------
const PROXY_PARAMS = ['_cf_more'];
// A POST [type]/_search (the client's searches for given patients, RELIABILITY P9) is treated as the same
// search sent as GET [type]?<form body>: classified, faulted and forwarded upstream that way.
function classify(req) {
  // HAPI FHIR pages with [base]?_getpages=...: such a link (next-at-base) carries the page it stands for.
  let raw = req.url;
  const pre = new URL(raw, 'http://proxy.invalid');
  if (pre.searchParams.has('_getpages')) raw = pre.searchParams.get('_getpages');
  let u = new URL(raw, 'http://proxy.invalid');
  const post = req.method === 'POST' && u.pathname.endsWith('/_search');
  if (post) {
    const params = new URLSearchParams(u.searchParams);
    for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) params.append(k, v);
    u = new URL(u.pathname.slice(0, -'/_search'.length) + '?' + params.toString(), 'http://proxy.invalid');
  }
  const segments = u.pathname.split('/').filter(Boolean);
  const type = segments.length ? segments[segments.length - 1] : '';
  const params = u.searchParams;
  const count = Number(params.get('_count') || 20);
  const offset = Number(params.get('_offset') || 0);
  const more = params.has('_cf_more') ? Number(params.get('_cf_more')) : 0;
  const keyParams = [...params.entries()].filter(([k]) => k !== '_offset' && !PROXY_PARAMS.includes(k)).sort();
  const queryKey = u.pathname + '?' + keyParams.map(([k, v]) => `${k}=${v}`).join('&');
  let phase = 'data';
  if (type === 'metadata') phase = 'metadata';
  else if ((type === 'Condition' || type === 'Observation') && params.has('code') && !params.has('patient')) {
    // Seed searches filter by code alone; so does the population-mode Observation search: --mode tells them apart.
    phase = args.mode === 'population' ? 'data' : 'seed';
  }
  // Upstream target: the proxy's own parameters removed.
  const up = new URL(u);
  for (const p of PROXY_PARAMS) up.searchParams.delete(p);
  const upTarget = up.pathname + (up.search || '');
  return { url: u, type, phase, count, offset, more, page: Math.floor(offset / Math.max(count, 1)) + 1,
           queryKey, target: post ? u.pathname + u.search : raw, upTarget, post };
}

// ---- scenario table -----------------------------------------------------------------------------------------------
// A target: {type, phase, page ("last" = the page without a next link, "every" = every page of every such search),
// once (first attempt of a target only)}.
const S = {
  'none': {},
  '429-seconds': { targets: [{ type: 'Condition', phase: 'data', page: 1, once: true, fault: 'status', status: 429, retryAfter: () => '1' },
                             { type: 'Observation', phase: 'data', page: 2, once: true, fault: 'status', status: 429, retryAfter: () => '1' }] },
  '429-date': { targets: [{ type: 'Condition', phase: 'data', page: 1, once: true, fault: 'status', status: 429, retryAfter: httpDateAhead },
                          { type: 'Observation', phase: 'data', page: 2, once: true, fault: 'status', status: 429, retryAfter: httpDateAhead }] },
  '503-storm': { storm: { first: randInt(8, 14), statuses: [503], perTarget: 3 } },
  '502-504-bursts': { bursts: { count: 3, minLen: 2, maxLen: 3, from: 4, to: 40, statuses: [502, 504], perTarget: 3 } },
  'reset-mid-body': { targets: [{ type: 'Observation', phase: 'data', page: 2, once: true, fault: 'reset' }] },
  'truncated-body': { targets: [{ type: 'Observation', phase: 'data', page: 2, fault: 'truncate' }] },
  'malformed-json': { targets: [{ type: 'Condition', phase: 'data', page: 2, fault: 'malformed' }] },
  'next-foreign-host': { targets: [{ type: 'MedicationRequest', phase: 'data', page: 1, fault: 'next-foreign-host' }] },
  'next-foreign-port': { targets: [{ type: 'Patient', phase: 'data', page: 1, fault: 'next-foreign-port' }] },
  'next-outside-base': { targets: [{ type: 'Condition', phase: 'data', page: 1, fault: 'next-outside-base' }] },
  'next-at-base': { targets: [{ type: 'Condition', phase: 'data', page: 1, fault: 'next-at-base' }] },
  'next-loop': { targets: [{ type: 'Observation', phase: 'data', page: 3, fault: 'next-loop' }] },
  'runaway-empty': { targets: [{ type: 'Procedure', phase: 'data', page: 'last', fault: 'runaway', kind: 'empty' }] },
  'runaway-repeat': { targets: [{ type: 'Condition', phase: 'data', page: 'last', fault: 'runaway', kind: 'repeat' }] },
  'runaway-fresh': { targets: [{ type: 'Procedure', phase: 'data', page: 'last', fault: 'runaway', kind: 'fresh' }] },
  'duplicates': { targets: [{ type: 'Observation', phase: 'data', page: 2, fault: 'duplicates' }] },
  'versionless': { targets: [{ type: 'Observation', phase: 'data', page: 'every', fault: 'versionless' }] },
  'outcome-warning': { targets: [{ type: 'Condition', phase: 'data', page: 1, fault: 'outcome', severity: 'warning' }] },
  'outcome-error': { targets: [{ type: 'Observation', phase: 'data', page: 2, fault: 'outcome', severity: 'error' }] },
  'slow-once': { targets: [{ type: 'Condition', phase: 'data', page: 2, once: true, fault: 'slow' }] },
  'gzip-bomb': { targets: [{ type: 'MedicationRequest', phase: 'data', page: 1, once: true, fault: 'gzip-bomb' }] },
  'oversized-body': { targets: [{ type: 'Patient', phase: 'data', page: 1, fault: 'oversized' }] },
  'post-refused': { targets: [{ type: 'Observation', phase: 'data', page: 1, post: true, fault: 'status', status: 405 }] },
  'page-expired': { targets: [{ type: 'Observation', phase: 'data', page: 2, once: true, fault: 'status', status: 410 }] },
  '500-once': { targets: [{ type: 'Observation', phase: 'data', page: 3, once: true, fault: 'status', status: 500 }] },
  '500-forever': { targets: [{ type: 'Procedure', phase: 'data', page: 1, fault: 'status', status: 500 }] },
  '503-forever': { targets: [{ type: 'MedicationStatement', phase: 'data', page: 1, fault: 'status', status: 503 }] },
  'seed-500': { targets: [{ type: 'Condition', phase: 'seed', page: 1, fault: 'status', status: 500 }] },
};
const scenario = S[scenarioName];
if (!scenario) {
  process.stderr.write(`unknown scenario ${scenarioName}; known: ${Object.keys(S).join(' ')}\n`);
  process.exit(2);
}
const CANARY = 'CANARY-OO-7f3a Jane Canary MRN 99-1234';

function httpDateAhead() {
  // Whole seconds: at least 1 s and at most 2 s from now.
  return new Date((Math.floor(Date.now() / 1000) + 2) * 1000).toUTCString();
}

// Burst positions (request numbers), from the seed.
const burstAt = new Map();
if (scenario.bursts) {
  const b = scenario.bursts;
  let k = 0;
  const starts = new Set();
  while (starts.size < b.count) starts.add(randInt(b.from, b.to));
  for (const s of [...starts].sort((x, y) => x - y)) {
    const len = randInt(b.minLen, b.maxLen);
    for (let i = 0; i < len; i++) burstAt.set(s + i, b.statuses[k++ % b.statuses.length]);
  }
}

const locked = new Map();         // target index -> query key of the locked search
const faultsPerTarget = new Map();  // "<target index>|<request target>" -> faults injected
const pageTargets = new Map();    // query key -> Map(page -> request target as sent by the client)
const firstPageEntries = new Map();  // query key -> entries of page 1 (duplicates)
const lastPageInfo = new Map();   // query key -> {upTarget, total} of the page that had no next link (runaway)

function matches(t, info) {
  if (info.type !== t.type || (t.phase !== 'any' && info.phase !== t.phase)) return false;
  if (t.post && !info.post) return false;
  return true;
}
// The target that applies to this request before it goes upstream (page numbers known from the URL), if any.
function targetFor(info, i, t) {
  if (!matches(t, info)) return false;
  if (t.page === 'last') return locked.get(i) === info.queryKey && info.more > 0;
  if (t.page === 'every') return !info.more;
  if (info.more > 0 || info.page !== t.page) return false;
  if (!locked.has(i)) locked.set(i, info.queryKey);
  return locked.get(i) === info.queryKey;
}

// ---- responses ----------------------------------------------------------------------------------------------------
const REASONS = { 200: 'OK', 405: 'Method Not Allowed', 408: 'Request Timeout', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
function rawHead(status, headers) {
  let s = `HTTP/1.1 ${status} ${REASONS[status] || 'Status'}\r\n`;
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}
function operationOutcome(code, text) {
  return JSON.stringify({ resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics: text }] });
}
function sendJson(res, status, body, extra = {}) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', 'Content-Length': buf.length, ...extra });
  res.end(buf);
}
function nextLink(bundle) {
  return (bundle.link || []).find((l) => l.relation === 'next');
}
function setNext(bundle, url) {
  bundle.link = (bundle.link || []).filter((l) => l.relation !== 'next');
  if (url) bundle.link.push({ relation: 'next', url });
}
function withParam(target, name, value) {
  const u = new URL(target, 'http://proxy.invalid');
  u.searchParams.set(name, String(value));
  return u.pathname + u.search;
}

let bombCache = null;
function gzipBomb() {
  if (!bombCache) {
    const member = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });  // 64 MiB of zeros, ~64 KB
    bombCache = Buffer.concat(new Array(20).fill(member));               // 1.25 GiB decoded
  }
  return bombCache;
}

// ---- upstream -----------------------------------------------------------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function fetchUpstream(req, target) {  // a POST search goes upstream as the GET it stands for
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers['accept-encoding'];
    delete headers['connection'];
    delete headers['keep-alive'];
    delete headers['content-length'];
    delete headers['content-type'];
    const up = http.request({ host: upstream.hostname, port: upstream.port,
                              method: req.method === 'POST' ? 'GET' : req.method, path: target,
                              headers, agent }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) }));
      r.on('error', reject);
    });
    up.on('error', reject);
    up.end();
  });
}

// ---- the proxy ----------------------------------------------------------------------------------------------------
async function handle(req, res) {
  const n = ++requestCount;
  const info = classify(req);
  const rec = { n, t_ms: Math.round(elapsedMs() * 10) / 10, listener: 'proxy', method: req.method, path: info.url.pathname,
                type: info.type, phase: info.phase, page: info.more ? `more-${info.more}` : info.page,
                query: hash(info.queryKey), ids_in_url: /[?&](patient|_id)=/.test(req.url),
                target: hash(info.target), auth: Boolean(req.headers.authorization), upstream: null, sent: null, fault: null };
  const done = (sent, fault) => { rec.sent = sent; rec.fault = fault || null; record(rec); };
  const sock = req.socket;
  sock.on('error', () => {});

  if (!pageTargets.has(info.queryKey)) pageTargets.set(info.queryKey, new Map());
  if (!info.more && !pageTargets.get(info.queryKey).has(info.page)) pageTargets.get(info.queryKey).set(info.page, info.target);

  // Faults spread over the request stream (storm, bursts): at most perTarget per request target.
  const spread = (status, perTarget, name) => {
    const key = `spread|${info.target}`;
    const have = faultsPerTarget.get(key) || 0;
    if (have >= perTarget) return false;
    faultsPerTarget.set(key, have + 1);
    sendJson(res, status, operationOutcome('transient', 'injected ' + status));
    done(status, name);
    return true;
  };
  if (scenario.storm && n <= scenario.storm.first && spread(503, scenario.storm.perTarget, 'storm-503')) return;
  if (burstAt.has(n) && spread(burstAt.get(n), scenario.bursts.perTarget, `burst-${burstAt.get(n)}`)) return;

  // Page-targeted faults.
  let target = null;
  (scenario.targets || []).forEach((t, i) => { if (!target && targetFor(info, i, t)) target = t; });
  if (target && target.once) {
    const key = `once|${info.target}`;
    if (faultsPerTarget.get(key)) target = null;
    else faultsPerTarget.set(key, 1);
  }

  if (target && target.fault === 'status') {
    const extra = target.retryAfter ? { 'Retry-After': target.retryAfter() } : {};
    sendJson(res, target.status, operationOutcome(target.status === 500 ? 'exception' : 'transient',
                                                  `injected ${target.status}`), extra);
    done(target.status, `status-${target.status}${target.retryAfter ? '-retry-after' : ''}`);
    return;
  }
  if (target && target.fault === 'oversized') {
    sock.write(rawHead(200, [['Content-Type', 'application/fhir+json'], ['Content-Length', 600 * 1024 * 1024],
                             ['Connection', 'close']]));
    sock.write(Buffer.alloc(64 * 1024, 0x20));
    const timer = setTimeout(() => sock.destroy(), 10000);
    sock.on('close', () => clearTimeout(timer));
    done('200-oversized', 'oversized-body');
    return;
  }
  if (target && target.fault === 'gzip-bomb') {
    // Through `res`, not the raw socket: the connection stays usable, and Node would hold any later response on it
    // behind a response it never saw finish.
    const bomb = gzipBomb();
    res.writeHead(200, { 'Content-Type': 'application/fhir+json', 'Content-Encoding': 'gzip', 'Content-Length': bomb.length });
    res.end(bomb);
    done('200-gzip-bomb', 'gzip-bomb');
    return;
  }
  if (target && target.fault === 'runaway' && target.kind === 'empty') {
    const last = lastPageInfo.get(info.queryKey);
    const body = { resourceType: 'Bundle', type: 'searchset', total: last ? last.total : undefined,
                   link: [{ relation: 'self', url: `http://${req.headers.host}${info.target}` }], entry: [] };
    setNext(body, `http://${req.headers.host}${withParam(info.target, '_cf_more', info.more + 1)}`);
    sendJson(res, 200, JSON.stringify(body));
    done(200, 'runaway-empty');
    return;
  }

  // Forward.
  let up;
  try {
    let upTarget = info.upTarget;
    if (target && target.fault === 'runaway') upTarget = lastPageInfo.get(info.queryKey).upTarget;
    up = await fetchUpstream(req, upTarget);
  } catch (e) {
    sendJson(res, 502, operationOutcome('exception', 'proxy: upstream unreachable'));
    rec.error = 'upstream unreachable';  // a broken test setup, not an injected fault
    done(502, null);
    return;
  }
  rec.upstream = up.status;
  let body = up.body;
  let fault = null;
  const isJson = /json/.test(up.headers['content-type'] || '');
  let bundle = null;
  if (isJson && up.status === 200) {
    try { bundle = JSON.parse(body.toString('utf8')); } catch (e) { bundle = null; }
  }
  if (bundle && bundle.resourceType === 'Bundle') {
    if (info.page === 1 && !info.more) firstPageEntries.set(info.queryKey, bundle.entry || []);
    // Runaway: the locked search's last page gets a next link; synthetic pages keep adding one.
    (scenario.targets || []).forEach((t, i) => {
      if (t.fault !== 'runaway' || !matches(t, info)) return;
      if (!info.more && !nextLink(bundle) && !locked.has(i)) {
        locked.set(i, info.queryKey);
        lastPageInfo.set(info.queryKey, { upTarget: info.upTarget, total: bundle.total });
        setNext(bundle, `http://${req.headers.host}${withParam(info.target, '_cf_more', 1)}`);
        fault = 'runaway-start';
      }
    });
    if (target && target.fault === 'runaway') {
      if (target.kind === 'fresh')
        for (const e of bundle.entry || []) {
          if (!e.resource) continue;
          e.resource.id = `${e.resource.id}-r${info.more}`;
          if (e.fullUrl) e.fullUrl = `${e.fullUrl}-r${info.more}`;
        }
      setNext(bundle, `http://${req.headers.host}${withParam(info.target, '_cf_more', info.more + 1)}`);
      fault = `runaway-${target.kind}`;
    }
    if (target && target.fault === 'next-foreign-host' && nextLink(bundle)) {
      const u = new URL(nextLink(bundle).url);
      setNext(bundle, `http://127.0.0.2:${foreignHostPort}${u.pathname}${u.search}`);
      fault = 'next-foreign-host';
    }
    if (target && target.fault === 'next-foreign-port' && nextLink(bundle)) {
      const u = new URL(nextLink(bundle).url);
      setNext(bundle, `http://127.0.0.1:${foreignPortPort}${u.pathname}${u.search}`);
      fault = 'next-foreign-port';
    }
    if (target && target.fault === 'next-outside-base' && nextLink(bundle)) {
      const u = new URL(nextLink(bundle).url);
      setNext(bundle, `${u.origin}/other-tenant${u.pathname}${u.search}`);
      fault = 'next-outside-base';
    }
    if (target && target.fault === 'next-at-base' && nextLink(bundle)) {
      const u = new URL(nextLink(bundle).url);
      const base = u.pathname.slice(0, u.pathname.lastIndexOf('/'));
      setNext(bundle, `${u.origin}${base}?_getpages=${encodeURIComponent(u.pathname + u.search)}`);
      fault = 'next-at-base';
    }
    if (target && target.fault === 'next-loop') {
      const page2 = pageTargets.get(info.queryKey).get(2);
      setNext(bundle, `http://${req.headers.host}${page2}`);
      fault = 'next-loop';
    }
    if (target && target.fault === 'duplicates') {
      const own = bundle.entry || [];
      bundle.entry = [...own, ...(firstPageEntries.get(info.queryKey) || []), ...own];
      fault = 'duplicates';
    }
    if (target && target.fault === 'versionless') {
      const out = [];
      for (const e of bundle.entry || []) {
        const r = e.resource;
        if (r && r.meta) delete r.meta.versionId;
        if (r && r.meta && r.meta.lastUpdated) {
          const stale = JSON.parse(JSON.stringify(e));
          stale.resource.meta.lastUpdated = new Date(Date.parse(r.meta.lastUpdated) - 86400000).toISOString();
          stale.resource.status = 'entered-in-error';
          out.push(stale);
        }
        out.push(e);
      }
      bundle.entry = out;
      fault = 'versionless';
    }
    if (target && target.fault === 'outcome') {
      const oo = { fullUrl: 'urn:uuid:2f0e7a52-6a6e-4d55-9c1f-6b0b8c0e0001',
                   resource: { resourceType: 'OperationOutcome', id: 'search-note',
                               issue: [{ severity: target.severity, code: target.severity === 'error' ? 'too-costly' : 'informational',
                                         diagnostics: `${CANARY}: results may be limited` }] },
                   search: { mode: 'outcome' } };
      bundle.entry = bundle.entry || [];
      bundle.entry.splice(Math.min(1, bundle.entry.length), 0, oo);
      fault = `outcome-${target.severity}`;
    }
    if (fault) body = Buffer.from(JSON.stringify(bundle));
  }

  const ctype = up.headers['content-type'] || 'application/fhir+json';
  if (target && target.fault === 'malformed') {
    const cut = body.subarray(0, Math.floor(body.length * 0.6));
    sendJson(res, up.status, Buffer.concat([cut, Buffer.from('"}]')]));
    done(up.status, 'malformed-json');
    return;
  }
  if (target && target.fault === 'truncate') {
    sock.write(rawHead(up.status, [['Content-Type', ctype], ['Content-Length', body.length + 1000], ['Connection', 'close']]));
    sock.write(body, () => sock.end());
    done(`${up.status}-truncated`, 'truncated-body');
    return;
  }
  if (target && target.fault === 'reset') {
    sock.write(rawHead(up.status, [['Content-Type', ctype], ['Content-Length', body.length], ['Connection', 'close']]));
    sock.write(body.subarray(0, Math.floor(body.length / 2)), () => sock.resetAndDestroy());
    done(`${up.status}-reset`, 'reset-mid-body');
    return;
  }
  const send = () => {
    if (sock.destroyed) return;
    const headers = { 'Content-Type': ctype, 'Content-Length': body.length };
    for (const h of ['retry-after', 'location', 'content-location', 'etag', 'last-modified'])
      if (up.headers[h]) headers[h] = up.headers[h];
    res.writeHead(up.status, headers);
    res.end(body);
  };
  if (target && target.fault === 'slow') {
    setTimeout(send, slowDelayMs);
    done(`${up.status}-after-${slowDelayMs}ms`, 'slow');
    return;
  }
  send();
  done(up.status, fault);
}

// ---- foreign origins ----------------------------------------------------------------------------------------------
function foreignHandler(name) {
  return (req, res) => {
    const u = new URL(req.url, 'http://foreign.invalid');
    record({ n: ++requestCount, t_ms: Math.round(elapsedMs() * 10) / 10, listener: name, method: req.method,
             path: u.pathname, type: null, page: null, query: null, target: hash(req.url),
             auth: Boolean(req.headers.authorization), upstream: null, sent: 200, fault: null });
    sendJson(res, 200, JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] }));
  };
}

let foreignHostPort = 0;
let foreignPortPort = 0;
const proxy = http.createServer({ keepAliveTimeout: 10000 }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    req.body = Buffer.concat(chunks);
    handle(req, res).catch(proxyError(res));
  });
});
const proxyError = (res) => (e) => {
    process.stderr.write(`fault_proxy: ${e.stack}\n`);
    try { sendJson(res, 500, operationOutcome('exception', 'proxy error')); } catch (_) { /* socket gone */ }
};
proxy.on('clientError', (err, socket) => socket.destroy());
const foreignHost = http.createServer(foreignHandler('foreign-host'));
const foreignPort = http.createServer(foreignHandler('foreign-port'));

function listen(server, host, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address().port));
  });
}

(async () => {
  foreignHostPort = await listen(foreignHost, '127.0.0.2', 0);
  foreignPortPort = await listen(foreignPort, '127.0.0.1', 0);
  const port = await listen(proxy, '127.0.0.1', Number(args.port || 0));
  const line = `${port} ${foreignHostPort} ${foreignPortPort}`;
  if (args['port-file']) {
    fs.writeFileSync(args['port-file'] + '.tmp', line + '\n');
    fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
  }
  process.stdout.write(`READY ${line} scenario ${scenarioName} seed ${seed}\n`);
})().catch((e) => {
  process.stderr.write(`fault_proxy: cannot listen: ${e.message}\n`);
  process.exit(1);
});

function stop() {
  for (const s of [proxy, foreignHost, foreignPort]) { s.close(); s.closeAllConnections(); }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (args['exit-on-stdin-close']) {
  process.stdin.resume();
  process.stdin.on('end', stop);
}
