#!/usr/bin/env node
// Signs one request with the seed product's own Node SDK signer (the npm package
// @huaweicloud/huaweicloud-sdk-core, auth/AKSKSigner.js), for the App authentication
// interop tests (tests/integration/app_auth_test.cc).
//
//   SDK_SIGNER_MODULES=<node_modules dir> node sign.js [JOB_FILE]   (the job on stdin without it)
//
// Job (JSON):
//   { "method": "GET", "url": "http://127.0.0.1:8080/path/a%20b",   (the query part is ignored)
//     "headers": { "Content-Type": "application/json" },          (optional; all are signed)
//     "data": { ... },            (optional; the body is JSON.stringify(data), as the SDK sends it)
//     "query": { "a": ["1", "0"], "b": "x y" },   (optional; decoded values, as the SDK's queryParams)
//     "ak": "k-123", "sk": "secret",
//     "date": "20240101T120000Z",   (optional; X-Sdk-Date, else the SDK takes the current time)
//     "unsigned": true }            (optional; adds X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD)
// Result on stdout (JSON): { "headers": { name: value, ... every header to send, Authorization,
//   X-Sdk-Date and host included }, "body": "<the exact body bytes to send, or empty>" }
// Exit status 2 with a message on stderr when the job or the package is unusable.
'use strict';
const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write('sign.js: ' + msg + '\n');
  process.exit(2);
}

const modules = process.env.SDK_SIGNER_MODULES;
if (!modules) fail('SDK_SIGNER_MODULES (a node_modules directory) is not set');
const core = path.join(modules, '@huaweicloud', 'huaweicloud-sdk-core');
let AKSKSigner;
let BasicCredentials;
try {
  AKSKSigner = require(path.join(core, 'auth', 'AKSKSigner.js')).AKSKSigner;
  BasicCredentials = require(path.join(core, 'auth', 'BasicCredentials.js')).BasicCredentials;
} catch (e) {
  fail('cannot load the SDK signer from ' + core + ': ' + e.message);
}

let job;
try {
  job = JSON.parse(fs.readFileSync(process.argv[2] || 0, 'utf8'));
} catch (e) {
  fail('bad job: ' + e.message);
}
if (!job.method || !job.url || !job.ak || !job.sk) fail('job needs method, url, ak and sk');

const headers = Object.assign({}, job.headers || {});
if (job.date) headers['X-Sdk-Date'] = job.date;
if (job.unsigned) headers['X-Sdk-Content-Sha256'] = 'UNSIGNED-PAYLOAD';

// The request object as the SDK's HttpRequestBuilder makes it.
const request = { endpoint: job.url, method: job.method, headers: headers };
if (job.query !== undefined) request.queryParams = job.query;
if (job.data !== undefined) request.data = job.data;

const credential = new BasicCredentials().withAk(job.ak).withSk(job.sk);
const signed = AKSKSigner.sign(request, credential);
const body = job.data !== undefined ? JSON.stringify(job.data) : '';
process.stdout.write(JSON.stringify({ headers: signed, body: body }) + '\n');
