// How the vectors in auth_test.cc were produced (run: node tests/unit/auth_vectors.js).
// Needs the seed product's Node SDK core, pinned: npm install @huaweicloud/huaweicloud-sdk-core@3.1.211
// (set SDK_CORE to its directory). Part 1 sends real requests through the SDK's HcClient to a
// local capture server and prints what arrived on the wire (method, target, headers, body) —
// exactly what a gateway receives. Part 2 calls AKSKSigner.sign directly (the `ringway sign`
// reference). The host header is pinned (127.0.0.1:8080) so the vectors do not depend on the port.
'use strict';
const core = process.env.SDK_CORE ||
    '/tmp/npmtest/node_modules/@huaweicloud/huaweicloud-sdk-core/';
const {HcClient} = require(core + '/HcClient.js');
const {DefaultHttpClient} = require(core + '/http/DefaultHttpClient.js');
const {BasicCredentials} = require(core + '/auth/BasicCredentials.js');
const {AKSKSigner} = require(core + '/auth/AKSKSigner.js');
const http = require('http');
const url = require('url');

const kDate = '20240102T030405Z';
const kHost = '127.0.0.1:8080';
const wire = [
  {name: 'GetQuery', method: 'GET', url: '/v1/{project_id}/items/é',
   queryParams: {b: ['2', '1', '10'], a: 'x y', c: '', 'é': '+&=', k: "!*'()", z: 'Z'}},
  {name: 'GetPath', method: 'GET', url: '/v1/a b/x%2Fy/é~-_.,;', queryParams: {}},
  {name: 'PostJson', method: 'POST', url: '/v1/{project_id}/items', contentType: 'application/json',
   headers: {'X-Custom': 'v1'}, data: {name: 'a b', n: [1, 2], u: 'é'}},
  {name: 'PutUnsigned', method: 'PUT', url: '/v1/up', contentType: 'application/octet-stream',
   data: '0123456789'},
];
const cstr = (s) => JSON.stringify(s).replace(/[\u0080-\uffff]/g,
    (c) => Array.from(Buffer.from(c)).map((b) => '\\x' + b.toString(16)).join('') + '""');

async function part1() {
  const got = [];
  const srv = http.createServer((req, res) => {
    let body = Buffer.alloc(0);
    req.on('data', (c) => body = Buffer.concat([body, c]));
    req.on('end', () => {
      got.push({method: req.method, url: req.url, headers: req.rawHeaders, body: body.toString()});
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const ep = 'http://127.0.0.1:' + srv.address().port;
  const cred = new BasicCredentials().withAk('AK1').withSk('SK1').withProjectId('p1');
  const c = new HcClient(new DefaultHttpClient({}, [ep]), {}).withCredential(cred).withEndpoints([ep]);
  for (const o of wire) {
    const opts = Object.assign({pathParams: {}, queryParams: {}}, o);
    opts.headers = Object.assign({'X-Sdk-Date': kDate, 'host': kHost}, o.headers || {});
    await c.sendRequest(opts);
  }
  srv.close();
  wire.forEach((o, i) => {
    const g = got[i];
    const q = g.url.indexOf('?');
    console.log(`// ${o.name}: ${JSON.stringify(o)}`);
    console.log(`const WireVector k${o.name} = {${cstr(g.method)}, ${cstr(q < 0 ? g.url : g.url.slice(0, q))}, ${cstr(q < 0 ? '' : g.url.slice(q + 1))},`);
    const hs = [];
    for (let j = 0; j < g.headers.length; j += 2) {
      hs.push(`{${cstr(g.headers[j].toLowerCase())}, ${cstr(g.headers[j + 1])}}`);
    }
    console.log(`    {${hs.join(', ')}},\n    ${cstr(g.body)}};`);
  });
}

function part2() {
  const cases = [
    {name: 'SignGet', method: 'GET', url: 'http://api.example.com:8443/v1/a%20b/é?b=2&b=1&a=x+y&flag&k=%2B', headers: {}, body: ''},
    {name: 'SignPost', method: 'POST', url: 'http://api.example.com/v1/items',
     headers: {'Content-Type': 'application/json', 'X-Tenant': 't1'}, body: '{"name":"n","v":[1,2]}'},
  ];
  for (const c of cases) {
    const p = url.parse(c.url, true);
    const req = {method: c.method, endpoint: c.url, queryParams: p.query,
                 headers: Object.assign({'X-Sdk-Date': kDate}, c.headers),
                 data: c.body ? JSON.parse(c.body) : undefined};
    const cred = new BasicCredentials().withAk('AK2').withSk('SK2');
    const out = AKSKSigner.sign(req, cred);
    console.log(`// ${c.name}: AKSKSigner.sign(${JSON.stringify(c)})`);
    console.log(`constexpr std::string_view k${c.name}Auth = ${cstr(out.Authorization)};`);
  }
}
part1().then(part2);
