#!/usr/bin/env node
'use strict';
// Bulk Data $export fault proxy between a Bulk client and the real FHIR test server (tests/fhir-server), for
// tests/bulk (RELIABILITY.md B1-B12, D7, D10). Node.js built-in modules only; listens on 127.0.0.1 (and 127.0.0.2).
//
// Usage: node bulk_faults.js --upstream http://127.0.0.1:PORT --scenario NAME --port-file FILE [--record FILE]
//                            [--cert FILE --key FILE]
//   Forwards every request to the upstream server with its Host header, so the server's absolute URLs (the
//   Content-Location, the manifest's file URLs) point back at the proxy, and applies one fault scenario (below).
//   Two "foreign" listeners stand for other origins:
//     http://127.0.0.2:<port>    plain HTTP on another host: forwards (it would serve the file if asked)
//     https://127.0.0.2:<port>   with --cert/--key: answers 401 to a request without Authorization, else forwards
//   Writes "<proxy port> <foreign http port> <foreign https port or 0>" to --port-file once listening.
//   --record FILE: one JSON object per request: {t_ms, listener ("proxy"|"foreign-http"|"foreign-https"), method,
//   kind ("kickoff"|"status"|"file"|"fault-file"|"other"), path (no query), type_filter, since (the kick-off's
//   parameters present?), auth (Authorization present? never its value), range (the Range header or null),
//   upstream (status or null), sent, fault}.
//   Ends on SIGTERM/SIGINT.
//
// Scenarios ("poll n" counts the status GETs of the proxy's lifetime, 1-based):
//   none              forward only
//   status-429        polls 1-3: 429 with Retry-After: 1
//   status-503        polls 1-2: 503 without Retry-After; poll 3: 500 + OperationOutcome code "transient"
//   status-500-fatal  every poll: 500 + OperationOutcome code "processing" (the job failed)
//   forever-202       every poll: 202, Retry-After: 1 (the export never finishes)
//   delete-503        the first DELETE of the status URL: 503 with Retry-After: 1; later ones forwarded
//   file-redirect     the Observation file: 302 to the same URL with ?hop=1, then 307 to ?hop=2, then served
//   redirect-loop     the Observation file: 302 to ?hop=n+1 for ever
//   redirect-http     the Observation file: 302 to the same path on the plain-http foreign listener
//   redirect-https    manifest: requiresAccessToken true; the Observation file: 302 to the same path on the https
//                     foreign listener (another origin)
//   progress-nasty    polls 1-2: 202 with an X-Progress of a tab, a forged "[INFO]" line and 10 KB, Retry-After: 1
//   foreign-http      manifest: the Observation file moved to http://127.0.0.2:<foreign http port>
//   foreign-https     manifest: requiresAccessToken true, the Observation file moved to https://127.0.0.2:<port>
//   file-404          manifest: the Condition file URL names a file the server does not have
//   truncated-file    the Observation file: Content-Length of the whole body, half of it sent, then the socket closed
//   truncated-once    the same, for the first request of the Observation file only
//   truncated-changed the first request truncated, later ones with a blank line first (the file changed)
//   truncated-ranged  the Observation file served with ETag "obs-v1" and Range/If-Range honoured (206); its first
//                     request truncated
//   truncated-ranged-416  the same, but a Range request is answered 416 (as if the break came after the last byte)
//   truncated-ranged-changed  the same, but later requests get a changed file (a blank line first) with ETag
//                     "obs-v2": If-Range "obs-v1" no longer matches, so the whole new file comes back (200)
//   files-one-at-a-time  every file request is held 200 ms; one that comes while another file request is being
//                     answered gets 429 with Retry-After: 0 (a server that serves one download at a time, T12)
//   cut-line          the Observation file: correct framing, but the body ends in the middle of a line
//   count-mismatch    manifest: MedicationRequest count one higher than the file's lines
//   wrong-type        the Procedure file gets an extra Condition line (count raised to match)
//   error-file        manifest error[]: an OperationOutcome file with a fatal issue for Observation and a warning
//                     (both with the canary CANARY-PHI-7f3 in diagnostics)
//   deleted           manifest deleted[]: a Bundle deleting Observation/cc-001-obs-1 (which is also exported)
//   deleted-since     the same, only for jobs kicked off with _since (incremental nights)
//   manifest-bad      manifest: transactionTime "yesterday", requiresAccessToken "true" (a string)
//   manifest-parts    manifest split in two (Bulk Data v3 paging): the second half of output[] behind link[next]
//   manifest-loop     manifest: link[next] points back at the status URL
const fs = require('fs');
const http = require('http');
const https = require('https');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
    i++;
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));
if (!args.upstream || !args.scenario || !args['port-file']) {
  process.stderr.write('usage: bulk_faults.js --upstream URL --scenario NAME --port-file F [--record F] [--cert F --key F]\n');
  process.exit(2);
}
const upstream = new URL(args.upstream);
const started = process.hrtime.bigint();
const CANARY = 'CANARY-PHI-7f3';
let foreignHttpPort = 0;
let foreignHttpsPort = 0;
let polls = 0;
let filesInFlight = 0;  // files-one-at-a-time
let removes = 0;
const dynamicFiles = new Map();  // fault files made while rewriting a manifest
const jobs = new Map();  // status URL path -> {since}: what the kick-off asked for

