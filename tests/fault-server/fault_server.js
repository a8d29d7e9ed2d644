#!/usr/bin/env node
'use strict';
// Fault-injecting HTTP/1.1 server for the transport and paging tests (RELIABILITY.md section (b)).
// Node built-in modules only. The HTTP layer is hand-written on raw sockets so that it can misbehave on purpose:
// cut bodies, reset connections, lie about lengths, stall.
//
// Usage: node fault_server.js [--cert FILE --key FILE]
//   Without --cert it speaks plain HTTP, with it HTTPS (TLS 1.2+).
//   Listens on 127.0.0.1 (port chosen by the OS), on the same port on 127.0.0.2 when that address is usable (a
//   second origin for cross-origin tests), plus two helper listeners on 127.0.0.1:
//     control: plain HTTP  GET /requests  one line per recorded request:
//                            <conn-id> TAB <local-address> TAB <sni> TAB <method> TAB <target> {TAB <name>: <value>}
//                            (<sni>: the TLS server name the client sent, "-" for none or plain HTTP)
//                          GET /stats     one line per local address: <address> <tcp> <open> <max-open> <tls-failures>
//                          GET /reset     forgets requests, stats and scenario counters
//     silent:  accepts TCP connections and never sends a byte (connect succeeds, then nothing)
//   Prints "ports <main> <control> <silent> <second-host 0|1>" on stdout once listening.
//   Exits when stdin closes, so it never outlives the test process that started it.
//
// Scenarios (path; the query only makes a target unique unless noted):
//   /ok                          200 "ok"
//   /status/<code>, /404         that status
//   /retry-after-seconds/<n>     429 with "Retry-After: 1" (or ?ra=<value>) n times per target, then 200
//   /retry-after-date/<n>        429 with an HTTP-date ~1 s ahead n times, then 200
//   /garbage-retry-after/<n>     429 with "Retry-After: -5" (or ?ra=<value>) n times, then 200
//   /503/<n>, /fail/<code>/<n>   that status (503 by default) n times per target, then 200
//   /two-retry-after/<n>         429 with two different Retry-After headers n times, then 200
//   /redirect                    302 to /ok
//   /reset-mid-body              Content-Length 10000, 5000 bytes, then TCP RST
//   /short-body                  Content-Length 1000, 500 bytes, then FIN
//   /chunked-cut                 two chunks, then FIN without the last chunk
//   /cut-no-close-notify         Content-Length 1000, 500 bytes, then the socket is destroyed (TLS: no close_notify)
//   /ok-close-no-notify          complete 200 with "Connection: close", then destroyed (TLS: no close_notify)
//   /close-delimited             200 without Content-Length or chunking, body ends at close (TLS: with close_notify)
//   /close-delimited-no-notify   same, but destroyed (TLS: no close_notify)
//   /slow                        headers (Content-Length 100), then silence
//   /silent                      no response at all
//   /trickle                     headers, then one body byte every 100 ms
//   /delay/<ms>                  200 after <ms>
//   /busy/<ms>                   429 (Retry-After: 0) while another /busy request is being answered, else 200
//                                after <ms>: a server that takes one request at a time (RELIABILITY T12)
//   /big?bytes=<n>               200 with n bytes (default 2 MiB) and Content-Length
//   /big-chunked?bytes=<n>       the same, chunked
//   /big-header                  a 100 KiB header
//   /gzip, /deflate              valid compressed bodies of GZIP_TEXT
//   /gzip-bomb                   ~2 MB of gzip that expands to 2 GiB of zeros (one member, valid CRC)
//   /gzip-truncated              gzip without its last 10 bytes (HTTP framing complete)
//   /gzip-badcrc                 gzip with a corrupted CRC-32
//   /br                          "Content-Encoding: br" (never offered)
//   /keepalive-then-close        200 (keep-alive), then the server closes the idle connection after 20 ms
//   /ok-then-drop-next           200 (keep-alive); the next request on that connection is dropped unanswered
//   FHIR paging faults (searchset Bundles, application/fhir+json):
//   /fhir/Patient?page=<k>&pages=<n>   page k of n, absolute next links
//   /fhir/relative-next                next link "Patient?page=2&pages=2" (relative)
//   /fhir/cross-origin                 next link on http(s)://127.0.0.2:<port>
//   /fhir/bad-port                     next link with "<port>:<port>"
//   /fhir/loop-a, /fhir/loop-b         next links A -> B -> A
//   /fhir/malformed-json               invalid JSON, correct framing
//   /fhir/truncated-json               JSON cut in the middle, correct framing
const net = require('net');
const tls = require('tls');
const fs = require('fs');
const http = require('http');
const zlib = require('zlib');

