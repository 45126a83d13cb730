#!/usr/bin/env node
// A WebSocket peer for it_websocket, built on the `ws` module (Debian's node-ws): the gateway is
// tested against an implementation it did not write.
//
// Server (an echo origin on 127.0.0.1, port 0 unless --port):
//   node ws_peer.js server [--tls CERT KEY] [--refuse STATUS] [--close-after-first]
// prints "listening PORT", then one line per event:
//   "upgrade id=N path=P headers=JSON"   an upgrade request arrived (headers as received)
//   "open id=N"                          the handshake completed (101 sent)
//   "refused id=N status=S"              the upgrade was answered with S instead
//   "message id=N type=text|binary bytes=B"
//   "close id=N code=C reason=R"         the WebSocket closed (1006: no close frame)
//   "conn-closed id=N"                   its TCP connection is gone
//   "request method=M path=P headers=JSON" an ordinary HTTP request (answered 200 with JSON)
// Every message is echoed with its type. The behaviour can also be chosen per request by the
// path, so one server serves every test: a segment "refuse" followed by a status refuses
// (400 plain; 426 with "Sec-WebSocket-Version: 13"), "close-after-first" makes the server close
// (code 4000, reason "server-bye") after echoing the first message, and an ordinary (non-upgrade)
// request whose path has "raw101" is answered "101 Switching Protocols" anyway. More segments
// of an upgrade's path: "greet" sends the text "greeting" in the same write as the 101 (the
// socket is corked over both); "flood-close" sends one binary message of 1 MiB (kPattern) and
// closes with 4001 "flood-done"; "flood-end" sends that message and then ends its TCP
// connection without a close frame; "tick" sends "tick" every 100 ms ("tick id=N n=K"); "mute"
// echoes nothing; "bare101" answers the upgrade "101" with neither Upgrade nor Connection;
// "any101" accepts any Upgrade protocol (101 with the request's Upgrade value) and then echoes
// raw bytes; "firehose" sends binary messages of 64 KiB, each once the previous one was
// handed to the kernel, 128 MiB in all ("firehose id=N mib=M" at each MiB), then closes with 4002
// "firehose-done". Binary messages are logged with their sha1.
//
// Client (one scenario, one result line "ok ..." or "fail ...", exit 0 / 1, bounded):
//   node ws_peer.js client URL SCENARIO [N] [--ca FILE] [--protocol P] [--timeout MS]
//                                        [--interval MS]
//   echo          text and binary messages of 1, 125, 126, 65535, 65536 and 1 MiB bytes,
//                 each echoed with the same type and content
//   ping          a ping with a payload is answered by a pong with that payload
//   close-client  echo one message, then close with 1000 "client-bye"; the close completes
//                 with 1000
//   close-server  echo one message; the server then closes with 4000 "server-bye"
//   many N        N connections opened at once, each echoes one message; all must succeed.
//                 With --hold: print "holding n=N" and keep them open until stdin ends.
//   idle          connect, then wait for the other side to close: "ok idle code=C ms=T"
//   vanish        echo one message, then reset the TCP connection (no close frame)
//   greet         the first message (sent by the server's "greet" path with its 101) is the
//                 text "greeting"; then one echo
//   receive       wait for one binary message of 1 MiB with the pattern the server's flood-*
//                 paths send, then for the close: "ok receive bytes=B code=C reason=R"
//   send-end      send a binary message of 1 MiB, then end the TCP connection at once (FIN, no
//                 close frame): "ok send-end sha1=H" once the connection is closed
//   send-only     send a message every --interval ms (default 100), printing "sent n=K",
//                 expecting no reply, until the connection closes: "ok send-only code=C"
//   pulse         echo a message every --interval ms (default 100), printing "echo n=K"
//                 for each, until the connection closes: "ok pulse code=C echoes=K ms=T"
// --protocol P: offer subprotocol P; the handshake must select it (Sec-WebSocket-Protocol
// made the round trip). --deflate: offer permessage-deflate; the handshake must accept it
// (Sec-WebSocket-Extensions made the round trip; the server compresses every message). --timeout: the scenario's bound (default 20000 ms).
'use strict';

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  try {
    WebSocket = require('/usr/share/nodejs/ws');
  } catch (e2) {
    process.stdout.write('fail ws module not found (install Debian\'s node-ws): ' + e.message +
                         '\n');
    process.exit(2);
  }
}
const fs = require('fs');
const http = require('http');
const https = require('https');
const crypto = require('crypto');

