// echo_client.js - a line echo client in JavaScript, on Node.js's net module only.
//
//     node echo_client.js HOST PORT MESSAGE...      HOST: a loopback address
//
// It connects, and for each MESSAGE sends it with a '\n', waits for one line back and prints
//     sent hello got hello
// It exits with 0, or with 1 after naming what failed (2 for bad arguments). Everything
// happens in callbacks: Node never blocks, so "wait for the reply" means "the next 'data' event".
'use strict';
const net = require('net');

const TIMEOUT_MS = 10 * 1000;
const MAX_LINE = 64 * 1024;

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function usage(why) {
  console.error(`echo_client: ${why}; usage: node echo_client.js HOST PORT MESSAGE...`);
  process.exit(2);
}

function fail(what, why) {
  console.error(`echo_client: ${what} failed: ${why}`);
  process.exit(1);
}

const [host, portText, ...messages] = process.argv.slice(2);
const family = net.isIP(host || '');
if (family === 0 || !LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6')) {
  usage(`'${host}' is not a loopback address`);
}
const port = Number(portText);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  usage(`'${portText}' is not a port from 1 to 65535`);
}
if (messages.length === 0 || messages.some((m) => m.includes('\n'))) {
  usage('give at least one message, none holding a newline (the newline ends it)');
}

const conn = net.connect({ host, port });
let next = 0;                  // the message waiting for its reply
let pending = Buffer.alloc(0); // bytes of the reply not yet ended by '\n'

conn.setTimeout(TIMEOUT_MS, () => fail('recv', `no reply within ${TIMEOUT_MS / 1000} s`));
conn.on('error', (error) => fail(error.syscall || 'socket', error.message));
conn.on('connect', () => conn.write(messages[next] + '\n'));
conn.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  let end;
  while ((end = pending.indexOf(0x0a)) >= 0 && next < messages.length) {
    console.log(`sent ${messages[next]} got ${pending.subarray(0, end).toString()}`);
    pending = pending.subarray(end + 1);
    next += 1;
    if (next < messages.length) {
      conn.write(messages[next] + '\n'); // one message at a time, as the other clients do
    } else {
      conn.destroy(); // all answered: close the socket, as Python's close() does
      return;
    }
  }
  if (pending.length > MAX_LINE) {
    fail('recv', 'the reply grew too long before its newline');
  }
});
conn.on('end', () => {
  if (next < messages.length) {
    fail('recv', 'the server closed the connection before it replied');
  }
});