const HOST = '127.0.0.1';
const HOST2 = '127.0.0.2';
const GZIP_TEXT = 'cohort-finder gzip test line\n'.repeat(1000);

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}
const args = parseArgs(process.argv.slice(2));
const tlsOptions = args.cert ? { cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key), minVersion: 'TLSv1.2' } : null;
const scheme = tlsOptions ? 'https' : 'http';
let mainPort = 0;

// ---- records and stats --------------------------------------------------------------------------------------------
let records = [];
let counters = new Map();
let busyInFlight = 0;  // /busy requests being answered
const stats = new Map();  // local address -> { tcp, open, maxOpen, tlsFailures }
const openSockets = new Set();
let nextConnectionId = 1;

function statFor(address) {
  if (!stats.has(address)) stats.set(address, { tcp: 0, open: 0, maxOpen: 0, tlsFailures: 0 });
  return stats.get(address);
}
function countAndGet(key) {
  const n = (counters.get(key) || 0) + 1;
  counters.set(key, n);
  return n;
}
function trackTcp(socket) {
  const s = statFor(socket.localAddress.replace(/^::ffff:/, ''));
  s.tcp++;
  s.open++;
  s.maxOpen = Math.max(s.maxOpen, s.open);
  openSockets.add(socket);
  socket.on('close', () => { s.open--; openSockets.delete(socket); });
  socket.on('error', () => {});
}

