#!/usr/bin/env node
'use strict';
// SMART Backend Services authorization server for the auth tests (RELIABILITY.md A1-A7, scenarios A-2..A-13).
// Node built-in modules only. It VERIFIES every client assertion the way a real server (and Inferno) does: JWS
// signature with the registered public key (RS384, or ES384 in ieee-p1363 form), header alg/typ/kid, claims
// iss = sub = client id, aud = this token URL, exp in the future and at most 5 minutes ahead, iat, and a jti that
// was never seen before; then it issues short-lived opaque tokens that /fhir/Patient accepts until they expire or
// are revoked.
//
// Usage: node token_server.js --public-key FILE --alg RS384|ES384 --kid KID --client-id ID [options]
//   --expires-in N        expires_in of issued tokens (default 300)
//   --no-expires-in       leave expires_in out of token responses
//   --grant-scope "..."   scope to report as granted (default: the requested scope)
//   --error CODE          answer every token request 400/401 {error: CODE}; error_description echoes the assertion
//   --token-endpoint URL  token_endpoint in the discovery document (default: this server's /token)
//   --tls-token-endpoint  token_endpoint https://localhost:<https port>/token (needs --cert)
//   --algs "A,B"          token_endpoint_auth_signing_alg_values_supported (default "RS384,ES384")
//   --big-response BYTES  answer token requests with a 200 JSON body of BYTES bytes
//   --non-json            answer token requests with a 200 HTML page
//   --date-offset S       Date header of token responses S seconds off the real clock
//   --fail-first N        answer the first N token requests with --fail-status (default 500), after verifying them
//   --cert FILE --key FILE  also listen with HTTPS (same routes)
// Listens on 127.0.0.1 with OS-chosen ports; prints "ports <http> <https or 0>" once listening; exits when stdin
// closes.
//
// Routes: GET  /fhir/.well-known/smart-configuration   discovery document
//         POST /token                                  token endpoint
//         GET  /fhir/metadata                          a minimal FHIR 4.0.1 CapabilityStatement
//         GET  /fhir/<Type>                            an empty searchset Bundle with a valid bearer token, else 401
//         GET  /fhir/$export                           202 to /fhir/_export/job (valid bearer token, else 401)
//         GET  /fhir/_export/job                       200, a manifest with no files; DELETE: 202
//         GET  /_control/token-requests                JSON array: one record per token request (see record())
//         GET  /_control/revoke                        revokes every token issued so far
//         GET  /_control/counts                        {"discovery": n, "token": n, "fhir": n, "fhir_401": n}
const http = require('http');
const https = require('https');
const crypto = require('crypto');
const fs = require('fs');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[name] = argv[++i];
    else out[name] = true;
  }
  return out;
}
const args = parseArgs(process.argv.slice(2));
const publicKey = crypto.createPublicKey(fs.readFileSync(args['public-key']));
const expectedAlg = args.alg;
const expectedKid = args.kid;
const clientId = args['client-id'];
const expiresIn = args['expires-in'] !== undefined ? Number(args['expires-in']) : 300;

const tokenRequests = [];
const seenJti = new Set();
const tokens = new Map();  // access token -> expiry (ms since epoch)
const counts = { discovery: 0, token: 0, fhir: 0, fhir_401: 0 };