// 1 MiB of a fixed pattern: what flood-* sends and send-end sends.
function pattern() {
  const buf = Buffer.alloc(1 << 20);
  for (let i = 0; i < buf.length; ++i) buf[i] = (i * 31 + 7) & 0xff;
  return buf;
}

function sha1(data) { return crypto.createHash('sha1').update(data).digest('hex'); }

function say(line) { process.stdout.write(line + '\n'); }

function parseArgs(argv) {
  const opts = { positional: [], hold: false, closeAfterFirst: false, deflate: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--tls') {
      opts.cert = argv[++i];
      opts.key = argv[++i];
    } else if (a === '--refuse') {
      opts.refuse = Number(argv[++i]);
    } else if (a === '--close-after-first') {
      opts.closeAfterFirst = true;
    } else if (a === '--ca') {
      opts.ca = argv[++i];
    } else if (a === '--protocol') {
      opts.protocol = argv[++i];
    } else if (a === '--timeout') {
      opts.timeout = Number(argv[++i]);
    } else if (a === '--interval') {
      opts.interval = Number(argv[++i]);
    } else if (a === '--port') {
      opts.port = Number(argv[++i]);
    } else if (a === '--deflate') {
      opts.deflate = true;
    } else if (a === '--hold') {
      opts.hold = true;
    } else {
      opts.positional.push(a);
    }
  }
  return opts;
}

// ---- server ----

function segments(path) {
  return (path || '/').split('?')[0].split('/').filter((s) => s.length > 0);
}

function refusalFor(path, opts) {
  const segs = segments(path);
  const at = segs.indexOf('refuse');
  if (at >= 0 && at + 1 < segs.length) return Number(segs[at + 1]);
  return opts.refuse || 0;
}