// ---- response helpers ---------------------------------------------------------------------------------------------
const REASONS = { 200: 'OK', 204: 'No Content', 302: 'Found', 404: 'Not Found', 408: 'Request Timeout',
  429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Gateway Timeout' };

function head(status, headers) {
  let s = `HTTP/1.1 ${status} ${REASONS[status] || 'Status'}\r\n`;
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}
function send(ctx, status, body, headers = []) {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const all = [['Content-Length', buf.length], ...headers];
  if (!headers.some(([k]) => k.toLowerCase() === 'content-type')) all.push(['Content-Type', 'text/plain']);
  ctx.socket.write(head(status, all));
  if (ctx.method !== 'HEAD') ctx.socket.write(buf);
  ctx.done();
}
// Closes a socket without a TLS close_notify (for plain sockets: an ordinary close).
function destroyQuietly(socket) { socket.destroy(); }

// ---- compressed bodies --------------------------------------------------------------------------------------------
// CRC-32 of `len` zero bytes combined the way zlib's crc32_combine() does, so the bomb below carries a valid
// trailer without hashing 2 GiB here.
function gf2Times(mat, vec) {
  let sum = 0;
  for (let i = 0; vec; vec >>>= 1, i++) if (vec & 1) sum ^= mat[i];
  return sum >>> 0;
}
function gf2Square(square, mat) { for (let n = 0; n < 32; n++) square[n] = gf2Times(mat, mat[n]); }
function crc32Combine(crc1, crc2, len2) {
  if (len2 <= 0) return crc1;
  const even = new Array(32), odd = new Array(32);
  odd[0] = 0xedb88320;
  let row = 1;
  for (let n = 1; n < 32; n++) { odd[n] = row; row <<= 1; }
  gf2Square(even, odd);
  gf2Square(odd, even);
  do {
    gf2Square(even, odd);
    if (len2 % 2) crc1 = gf2Times(even, crc1);
    len2 = Math.floor(len2 / 2);
    if (len2 === 0) break;
    gf2Square(odd, even);
    if (len2 % 2) crc1 = gf2Times(odd, crc1);
    len2 = Math.floor(len2 / 2);
  } while (len2 !== 0);
  return (crc1 ^ crc2) >>> 0;
}
function crc32(buf) {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) {
    c ^= buf[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
let bombCache = null;
function gzipBomb() {
  if (bombCache) return bombCache;
  const blockSize = 16 << 20, blocks = 128;  // 2 GiB of zeros
  // A raw deflate block sequence ending with a full flush restarts cleanly, so it can be repeated verbatim.
  const block = zlib.deflateRawSync(Buffer.alloc(blockSize), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  const blockCrc = crc32OfZeros(blockSize);
  let crc = blockCrc;
  for (let i = 1; i < blocks; i++) crc = crc32Combine(crc, blockCrc, blockSize);
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const final = Buffer.from([0x03, 0x00]);  // empty final fixed-Huffman block
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc, 0);
  trailer.writeUInt32LE((blockSize * blocks) % 0x100000000, 4);
  const parts = [header];
  for (let i = 0; i < blocks; i++) parts.push(block);
  parts.push(final, trailer);
  bombCache = Buffer.concat(parts);
  return bombCache;
}
// CRC-32 of `len` zero bytes (len = 4096 * 2^k), by doubling: crc(A || A) = combine(crc(A), crc(A), |A|).
function crc32OfZeros(len) {
  let have = 4096;
  let crc = crc32(Buffer.alloc(have));
  while (have < len) { crc = crc32Combine(crc, crc, have); have *= 2; }
  if (have !== len) throw new Error('block size must be 4096 * 2^k');
  return crc;
}

// ---- FHIR pages ---------------------------------------------------------------------------------------------------
function bundle(self, next, ids) {
  const link = [{ relation: 'self', url: self }];
  if (next !== null) link.push({ relation: 'next', url: next });
  return JSON.stringify({
    resourceType: 'Bundle', type: 'searchset', link,
    entry: ids.map((id) => ({ fullUrl: `${self.split('/fhir/')[0]}/fhir/Patient/${id}`,
      resource: { resourceType: 'Patient', id }, search: { mode: 'match' } })),
  });
}
function fhir(ctx, body) { send(ctx, 200, body, [['Content-Type', 'application/fhir+json']]); }

// ---- scenarios ----------------------------------------------------------------------------------------------------
function handle(ctx) {
  const url = new URL(ctx.target, 'http://x');
  const path = url.pathname;
  const q = url.searchParams;
  const base = `${scheme}://${ctx.localAddress}:${mainPort}`;
  let m;

  if (path === '/ok') return send(ctx, 200, 'ok');
  if (path === '/404') return send(ctx, 404, 'not found');
  if ((m = path.match(/^\/status\/(\d{3})$/))) return send(ctx, Number(m[1]), `status ${m[1]}`);
  if ((m = path.match(/^\/retry-after-seconds\/(\d+)$/))) {
    if (countAndGet(ctx.target) <= Number(m[1])) return send(ctx, 429, 'slow down', [['Retry-After', q.get('ra') ?? '1']]);
    return send(ctx, 200, 'ok after retry-after');
  }
  if ((m = path.match(/^\/retry-after-date\/(\d+)$/))) {
    if (countAndGet(ctx.target) <= Number(m[1]))
      return send(ctx, 429, 'slow down', [['Retry-After', new Date(Date.now() + 1000).toUTCString()]]);
    return send(ctx, 200, 'ok after retry-after date');
  }
  if ((m = path.match(/^\/garbage-retry-after\/(\d+)$/))) {
    if (countAndGet(ctx.target) <= Number(m[1])) return send(ctx, 429, 'slow down', [['Retry-After', q.get('ra') ?? '-5']]);
    return send(ctx, 200, 'ok after garbage');
  }
  if ((m = path.match(/^\/two-retry-after\/(\d+)$/))) {
    if (countAndGet(ctx.target) <= Number(m[1]))
      return send(ctx, 429, 'slow down', [['Retry-After', '100'], ['Retry-After', '1']]);
    return send(ctx, 200, 'ok');
  }
  if ((m = path.match(/^\/503\/(\d+)$/)) || (m = path.match(/^\/fail\/(\d{3})\/(\d+)$/))) {
    const code = m.length === 3 ? Number(m[1]) : 503;
    const n = Number(m[m.length - 1]);
    if (countAndGet(ctx.target) <= n) return send(ctx, code, `failure ${code}`);
    return send(ctx, 200, 'ok after failures');
  }
  if (path === '/redirect') return send(ctx, 302, 'moved', [['Location', `${base}/ok`]]);
  if (path === '/reset-mid-body') {
    ctx.socket.write(head(200, [['Content-Length', 10000]]));
    ctx.socket.write(Buffer.alloc(5000, 'a'), () => setTimeout(() => ctx.socket.resetAndDestroy(), 20));
    return;
  }
  if (path === '/short-body') {
    ctx.socket.write(head(200, [['Content-Length', 1000]]));
    ctx.socket.end(Buffer.alloc(500, 'a'));
    return;
  }
  if (path === '/chunked-cut') {
    ctx.socket.write(head(200, [['Transfer-Encoding', 'chunked']]));
    ctx.socket.end('5\r\nhello\r\n6\r\n world\r\n');
    return;
  }
  if (path === '/cut-no-close-notify') {
    ctx.socket.write(head(200, [['Content-Length', 1000]]));
    ctx.socket.write(Buffer.alloc(500, 'a'), () => setTimeout(() => destroyQuietly(ctx.socket), 20));
    return;
  }
  if (path === '/ok-close-no-notify') {
    ctx.socket.write(head(200, [['Content-Length', 2], ['Connection', 'close']]));
    ctx.socket.write('ok', () => setTimeout(() => destroyQuietly(ctx.socket), 20));
    return;
  }
  if (path === '/close-delimited' || path === '/close-delimited-no-notify') {
    ctx.socket.write(head(200, [['Connection', 'close']]));
    if (path === '/close-delimited') ctx.socket.end('body until close');
    else ctx.socket.write('body until close', () => setTimeout(() => destroyQuietly(ctx.socket), 20));
    return;
  }
  if (path === '/slow') { ctx.socket.write(head(200, [['Content-Length', 100]])); return; }
  if (path === '/silent') return;
  if (path === '/trickle') {
    ctx.socket.write(head(200, [['Content-Length', 1000]]));
    const timer = setInterval(() => { if (ctx.socket.destroyed) clearInterval(timer); else ctx.socket.write('x'); }, 100);
    ctx.socket.on('close', () => clearInterval(timer));
    return;
  }
  if ((m = path.match(/^\/delay\/(\d+)$/))) { setTimeout(() => send(ctx, 200, 'ok'), Number(m[1])); return; }
  if ((m = path.match(/^\/busy\/(\d+)$/))) {
    if (busyInFlight > 0) return send(ctx, 429, 'one at a time', [['Retry-After', '0']]);
    ++busyInFlight;
    setTimeout(() => { --busyInFlight; send(ctx, 200, 'ok'); }, Number(m[1]));
    return;
  }
  if (path === '/big') return send(ctx, 200, Buffer.alloc(Number(q.get('bytes') ?? 2 << 20), 'b'));
  if (path === '/big-chunked') {
    let left = Number(q.get('bytes') ?? 2 << 20);
    ctx.socket.write(head(200, [['Transfer-Encoding', 'chunked']]));
    const piece = Buffer.alloc(64 * 1024, 'c');
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, piece.length);
        left -= n;
        const sent = [ctx.socket.write(`${n.toString(16)}\r\n`), ctx.socket.write(piece.subarray(0, n)), ctx.socket.write('\r\n')];
        if (sent.includes(false)) {
          ctx.socket.once('drain', pump);
          return;
        }
      }
      ctx.socket.write('0\r\n\r\n');
      ctx.done();
    };
    pump();
    return;
  }
  if (path === '/big-header') return send(ctx, 200, 'ok', [['X-Padding', 'p'.repeat(100 * 1024)]]);
  if (path === '/gzip') return send(ctx, 200, zlib.gzipSync(GZIP_TEXT), [['Content-Encoding', 'gzip']]);
  if (path === '/deflate') return send(ctx, 200, zlib.deflateSync(GZIP_TEXT), [['Content-Encoding', 'deflate']]);
  if (path === '/gzip-bomb') return send(ctx, 200, gzipBomb(), [['Content-Encoding', 'gzip']]);
  if (path === '/gzip-truncated') {
    const gz = zlib.gzipSync(GZIP_TEXT);
    return send(ctx, 200, gz.subarray(0, gz.length - 10), [['Content-Encoding', 'gzip']]);
  }
  if (path === '/gzip-badcrc') {
    const gz = Buffer.from(zlib.gzipSync(GZIP_TEXT));
    gz[gz.length - 8] ^= 0xff;
    return send(ctx, 200, gz, [['Content-Encoding', 'gzip']]);
  }
  if (path === '/br') return send(ctx, 200, 'not really brotli', [['Content-Encoding', 'br']]);
  if (path === '/keepalive-then-close') {
    send(ctx, 200, 'ok');
    setTimeout(() => ctx.socket.destroy(), 20);
    return;
  }
  if (path === '/ok-then-drop-next') {
    ctx.connection.dropNext = true;
    return send(ctx, 200, 'ok');
  }

  if (path === '/fhir/Patient') {
    const page = Number(q.get('page') ?? 1), pages = Number(q.get('pages') ?? 3);
    const next = page < pages ? `${base}/fhir/Patient?page=${page + 1}&pages=${pages}` : null;
    return fhir(ctx, bundle(`${base}${ctx.target}`, next, [`p${page}a`, `p${page}b`]));
  }
  if (path === '/fhir/relative-next') return fhir(ctx, bundle(`${base}${ctx.target}`, 'Patient?page=2&pages=2', ['r1']));
  if (path === '/fhir/cross-origin')
    return fhir(ctx, bundle(`${base}${ctx.target}`, `${scheme}://${HOST2}:${mainPort}/fhir/Patient?page=2&pages=2`, ['c1']));
  if (path === '/fhir/bad-port')
    return fhir(ctx, bundle(`${base}${ctx.target}`, `${base}:${mainPort}/fhir/Patient?page=2&pages=2`, ['b1']));
  if (path === '/fhir/loop-a') return fhir(ctx, bundle(`${base}/fhir/loop-a`, `${base}/fhir/loop-b`, ['la']));
  if (path === '/fhir/loop-b') return fhir(ctx, bundle(`${base}/fhir/loop-b`, `${base}/fhir/loop-a`, ['lb']));
  if (path === '/fhir/malformed-json')
    return fhir(ctx, '{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient",}]');
  if (path === '/fhir/truncated-json') {
    const full = bundle(`${base}${ctx.target}`, null, ['t1', 't2', 't3']);
    return fhir(ctx, full.slice(0, Math.floor(full.length / 2)));
  }
  return send(ctx, 404, 'no such scenario');
}

