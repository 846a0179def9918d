// verify-manifests.js - check manifests signed by mtctl with the reference
// client's own stack: fast-json-stable-stringify of every member but
// "signature", Ed25519 (tweetnacl) over its UTF-8 bytes.
//
//   NODE_PATH=/tmp/x/node_modules node test/vectors/verify-manifests.js test/vectors/mt-*.json
//
// Prints one line per file and exits non-zero if any does not verify.
'use strict';
const fs = require('fs');
const stringify = require('fast-json-stable-stringify');
const nacl = require('tweetnacl');

let bad = 0;
for (const file of process.argv.slice(2)) {
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { signature, ...rest } = m;
  const msg = Buffer.from(stringify(rest), 'utf8');
  const ok = nacl.sign.detached.verify(msg, Buffer.from(signature, 'hex'),
                                       Buffer.from(m.publicKey, 'hex'));
  console.log(`${ok ? 'valid  ' : 'INVALID'} ${file} (sequence ${m.sequence}, ${msg.length} canonical bytes)`);
  if (!ok) bad++;
}
process.exit(bad ? 1 : 0);