function runServer(opts) {
  let nextId = 1;
  const handler = (req, res) => {
    say('request method=' + req.method + ' path=' + req.url + ' headers=' +
        JSON.stringify(req.headers));
    if (segments(req.url).includes('raw101')) {
      // A 101 nobody asked for: the gateway must not relay it.
      req.socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n' +
                       'Upgrade: websocket\r\n\r\n');
      req.socket.destroySoon();
      return;
    }
    const body = JSON.stringify({ method: req.method, path: req.url, headers: req.headers });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
  };
  const server = opts.cert ? https.createServer({ cert: fs.readFileSync(opts.cert),
                                                  key: fs.readFileSync(opts.key) }, handler)
                           : http.createServer(handler);
  server.keepAliveTimeout = 60000;
  const wss = new WebSocket.Server({
    noServer: true,
    // Negotiated only with a client that offers it (ws_peer.js clients do with --deflate).
    perMessageDeflate: { threshold: 0 },
    maxPayload: 64 * 1024 * 1024,
    handleProtocols: (protocols) => (protocols.size > 0 ? protocols.values().next().value : false),
    verifyClient: (info, cb) => {
      const id = nextId++;
      info.req.wsPeerId = id;
      say('upgrade id=' + id + ' path=' + info.req.url + ' headers=' +
          JSON.stringify(info.req.headers));
      const sock = info.req.socket;
      sock.once('close', () => say('conn-closed id=' + id));
      if (segments(info.req.url).includes('greet')) sock.cork();
      const status = refusalFor(info.req.url, opts);
      if (status) {
        say('refused id=' + id + ' status=' + status);
        const extra = status === 426 ? { 'Sec-WebSocket-Version': '13', Upgrade: 'websocket' }
                                     : {};
        cb(false, status, 'refused with ' + status + '\n', extra);
        return;
      }
      cb(true);
    },
  });
  wss.on('connection', (ws, req) => {
    const id = req.wsPeerId;
    const closeAfterFirst = opts.closeAfterFirst || segments(req.url).includes('close-after-first');
    const segs = segments(req.url);
    say('open id=' + id + ' protocol=' + (ws.protocol || '-'));
    if (segs.includes('greet')) {
      ws.send('greeting');
      process.nextTick(() => req.socket.uncork());
    }
    if (segs.includes('flood-close')) {
      ws.send(pattern(), { binary: true }, () => ws.close(4001, 'flood-done'));
    }
    if (segs.includes('flood-end')) {
      ws.send(pattern(), { binary: true }, () => ws._socket.end());
    }
    if (segs.includes('tick')) {
      let n = 0;
      const timer = setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send('tick');
        say('tick id=' + id + ' n=' + ++n);
      }, 100);
      ws.on('close', () => clearInterval(timer));
    }
    if (segs.includes('firehose')) {
      const piece = Buffer.alloc(64 * 1024, 0x5a);
      let sent = 0;
      const next = () => {
        if (ws.readyState !== WebSocket.OPEN) return;
        if (sent >= 128 * 1024 * 1024) {
          say('firehose-done id=' + id);
          ws.close(4002, 'firehose-done');
          return;
        }
        ws.send(piece, { binary: true }, (err) => {
          if (err) return;
          sent += piece.length;
          if (sent % (1024 * 1024) === 0) say('firehose id=' + id + ' mib=' + sent / (1024 * 1024));
          next();
        });
      };
      next();
    }
    const mute = segs.includes('mute');
    let messages = 0;
    ws.on('message', (data, isBinary) => {
      ++messages;
      say('message id=' + id + ' type=' + (isBinary ? 'binary' : 'text') + ' bytes=' + data.length +
          (isBinary ? ' sha1=' + sha1(data) : ''));
      if (mute) return;
      ws.send(data, { binary: isBinary }, () => {
        if (closeAfterFirst && messages === 1) ws.close(4000, 'server-bye');
      });
    });
    ws.on('close', (code, reason) => say('close id=' + id + ' code=' + code + ' reason=' +
                                          (reason.toString() || '-')));
    ws.on('error', (err) => say('error id=' + id + ' ' + err.message));
  });
  server.on('upgrade', (req, socket, head) => {
    const segs = segments(req.url);
    if (segs.includes('bare101') || segs.includes('any101')) {
      const id = nextId++;
      say('upgrade id=' + id + ' path=' + req.url + ' headers=' + JSON.stringify(req.headers));
      socket.once('close', () => say('conn-closed id=' + id));
      socket.on('error', () => {});
      if (segs.includes('bare101')) {
        // A 101 without Upgrade and Connection: the gateway must not switch.
        socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\n');
        return;
      }
      // Any protocol: 101 with the request's Upgrade, then every byte echoed as it is.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ' +
                   req.headers.upgrade + '\r\n\r\n');
      say('open id=' + id + ' raw');
      if (head && head.length) socket.write(head);
      socket.on('data', (d) => socket.write(d));
      socket.on('end', () => socket.end());
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('error', (err) => say('server-error ' + err.message));
  server.listen(opts.port || 0, '127.0.0.1', () => say('listening ' + server.address().port));
}

// ---- client ----

const kSizes = [1, 125, 126, 65535, 65536, 1 << 20];

function connect(url, opts) {
  const options = { perMessageDeflate: opts.deflate, maxPayload: 64 * 1024 * 1024,
                    handshakeTimeout: Math.min(opts.timeout, 10000) };
  if (opts.ca) options.ca = fs.readFileSync(opts.ca);
  return opts.protocol ? new WebSocket(url, [opts.protocol], options)
                       : new WebSocket(url, options);
}

// Resolves with the socket once open; rejects with the reason (an unexpected response says its
// status).
function opened(ws, opts) {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      if (opts.deflate && !ws.extensions.includes('permessage-deflate')) {
        reject(new Error('permessage-deflate not negotiated (extensions "' + ws.extensions + '")'));
        return;
      }
      if (opts.protocol && ws.protocol !== opts.protocol) {
        reject(new Error('subprotocol "' + ws.protocol + '", want "' + opts.protocol + '"'));
        return;
      }
      resolve(ws);
    });
    ws.once('unexpected-response', (req, res) => {
      reject(new Error('handshake answered ' + res.statusCode));
      res.resume();
    });
    ws.once('error', reject);
  });
}