// ---- HTTP/1.1 request framing on a raw socket ---------------------------------------------------------------------
function serve(socket) {
  const connection = { id: nextConnectionId++, dropNext: false };
  const localAddress = socket.localAddress.replace(/^::ffff:/, '');
  let buffered = Buffer.alloc(0);
  let busy = false;
  socket.on('error', () => {});
  socket.on('data', (chunk) => { buffered = Buffer.concat([buffered, chunk]); pump(); });

  function pump() {
    if (busy || socket.destroyed) return;
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buffered.length > 1 << 20) socket.destroy();
      return;
    }
    const lines = buffered.subarray(0, end).toString('latin1').split('\r\n');
    const [method, target] = lines[0].split(' ');
    const headers = lines.slice(1).map((line) => {
      const i = line.indexOf(':');
      return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
    });
    const lengthHeader = headers.find(([k]) => k === 'content-length');
    const length = lengthHeader ? Number(lengthHeader[1]) : 0;
    if (buffered.length < end + 4 + length) return;
    buffered = buffered.subarray(end + 4 + length);
    records.push({ connection: connection.id, localAddress, serverName: socket.servername || '-', method, target, headers });
    if (connection.dropNext) { socket.destroy(); return; }
    busy = true;
    const closeAfter = headers.some(([k, v]) => k === 'connection' && v.toLowerCase() === 'close');
    handle({ socket, connection, localAddress, method, target, headers,
      done: () => {
        busy = false;
        if (closeAfter) socket.end();
        else setImmediate(pump);
      } });
  }
}