function json(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function decodeSegment(seg, violations, what) {
  if (!/^[A-Za-z0-9_-]+$/.test(seg)) {
    violations.push(`${what} is not base64url without padding`);
    return null;
  }
  return Buffer.from(seg, 'base64url');
}

// Checks one client assertion; returns the record (violations empty when it is acceptable).
function verifyAssertion(assertion, tokenUrl) {
  const now = Math.floor(Date.now() / 1000);
  const r = { violations: [], assertion, server_now: now };
  const parts = String(assertion || '').split('.');
  if (parts.length !== 3) {
    r.violations.push('assertion is not a compact JWS with three parts');
    return r;
  }
  const headerBuf = decodeSegment(parts[0], r.violations, 'header');
  const claimsBuf = decodeSegment(parts[1], r.violations, 'claims');
  const sig = decodeSegment(parts[2], r.violations, 'signature');
  let header = {}, claims = {};
  try { header = JSON.parse(headerBuf.toString('utf8')); } catch (e) { r.violations.push('header is not JSON'); }
  try { claims = JSON.parse(claimsBuf.toString('utf8')); } catch (e) { r.violations.push('claims are not JSON'); }
  Object.assign(r, { alg: header.alg, typ: header.typ, kid: header.kid, iss: claims.iss, sub: claims.sub,
    aud: claims.aud, exp: claims.exp, iat: claims.iat, jti: claims.jti, sig_bytes: sig ? sig.length : 0,
    header_keys: Object.keys(header).sort().join(','), claim_keys: Object.keys(claims).sort().join(',') });
  if (header.alg !== expectedAlg) r.violations.push(`alg ${header.alg} is not ${expectedAlg}`);
  if (header.typ !== 'JWT') r.violations.push('typ is not JWT');
  if (header.kid !== expectedKid) r.violations.push('kid does not match the registered key');
  if (sig) {
    const data = Buffer.from(`${parts[0]}.${parts[1]}`);
    let valid = false;
    try {
      if (expectedAlg === 'ES384') {
        if (sig.length !== 96) r.violations.push(`ES384 signature is ${sig.length} bytes, not 96 (R||S)`);
        valid = crypto.verify('sha384', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
      } else {
        valid = crypto.verify('sha384', data, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
      }
    } catch (e) { valid = false; }
    if (!valid) r.violations.push('signature does not verify with the registered public key');
  }
  if (claims.iss !== clientId) r.violations.push('iss is not the client id');
  if (claims.sub !== clientId) r.violations.push('sub is not the client id');
  if (claims.aud !== tokenUrl) r.violations.push(`aud ${claims.aud} is not ${tokenUrl}`);
  if (!Number.isInteger(claims.exp)) r.violations.push('exp is not an integer');
  else if (claims.exp <= now) r.violations.push('exp is in the past');
  else if (claims.exp > now + 300) r.violations.push('exp is more than 5 minutes ahead');
  if (!Number.isInteger(claims.iat)) r.violations.push('iat is not an integer');
  else if (claims.iat > now + 5 || claims.iat < now - 60) r.violations.push('iat is not now');
  if (typeof claims.jti !== 'string' || !/^[0-9a-f]{32,}$/.test(claims.jti))
    r.violations.push('jti is not at least 128 bits of hex');
  else if (seenJti.has(claims.jti)) r.violations.push('jti was used before (replay)');
  else seenJti.add(claims.jti);
  return r;
}

function handleToken(req, res, body, scheme) {
  counts.token++;
  const tokenUrl = `${scheme}://${req.headers.host}/token`;
  const form = new URLSearchParams(body);
  const r = verifyAssertion(form.get('client_assertion'), tokenUrl);
  Object.assign(r, { scheme, content_type: req.headers['content-type'] || '', grant_type: form.get('grant_type'),
    scope: form.get('scope'), client_assertion_type: form.get('client_assertion_type'),
    form_keys: [...form.keys()].sort().join(',') });
  if (r.content_type !== 'application/x-www-form-urlencoded') r.violations.push('wrong Content-Type');
  if (r.grant_type !== 'client_credentials') r.violations.push('grant_type is not client_credentials');
  if (r.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    r.violations.push('wrong client_assertion_type');
  if (!r.scope) r.violations.push('no scope');
  tokenRequests.push(r);

  const extra = {};
  if (args['date-offset']) extra.Date = new Date(Date.now() + Number(args['date-offset']) * 1000).toUTCString();
  if (args['fail-first'] && counts.token <= Number(args['fail-first'])) {
    return json(res, Number(args['fail-status'] || 500), { error: 'temporarily_unavailable' }, extra);
  }
  if (args.error) {
    const status = args.error === 'invalid_client' ? 401 : 400;
    return json(res, status, { error: args.error,
      error_description: `rejected client assertion ${r.assertion}` }, extra);
  }
  if (args['big-response']) {
    const size = Number(args['big-response']);
    const head = '{"access_token":"big","token_type":"bearer","padding":"';
    const text = head + 'x'.repeat(Math.max(0, size - head.length - 2)) + '"}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    return res.end(text);
  }
  if (args['non-json']) {
    const text = '<html><body>Login required</body></html>';
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': text.length });
    return res.end(text);
  }
  if (r.violations.length) return json(res, 401, { error: 'invalid_client', error_description: r.violations.join('; ') }, extra);
  const token = crypto.randomBytes(32).toString('base64url');
  const lifetime = args['no-expires-in'] ? 300 : expiresIn;
  tokens.set(token, Date.now() + lifetime * 1000);
  r.issued = token;
  const answer = { access_token: token, token_type: 'bearer', scope: args['grant-scope'] || r.scope };
  if (!args['no-expires-in']) answer.expires_in = expiresIn;
  return json(res, 200, answer, { 'Cache-Control': 'no-store', ...extra });
}

function handler(scheme) {
  return (req, res) => {
    const url = new URL(req.url, 'http://x');
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size <= 1 << 20) chunks.push(c); });
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const p = url.pathname;
      if (p === '/_control/token-requests') return json(res, 200, tokenRequests);
      if (p === '/_control/counts') return json(res, 200, counts);
      if (p === '/_control/revoke') { tokens.clear(); return json(res, 200, { revoked: true }); }
      if (p === '/fhir/.well-known/smart-configuration' && req.method === 'GET') {
        counts.discovery++;
        let tokenEndpoint = args['token-endpoint'] || `${scheme}://${req.headers.host}/token`;
        if (args['tls-token-endpoint']) tokenEndpoint = `https://localhost:${secure.address().port}/token`;
        return json(res, 200, {
          token_endpoint: tokenEndpoint,
          token_endpoint_auth_methods_supported: ['private_key_jwt'],
          token_endpoint_auth_signing_alg_values_supported: (args.algs || 'RS384,ES384').split(','),
          grant_types_supported: ['client_credentials'],
          scopes_supported: ['system/*.rs'],
          capabilities: ['client-confidential-asymmetric', 'permission-v2'],
        });
      }
      if (p === '/token' && req.method === 'POST') return handleToken(req, res, body, scheme);
      if (p === '/fhir/metadata' && req.method === 'GET')
        return json(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance',
          fhirVersion: '4.0.1', format: ['json'], rest: [{ mode: 'server' }] });
      const fhir = /^\/fhir\/[A-Z][A-Za-z]+$/.test(p);
      const bulk = p === '/fhir/$export' || p === '/fhir/_export/job';
      if (fhir || bulk) {
        counts.fhir++;
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization || '');
        const expiry = m ? tokens.get(m[1]) : undefined;
        if (!expiry || expiry <= Date.now()) {
          counts.fhir_401++;
          return json(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] },
            { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
        }
        if (fhir) return json(res, 200, { resourceType: 'Bundle', type: 'searchset', total: 0 });
        if (p === '/fhir/$export') {
          res.writeHead(202, { 'Content-Location': `${scheme}://${req.headers.host}/fhir/_export/job`, 'Content-Length': 0 });
          return res.end();
        }
        if (req.method === 'DELETE') { res.writeHead(202, { 'Content-Length': 0 }); return res.end(); }
        return json(res, 200, { transactionTime: new Date().toISOString(), request: `${scheme}://${req.headers.host}/fhir/$export`,
          requiresAccessToken: true, output: [], error: [] });
      }
      return json(res, 404, { error: 'not found' });
    });
  };
}

const plain = http.createServer(handler('http'));
let secure = null;
if (args.cert) {
  secure = https.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key),
    minVersion: 'TLSv1.2' }, handler('https'));
}
plain.listen(0, '127.0.0.1', () => {
  const announce = () => process.stdout.write(`ports ${plain.address().port} ${secure ? secure.address().port : 0}\n`);
  if (secure) secure.listen(0, '127.0.0.1', announce);
  else announce();
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