// The next message, with its type.
function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    const onClose = (code) => reject(new Error('closed (code ' + code + ') before a message'));
    ws.once('close', onClose);
    ws.once('message', (data, isBinary) => {
      ws.removeListener('close', onClose);
      resolve({ data, isBinary });
    });
  });
}

function closed(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) {
      resolve({ code: ws._closeCode, reason: '' });
      return;
    }
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

function payload(size, binary, seed) {
  if (binary) return crypto.randomBytes(size);
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; ++i) buf[i] = chars.charCodeAt((i * 7 + seed) % chars.length);
  return buf;
}

async function echoOne(ws, size, binary, seed) {
  const sent = payload(size, binary, seed);
  const reply = nextMessage(ws);
  ws.send(binary ? sent : sent.toString('latin1'), { binary });
  const got = await reply;
  if (got.isBinary !== binary) {
    throw new Error('echo of a ' + (binary ? 'binary' : 'text') + ' message of ' + size +
                    ' bytes came back as ' + (got.isBinary ? 'binary' : 'text'));
  }
  if (!Buffer.from(got.data).equals(sent)) {
    throw new Error('echo of ' + size + ' bytes (' + (binary ? 'binary' : 'text') +
                    ') differs: got ' + got.data.length + ' bytes');
  }
}

