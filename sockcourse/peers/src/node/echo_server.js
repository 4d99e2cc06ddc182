// echo_server.js - a line echo server in JavaScript, on Node.js's net module only.
//
//     node echo_server.js [HOST]        HOST: a loopback address, 127.0.0.1 (the default) or ::1
//
// It listens on HOST, port 0, prints one line, "listening on 127.0.0.1:43121", then answers each
// line (bytes up to a '\n') with the same line. Node serves every client at once on one thread:
// the callbacks below run when the event loop sees data. A client silent for READ_TIMEOUT_MS,
// or with a line longer than MAX_LINE bytes, is disconnected. SIGINT or SIGTERM ends the
// program (their default action), and so does LIFETIME_MS after it started.
'use strict';
const net = require('net');

const LIFETIME_MS = 600 * 1000;
const READ_TIMEOUT_MS = 10 * 1000;
const MAX_LINE = 64 * 1024;

// The loopback addresses, 127.0.0.0/8 and ::1, as a list net can check an address against.
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function isLoopback(host) {
  const family = net.isIP(host); // 0 for a name: names are refused, never looked up
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

const host = process.argv[2] || '127.0.0.1';
if (!isLoopback(host)) {
  console.error(`echo_server: '${host}' is not a loopback address; give 127.0.0.1 or ::1`);
  process.exit(2);
}
setTimeout(() => process.exit(0), LIFETIME_MS);

const server = net.createServer((conn) => {
  let pending = Buffer.alloc(0); // bytes of a line not yet ended by '\n'
  conn.setTimeout(READ_TIMEOUT_MS, () => conn.destroy());
  conn.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    let end;
    while ((end = pending.indexOf(0x0a)) >= 0) { // each whole line, echoed as bytes, unchanged
      conn.write(pending.subarray(0, end + 1));
      pending = pending.subarray(end + 1);
    }
    if (pending.length > MAX_LINE) {
      conn.destroy(); // a line we will not hold: the client's problem, not the server's
    }
  });
  // When the client closes its side, Node closes ours too (allowHalfOpen is false by default);
  // a last piece without its '\n' is not a line, and is dropped.
  conn.on('error', (error) => console.error(`echo_server: connection failed: ${error.message}`));
});

server.on('error', (error) => { // listen() failing, say: the server cannot go on
  console.error(`echo_server: ${error.syscall || 'listen'} failed: ${error.message}`);
  process.exit(1);
});

server.listen({ host, port: 0 }, () => { // port 0: the kernel picks a free one
  const { address, family, port } = server.address();
  const shown = family === 'IPv6' || family === 6 ? `[${address}]` : address;
  process.stdout.write(`listening on ${shown}:${port}\n`);
});