function makeServer() {
  const server = tlsOptions ? tls.createServer(tlsOptions, serve) : net.createServer(serve);
  server.on('connection', trackTcp);
  if (tlsOptions) {
    server.on('tlsClientError', (err, socket) => {
      statFor(socket.localAddress.replace(/^::ffff:/, '')).tlsFailures++;
      socket.destroy();
    });
  }
  return server;
}

function listen(server, host, port) {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
}

function controlServer() {
  return http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    if (req.url === '/requests') {
      res.end(records.map((r) => [r.connection, r.localAddress, r.serverName, r.method, r.target,
        ...r.headers.map(([k, v]) => `${k}: ${v.replace(/\t/g, ' ')}`)].join('\t') + '\n').join(''));
    } else if (req.url === '/stats') {
      res.end([...stats].map(([a, s]) => `${a} ${s.tcp} ${s.open} ${s.maxOpen} ${s.tlsFailures}\n`).join(''));
    } else if (req.url === '/reset') {
      records = [];
      counters = new Map();
      for (const s of stats.values()) { s.tcp = 0; s.maxOpen = s.open; s.tlsFailures = 0; }
      res.end('ok\n');
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
}

async function main() {
  const main1 = makeServer();
  if (!(await listen(main1, HOST, 0))) throw new Error(`cannot listen on ${HOST}`);
  mainPort = main1.address().port;
  const main2 = makeServer();
  const secondHost = await listen(main2, HOST2, mainPort);
  const control = controlServer();
  await listen(control, HOST, 0);
  const silent = net.createServer((socket) => { openSockets.add(socket); socket.on('error', () => {}); });
  await listen(silent, HOST, 0);
  process.stdout.write(`ports ${mainPort} ${control.address().port} ${silent.address().port} ${secondHost ? 1 : 0}\n`);
}

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
main().catch((e) => { process.stderr.write(`fault server: ${e.message}\n`); process.exit(1); });