function elapsedMs() { return Number(process.hrtime.bigint() - started) / 1e6; }
function record(entry) {
  if (args.record) fs.appendFileSync(args.record, JSON.stringify({ t_ms: Math.round(elapsedMs()), ...entry }) + '\n');
}

function classify(req) {
  const u = new URL(req.url, 'http://proxy.invalid');
  const p = u.pathname;
  let kind = 'other';
  if (/\/\$export$/.test(p)) kind = 'kickoff';
  else if (p.includes('/$export-poll-status/')) kind = 'status';
  else if (p.includes('/$export-file/')) kind = 'file';
  else if (p.includes('/bulk-fault/')) kind = 'fault-file';
  const fileType = kind === 'file' ? decodeURIComponent(p.split('/').pop()).replace(/\.ndjson$/, '') : null;
  return { url: u, path: p, kind, fileType, typeFilter: u.searchParams.has('_typeFilter'), since: u.searchParams.has('_since') };
}

function outcome(code, text, severity = 'error') {
  return JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics: text }] });
}

// ---- scenarios -------------------------------------------------------------------------------------------------
const forged = '50%\t[INFO] forged log line ' + 'A'.repeat(10000);
function moveType(m, type, origin) {
  for (const o of m.output) if (o.type === type) { const u = new URL(o.url); o.url = origin + u.pathname; }
}
function bump(m, type, by) {
  for (const o of m.output) if (o.type === type) o.count += by;
}
const S = {
  none: {},
  'status-429': { poll: (n) => (n <= 3 ? { status: 429, headers: { 'Retry-After': '1' }, body: outcome('throttled', 'slow down') } : null) },
  'status-503': { poll: (n) => (n <= 2 ? { status: 503, body: '' } : n === 3 ? { status: 500, body: outcome('transient', 'try again') } : null) },
  'status-500-fatal': { poll: () => ({ status: 500, body: outcome('processing', 'export failed: disk full') }) },
  'forever-202': { poll: () => ({ status: 202, headers: { 'Retry-After': '1', 'X-Progress': 'still working' }, body: '' }) },
  'file-redirect': { redirect: (type, hop) => (type === 'Observation' && hop < 2 ? { status: hop ? 307 : 302, to: 'self' } : null) },
  'redirect-loop': { redirect: (type) => (type === 'Observation' ? { status: 302, to: 'self' } : null) },
  'redirect-http': { redirect: (type, hop) => (type === 'Observation' && hop === 0 ? { status: 302, to: 'foreign-http' } : null) },
  'files-one-at-a-time': { oneFileAtATime: 200 },
  'redirect-https': { manifest: (m) => { m.requiresAccessToken = true; },
                      redirect: (type, hop) => (type === 'Observation' && hop === 0 ? { status: 302, to: 'foreign-https' } : null) },
  'delete-503': { remove: (n) => (n === 1 ? { status: 503, headers: { 'Retry-After': '1' }, body: '' } : null) },
  'progress-nasty': { poll: (n) => (n <= 2 ? { status: 202, headers: { 'Retry-After': '1', 'X-Progress': forged }, body: '' } : null) },
  'foreign-http': { manifest: (m) => moveType(m, 'Observation', `http://127.0.0.2:${foreignHttpPort}`) },
  'foreign-https': { manifest: (m) => { m.requiresAccessToken = true; moveType(m, 'Observation', `https://127.0.0.2:${foreignHttpsPort}`); } },
  'file-404': { manifest: (m) => { for (const o of m.output) if (o.type === 'Condition') o.url = o.url.replace(/[^/]+$/, 'Missing.ndjson'); } },
  'truncated-file': { file: (type) => (type === 'Observation' ? { truncate: true } : null) },
  'truncated-changed': (() => {
    let n = 0;
    return {
      file: (type, body) => {
        if (type !== 'Observation') return null;
        return ++n === 1 ? { truncate: true } : { body: Buffer.concat([Buffer.from('\n'), body]) };
      },
    };
  })(),
  'truncated-ranged': (() => {
    let n = 0;
    return { file: (type) => (type === 'Observation' ? { truncate: ++n === 1, etag: '"obs-v1"' } : null) };
  })(),
  'truncated-ranged-416': (() => {
    let n = 0;
    return { file: (type) => (type === 'Observation' ? { truncate: ++n === 1, etag: '"obs-v1"', refuseRange: true } : null) };
  })(),
  'truncated-ranged-changed': (() => {
    let n = 0;
    return {
      file: (type, body) => {
        if (type !== 'Observation') return null;
        return ++n === 1 ? { truncate: true, etag: '"obs-v1"' }
          : { body: Buffer.concat([Buffer.from('\n'), body]), etag: '"obs-v2"' };
      },
    };
  })(),
  'truncated-once': (() => {
    let n = 0;
    return { file: (type) => (type === 'Observation' && ++n === 1 ? { truncate: true } : null) };
  })(),
  'cut-line': { file: (type, body) => (type === 'Observation' ? { body: body.subarray(0, Math.floor(body.length / 2)) } : null) },
  'count-mismatch': { manifest: (m) => bump(m, 'MedicationRequest', 1) },
  'wrong-type': {
    manifest: (m) => bump(m, 'Procedure', 1),
    file: (type, body) => (type === 'Procedure'
      ? { body: Buffer.concat([body, Buffer.from(JSON.stringify({ resourceType: 'Condition', id: 'wrong-type-1', subject: { reference: 'Patient/cc-001' }, code: { text: 'x' } }) + '\n')]) }
      : null),
  },
  'error-file': { manifest: (m, base) => { m.error = [{ type: 'OperationOutcome', url: `${base}/bulk-fault/errors.ndjson` }]; } },
  deleted: { manifest: (m, base) => { m.deleted = [{ type: 'Bundle', url: `${base}/bulk-fault/deleted.ndjson` }]; } },
  'deleted-since': { manifest: (m, base, job) => { if (job.since) m.deleted = [{ type: 'Bundle', url: `${base}/bulk-fault/deleted.ndjson` }]; } },
  'manifest-parts': {
    manifest: (m, base) => {
      const half = Math.ceil(m.output.length / 2);
      dynamicFiles.set('part2.json', JSON.stringify({ ...m, output: m.output.slice(half) }));
      m.output = m.output.slice(0, half);
      m.link = [{ relation: 'next', url: `${base}/bulk-fault/part2.json` }];
    },
  },
  'manifest-loop': { manifest: (m, base, job, statusUrl) => { m.link = [{ relation: 'next', url: statusUrl }]; } },
  'manifest-bad': { manifest: (m) => { m.transactionTime = 'yesterday'; m.requiresAccessToken = 'true'; } },
};
const scenario = S[args.scenario];
if (!scenario) {
  process.stderr.write(`unknown scenario ${args.scenario}\n`);
  process.exit(2);
}
const FAULT_FILES = {
  'errors.ndjson': [
    { resourceType: 'OperationOutcome', issue: [{ severity: 'fatal', code: 'exception', diagnostics: `${CANARY} Jane Doe: export of Observation failed`, expression: ['Observation'] }] },
    { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'informational', diagnostics: `${CANARY} a minor note` }] },
  ].map((o) => JSON.stringify(o)).join('\n') + '\n',
  'deleted.ndjson': JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'DELETE', url: 'Observation/cc-001-obs-1' } }] }) + '\n',
};