const scenarios = {
  async echo(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    let bytes = 0;
    let n = 0;
    for (const binary of [false, true]) {
      for (const size of kSizes) {
        await echoOne(ws, size, binary, n);
        bytes += size;
        ++n;
      }
    }
    ws.close(1000);
    await closed(ws);
    return 'ok echo messages=' + n + ' bytes=' + bytes;
  },

  async ping(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const data = Buffer.from('ping-' + crypto.randomBytes(8).toString('hex'));
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    ws.ping(data);
    const got = await pong;
    if (!Buffer.from(got).equals(data)) throw new Error('pong payload "' + got + '" != "' + data + '"');
    ws.close(1000);
    await closed(ws);
    return 'ok ping';
  },

  async 'close-client'(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    await echoOne(ws, 16, false, 1);
    const done = closed(ws);
    ws.close(1000, 'client-bye');
    const c = await done;
    if (c.code !== 1000) throw new Error('close completed with ' + c.code + ', want 1000');
    return 'ok close-client code=' + c.code;
  },

  async 'close-server'(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const done = closed(ws);
    await echoOne(ws, 16, false, 2);
    const c = await done;
    if (c.code !== 4000 || c.reason !== 'server-bye') {
      throw new Error('closed with ' + c.code + ' "' + c.reason + '", want 4000 "server-bye"');
    }
    return 'ok close-server code=' + c.code + ' reason=' + c.reason;
  },

  async many(url, opts) {
    const n = Number(opts.positional[3] || 100);
    const sockets = [];
    const opens = [];
    for (let i = 0; i < n; ++i) {
      const ws = connect(url, opts);
      ws.on('error', () => {});  // reported through opened()/nextMessage()
      sockets.push(ws);
      opens.push(opened(ws, opts).then(() => true, (e) => e.message));
    }
    const results = await Promise.all(opens);
    const failed = results.filter((r) => r !== true);
    if (failed.length > 0) {
      throw new Error(failed.length + ' of ' + n + ' did not open; first: ' + failed[0]);
    }
    const echoes = await Promise.all(sockets.map((ws, i) =>
      echoOne(ws, 32, i % 2 === 1, i).then(() => true, (e) => e.message)));
    const bad = echoes.filter((r) => r !== true);
    if (bad.length > 0) throw new Error(bad.length + ' of ' + n + ' echoes failed; first: ' + bad[0]);
    if (opts.hold) {
      say('holding n=' + n);
      await new Promise((resolve) => {
        process.stdin.on('data', () => {});
        process.stdin.on('end', resolve);
        process.stdin.on('close', resolve);
        process.stdin.resume();
      });
    }
    await Promise.all(sockets.map((ws) => {
      const done = closed(ws);
      ws.close(1000);
      return done;
    }));
    return 'ok many n=' + n;
  },

  async idle(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const start = Date.now();
    say('open');
    const c = await closed(ws);
    return 'ok idle code=' + c.code + ' ms=' + (Date.now() - start);
  },

  async vanish(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    await echoOne(ws, 16, false, 3);
    const sock = ws._socket;
    if (typeof sock.resetAndDestroy === 'function') {
      sock.resetAndDestroy();
    } else {
      sock.destroy();
    }
    return 'ok vanish';
  },

  async greet(url, opts) {
    const ws = connect(url, opts);
    const first = nextMessage(ws);  // listening before the open: it may come in the same read
    await opened(ws, opts);
    const got = await first;
    if (got.isBinary || got.data.toString() !== 'greeting') {
      throw new Error('first message "' + got.data.toString().slice(0, 40) + '", want "greeting"');
    }
    await echoOne(ws, 64, true, 5);
    ws.close(1000);
    await closed(ws);
    return 'ok greet';
  },

  async receive(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const done = closed(ws);
    const got = await nextMessage(ws);
    const want = pattern();
    if (!got.isBinary || !Buffer.from(got.data).equals(want)) {
      throw new Error('got a ' + (got.isBinary ? 'binary' : 'text') + ' message of ' +
                      got.data.length + ' bytes, want the 1 MiB binary pattern');
    }
    const c = await done;
    return 'ok receive bytes=' + got.data.length + ' code=' + c.code + ' reason=' + (c.reason || '-');
  },

  async 'send-end'(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const data = pattern();
    const done = closed(ws);
    ws.send(data, { binary: true });
    ws._socket.end();
    const c = await done;
    return 'ok send-end sha1=' + sha1(data) + ' code=' + c.code;
  },

  async 'send-only'(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const done = closed(ws);
    let n = 0;
    const timer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send('one-way');
      say('sent n=' + ++n);
    }, opts.interval || 100);
    const c = await done;
    clearInterval(timer);
    return 'ok send-only code=' + c.code + ' sent=' + n;
  },

  async pulse(url, opts) {
    const ws = await opened(connect(url, opts), opts);
    const start = Date.now();
    const interval = opts.interval || 100;
    let echoes = 0;
    let failure = null;
    const done = closed(ws);
    let stopped = false;
    done.then(() => { stopped = true; });
    (async () => {
      while (!stopped) {
        try {
          await echoOne(ws, 24, false, echoes);
        } catch (e) {
          if (!stopped && ws.readyState === WebSocket.OPEN) failure = e;
          return;
        }
        ++echoes;
        say('echo n=' + echoes + ' ms=' + (Date.now() - start));
        await new Promise((r) => setTimeout(r, interval));
      }
    })();
    const c = await done;
    if (failure) throw failure;
    return 'ok pulse code=' + c.code + ' echoes=' + echoes + ' ms=' + (Date.now() - start);
  },
};

function runClient(opts) {
  const [, url, name] = opts.positional;
  const scenario = scenarios[name];
  if (!url || !scenario) {
    say('fail usage: client URL ' + Object.keys(scenarios).join('|'));
    process.exit(2);
  }
  opts.timeout = opts.timeout || 20000;
  const timer = setTimeout(() => {
    say('fail ' + name + ' timed out after ' + opts.timeout + ' ms');
    process.exit(1);
  }, opts.timeout);
  scenario(url, opts).then((line) => {
    clearTimeout(timer);
    say(line);
    process.exit(0);
  }, (err) => {
    clearTimeout(timer);
    say('fail ' + name + ': ' + (err && err.message ? err.message : String(err)));
    process.exit(1);
  });
}

const opts = parseArgs(process.argv.slice(2));
if (opts.positional[0] === 'server') {
  runServer(opts);
} else if (opts.positional[0] === 'client') {
  runClient(opts);
} else {
  say('fail usage: ws_peer.js server [...] | client URL SCENARIO [...]');
  process.exit(2);
}