// ---- forwarding ------------------------------------------------------------------------------------------------
function readAll(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

async function forward(req, body) {
  const headers = { ...req.headers };
  delete headers['accept-encoding'];
  return new Promise((resolve, reject) => {
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, async (res) => {
      try {
        resolve({ status: res.statusCode, headers: res.headers, body: await readAll(res) });
      } catch (e) { reject(e); }
    });
    up.on('error', reject);
    up.end(body);
  });
}

function reply(res, status, headers, body) {
  const h = { ...headers };
  for (const k of ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding']) delete h[k];
  h['Content-Length'] = Buffer.byteLength(body);
  res.writeHead(status, h);
  res.end(body);
}

async function handle(listener, req, res) {
  const c = classify(req);
  const body = await readAll(req);
  const entry = { listener, method: req.method, kind: c.kind, path: c.path, type_filter: c.typeFilter, since: c.since,
                  auth: !!req.headers.authorization, range: req.headers.range || null, upstream: null, sent: null,
                  fault: null };
  const base = `http://${req.headers.host}${upstream.pathname.replace(/\/$/, '')}`;
  try {
    if (listener === 'foreign-https' && !req.headers.authorization) {
      entry.sent = 401;
      entry.fault = 'token required';
      reply(res, 401, { 'Content-Type': 'application/fhir+json' }, outcome('login', 'access token required'));
      return;
    }
    if (c.kind === 'file' && scenario.redirect) {
      const hop = Number(c.url.searchParams.get('hop') || 0);
      const r = scenario.redirect(c.fileType, hop);
      if (r) {
        const next = new URL(c.url.toString());
        next.searchParams.set('hop', String(hop + 1));
        const origin = r.to === 'foreign-http' ? `http://127.0.0.2:${foreignHttpPort}`
          : r.to === 'foreign-https' ? `https://127.0.0.2:${foreignHttpsPort}` : `http://${req.headers.host}`;
        entry.sent = r.status;
        entry.fault = `redirect ${hop + 1}`;
        reply(res, r.status, { Location: origin + next.pathname + next.search }, '');
        return;
      }
    }
    if (c.kind === 'file' && scenario.oneFileAtATime) {
      if (filesInFlight > 0) {
        entry.sent = 429;
        entry.fault = 'busy';
        reply(res, 429, { 'Retry-After': '0', 'Content-Type': 'application/fhir+json' }, outcome('throttled', 'one download at a time'));
        return;
      }
      ++filesInFlight;
      res.on('close', () => --filesInFlight);
      await new Promise((r) => setTimeout(r, scenario.oneFileAtATime));
    }
    if (c.kind === 'fault-file') {
      const name = c.path.split('/').pop();
      const content = FAULT_FILES[name] || dynamicFiles.get(name);
      entry.sent = content ? 200 : 404;
      reply(res, entry.sent, { 'Content-Type': 'application/fhir+ndjson' }, content || outcome('not-found', 'no such file'));
      return;
    }
    // A scenario's poll(n) / remove(n) answer for the n-th status GET / DELETE, or null to forward it.
    const faulted = (label, f) => {
      if (!f) return false;
      entry.sent = f.status;
      entry.fault = `${label}: ${f.status}`;
      reply(res, f.status, { 'Content-Type': 'application/fhir+json', ...(f.headers || {}) }, f.body || '');
      return true;
    };
    if (c.kind === 'status' && req.method === 'GET') {
      const n = ++polls;
      if (scenario.poll && faulted(`poll ${n}`, scenario.poll(n))) return;
    }
    if (c.kind === 'status' && req.method === 'DELETE') {
      const n = ++removes;
      if (scenario.remove && faulted(`delete ${n}`, scenario.remove(n))) return;
    }
    const up = await forward(req, body);
    entry.upstream = up.status;
    if (c.kind === 'kickoff' && up.status === 202 && up.headers['content-location'])
      jobs.set(new URL(up.headers['content-location'], 'http://x.invalid').pathname, { since: c.since });
    let out = up.body;
    if (c.kind === 'status' && req.method === 'GET' && up.status === 200 && scenario.manifest) {
      const m = JSON.parse(up.body.toString('utf8'));
      scenario.manifest(m, base, jobs.get(c.path) || {}, `http://${req.headers.host}${c.path}`);
      out = Buffer.from(JSON.stringify(m));
      entry.fault = 'manifest rewritten';
    }
    if (c.kind === 'file' && up.status === 200 && scenario.file) {
      const f = scenario.file(c.fileType, up.body);
      if (f && f.truncate) {
        entry.sent = 200;
        entry.fault = 'truncated';
        const etag = f.etag ? `ETag: ${f.etag}\r\n` : '';
        const head = `HTTP/1.1 200 OK\r\nContent-Type: application/fhir+ndjson\r\n${etag}Content-Length: ${up.body.length}\r\n\r\n`;
        res.socket.write(head);
        res.socket.write(up.body.subarray(0, Math.floor(up.body.length / 2)));
        res.socket.destroySoon();
        return;
      }
      if (f && f.body) {
        out = f.body;
        entry.fault = 'file rewritten';
      }
      if (f && f.etag) {  // a server that names the file's version and serves byte ranges of it
        const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
        const from = m ? Number(m[1]) : -1;
        const headers = { 'Content-Type': 'application/fhir+ndjson', ETag: f.etag };
        if (from >= 0 && f.refuseRange) {
          entry.sent = 416;
          entry.fault = 'range refused';
          reply(res, 416, { ...headers, 'Content-Range': `bytes */${out.length}` }, '');
          return;
        }
        if (from >= 0 && from < out.length && req.headers['if-range'] === f.etag) {
          entry.sent = 206;
          entry.fault = `range ${from}-`;
          reply(res, 206, { ...headers, 'Content-Range': `bytes ${from}-${out.length - 1}/${out.length}` }, out.subarray(from));
          return;
        }
        entry.sent = 200;
        reply(res, 200, headers, out);
        return;
      }
    }
    entry.sent = up.status;
    reply(res, up.status, up.headers, out);
  } catch (e) {
    entry.sent = 502;
    entry.fault = `proxy error: ${e.message}`;
    if (!res.headersSent) reply(res, 502, { 'Content-Type': 'text/plain' }, 'proxy error');
  } finally {
    record(entry);
  }
}

function serve(server, host, listener) {
  return new Promise((resolve) => {
    server.on('request', (req, res) => { handle(listener, req, res); });
    server.listen(0, host, () => resolve(server.address().port));
  });
}

(async () => {
  const proxyPort = await serve(http.createServer(), '127.0.0.1', 'proxy');
  foreignHttpPort = await serve(http.createServer(), '127.0.0.2', 'foreign-http');
  if (args.cert && args.key) {
    const opts = { cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), minVersion: 'TLSv1.2' };
    foreignHttpsPort = await serve(https.createServer(opts), '127.0.0.2', 'foreign-https');
  }
  fs.writeFileSync(args['port-file'] + '.tmp', `${proxyPort} ${foreignHttpPort} ${foreignHttpsPort}\n`);
  fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
})();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
