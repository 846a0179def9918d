#!/usr/bin/env node
// gen-manifests.js — regenerate the Node.js reference interoperability vectors
// for megatorrent signed manifests (DESIGN.md, "Manifest (seed 002), canonical JSON").
//
// This script deliberately does what the Node.js reference client does, using the
// same npm packages, so that the C implementation can be checked against bytes that
// real JavaScript produced:
//   * signing input = fast-json-stable-stringify(manifest without "signature"),
//     encoded as UTF-8;
//   * Ed25519 detached signature (tweetnacl; identical to sodium-native /
//     libsodium crypto_sign_detached), lower-case hex under "signature";
//   * manifests are written to disk as JSON.stringify(manifest, null, 2), i.e. PRETTY
//     and in insertion order, NOT canonical — a verifier must re-canonicalize;
//   * key files are JSON.stringify({publicKey, secretKey}, null, 2) with no trailing
//     newline, secretKey being the libsodium 64-byte form seed||publicKey.
//
// Usage (from the repository root):
//   mkdir -p /tmp/x && cd /tmp/x && npm install fast-json-stable-stringify@2.1.0 tweetnacl@1.0.3
//   NODE_PATH=/tmp/x/node_modules node test/vectors/gen-manifests.js test/vectors
//
// The output is fully deterministic (Ed25519 signatures are deterministic and all
// inputs are fixed), so regenerating must reproduce the committed files byte for
// byte. The script aborts with a non-zero exit status on any self-check failure.

'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto'); // only used to derive fixed-looking hex test data
const stringify = require('fast-json-stable-stringify');
const nacl = require('tweetnacl');

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: NODE_PATH=<node_modules> node gen-manifests.js <output dir>');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

function die(msg) {
  console.error('gen-manifests: FATAL: ' + msg);
  process.exit(1);
}

const hex = (u8) => Buffer.from(u8).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
// Deterministic pseudo-random hex of n bytes, derived from a label (test data only).
const fakeHex = (label, n) => {
  let out = '';
  for (let i = 0; out.length < 2 * n; i++) {
    out += crypto.createHash('sha256').update(label + '#' + i).digest('hex');
  }
  return out.slice(0, 2 * n);
};

// ---------------------------------------------------------------------------
// Identities: seed bytes 00 01 .. 1f and 20 21 .. 3f.
// ---------------------------------------------------------------------------
function identityFromSeedStart(start) {
  const seed = new Uint8Array(32);
  for (let i = 0; i < 32; i++) seed[i] = start + i;
  const kp = nacl.sign.keyPair.fromSeed(seed);
  // libsodium / tweetnacl secret key layout: seed || publicKey
  if (hex(kp.secretKey) !== hex(seed) + hex(kp.publicKey)) die('unexpected secretKey layout');
  return { seed, publicKey: hex(kp.publicKey), secretKey: hex(kp.secretKey), sk: kp.secretKey };
}

const id00 = identityFromSeedStart(0x00);
const id20 = identityFromSeedStart(0x20);

const EXPECTED_PK00 = '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8';
const EXPECTED_SIG_A =
  'aeac9162a62e1d66bf3dd16bf45045a18108940f5cfcabe29b093b4b206c7484' +
  'd5002aff5e0d7404e70a7dbbd88940a4ce16d272a4a33a67f47f7a71d1559e0f';

if (id00.publicKey !== EXPECTED_PK00) {
  die('public key for seed 00..1f is ' + id00.publicKey + ', expected ' + EXPECTED_PK00);
}

// ---------------------------------------------------------------------------
// Signing exactly as the reference client does.
// ---------------------------------------------------------------------------
function canonicalOf(manifest) {
  const unsigned = {};
  for (const k of Object.keys(manifest)) if (k !== 'signature') unsigned[k] = manifest[k];
  return stringify(unsigned);
}

function sign(manifest, id) {
  const canonical = canonicalOf(manifest);
  const sig = nacl.sign.detached(Buffer.from(canonical, 'utf8'), id.sk);
  manifest.signature = hex(sig);
  return manifest;
}

// Independent verification of a file as a reader would do it: parse the pretty
// JSON, drop "signature", re-canonicalize, verify.
function verifyText(text) {
  const m = JSON.parse(text);
  if (typeof m.signature !== 'string' || !/^[0-9a-f]{128}$/.test(m.signature)) return false;
  const canonical = canonicalOf(m);
  return nacl.sign.detached.verify(Buffer.from(canonical, 'utf8'), unhex(m.signature), unhex(m.publicKey));
}

const pretty = (obj) => JSON.stringify(obj, null, 2); // reference file format, no trailing newline

// ---------------------------------------------------------------------------
// (a) The known-answer vector from the task brief.
// ---------------------------------------------------------------------------
function vectorA() {
  return {
    publicKey: id00.publicKey,
    sequence: 1700000000000,
    timestamp: 1700000000000,
    collections: [
      {
        title: 'Default',
        items: [
          {
            name: 'hello.txt',
            size: 5,
            chunks: [
              {
                blobId: 'ab'.repeat(32),
                offset: 0,
                length: 1048592,
                key: 'cd'.repeat(32),
                nonce: 'ef'.repeat(12),
                realSize: 5,
              },
            ],
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// (b) Magnet links of every kind, a text line, a two-chunk FileEntry, two collections.
// ---------------------------------------------------------------------------
const MAG_V1_HEX =
  'magnet:?xt=urn:btih:' + fakeHex('v1hex', 20) + '&dn=Some%20Name' +
  '&tr=udp%3A%2F%2Ftracker.example.org%3A6969%2Fannounce';
const MAG_V1_B32 = 'magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&dn=base32%20v1';
const MAG_V2 = 'magnet:?xt=urn:btmh:1220' + fakeHex('v2', 32) + '&dn=v2-only';
const MAG_HYBRID =
  'magnet:?xt=urn:btih:' + fakeHex('hybrid-v1', 20) +
  '&xt=urn:btmh:1220' + fakeHex('hybrid-v2', 32) + '&dn=hybrid%20torrent';
const MAG_BTPK = 'magnet:?xs=urn:btpk:' + id20.publicKey + '&s=' + Buffer.from('friends-feed').toString('hex');
const TEXT_LINE = 'Plain text note: nothing to download here.';

function twoChunkFile() {
  const size = 1048576 + 12345;
  return {
    name: 'big file.bin',
    size: size,
    chunks: [
      {
        blobId: fakeHex('blob0', 32),
        offset: 0,
        length: 1048592,
        key: fakeHex('key0', 32),
        nonce: fakeHex('nonce0', 12),
        realSize: 1048576,
      },
      {
        blobId: fakeHex('blob1', 32),
        offset: 0,
        length: 1048592,
        key: fakeHex('key1', 32),
        nonce: fakeHex('nonce1', 12),
        realSize: 12345,
      },
    ],
  };
}

function vectorB() {
  return {
    publicKey: id00.publicKey,
    sequence: 1700000001000,
    timestamp: 1700000001000,
    collections: [
      { title: 'Linux ISOs', items: [MAG_V1_HEX, MAG_V1_B32, MAG_V2, MAG_HYBRID] },
      { title: 'Misc', items: [MAG_BTPK, TEXT_LINE, twoChunkFile()] },
    ],
  };
}

// ---------------------------------------------------------------------------
// (c) Non-ASCII and tricky strings; signed by the SECOND identity (seed 20..3f).
// ---------------------------------------------------------------------------
function vectorC() {
  return {
    publicKey: id20.publicKey,
    sequence: 1700000000500,
    timestamp: 1700000000500,
    collections: [
      {
        title: 'naïve café ☕',
        items: [
          'emoji 😀 and \u2028 line sep',
          // '/', "quotes", backslash, TAB and U+0001 (escaped as \t and \u0001 in canonical form)
          'slash / "quotes" back\\slash\ttab\u0001ctl',
          'DEL \u007f and \u2029 para sep and BOM \ufeff and U+0080 \u0080',
          'magnet:?xt=urn:btih:' + fakeHex('c-v1', 20) + '&dn=caf%C3%A9%20%E2%98%95',
        ],
      },
      {
        title: '日本語 中文 한국어',
        items: ['東京タワー 🗼 — 「引用」', 'Ελληνικά, русский, עברית, العربية'],
      },
    ],
  };
}

// ---------------------------------------------------------------------------
// (d) topics + metadata whose keys need UTF-16 code-unit ordering.
// Key insertion order is deliberately NOT sorted, so the pretty file differs from
// the canonical order. UTF-16 order of the five top-level metadata keys is
//   "B" < "a" < "é" < "😀" (D83D DE00) < "דּ" (FB33)
// whereas code-point / UTF-8 byte order would put U+FB33 before U+1F600.
// ---------------------------------------------------------------------------
function vectorD() {
  return {
    publicKey: id00.publicKey,
    sequence: 1700000002000,
    timestamp: 1700000002000,
    topics: ['linux', 'música', '😀 emoji', 'דּ'],
    collections: [{ title: 'Tagged', items: [MAG_V2, 'see metadata'] }],
    metadata: {
      '\ufb33': 0,
      '\ud83d\ude00': { nested: { deeper: [{ k: 9007199254740991 }, -1, 0] } },
      a: {
        z: 'last',
        y: { max: 9007199254740991, min: -9007199254740991, neg: -1, zero: 0 },
        // integer-like keys: JS enumerates them first in the pretty file, but
        // canonical order is plain string order ("10" < "9")
        '9': 'nine',
        '10': 'ten',
        '': 'empty key',
        list: [3, 2, 1, [], {}],
      },
      B: -1,
      'é': 'accent',
    },
  };
}

// ---------------------------------------------------------------------------
// (e) Next version of (b): higher sequence, MAG_V1_B32 removed, two items added.
// ---------------------------------------------------------------------------
const MAG_NEW_V1 = 'magnet:?xt=urn:btih:' + fakeHex('e-new-v1', 20) + '&dn=New%20Release';
const TEXT_NEW = 'Added in version 2 of this feed.';

function vectorE() {
  const m = vectorB();
  m.sequence = 1700000003000;
  m.timestamp = 1700000003000;
  m.collections[0].items = [MAG_V1_HEX, MAG_V2, MAG_HYBRID, MAG_NEW_V1];
  m.collections[1].items.push(TEXT_NEW);
  return m;
}

// ---------------------------------------------------------------------------
// Build, sign, write, re-verify.
// ---------------------------------------------------------------------------
const records = [];

function emit(file, manifest, expectValid, note) {
  const text = pretty(manifest);
  fs.writeFileSync(path.join(outDir, file), text);
  // Read back what was written and verify it the way a reader would.
  const back = fs.readFileSync(path.join(outDir, file), 'utf8');
  if (back !== text) die(file + ': read-back mismatch');
  const ok = verifyText(back);
  if (ok !== expectValid) die(file + ': verification gave ' + ok + ', expected ' + expectValid);
  const canonical = canonicalOf(JSON.parse(back));
  if (canonical.includes('\n') || canonical.includes('\r')) die(file + ': canonical string contains a newline');
  records.push({ file, canonical, signature: manifest.signature, expectValid, note });
}

const a = sign(vectorA(), id00);
if (a.signature !== EXPECTED_SIG_A) {
  die('vector (a) signature is ' + a.signature + ', expected ' + EXPECTED_SIG_A);
}
const b = sign(vectorB(), id00);
const c = sign(vectorC(), id20);
const d = sign(vectorD(), id00);
const e = sign(vectorE(), id00);
if (!(e.sequence > b.sequence)) die('(e) must have a higher sequence than (b)');

emit('ref-a-basic.json', a, true, '(a) known-answer vector, identity seed00');
emit('ref-b-magnets.json', b, true, '(b) magnets v1 hex/base32, v2, hybrid, btpk, text, 2-chunk FileEntry, identity seed00');
emit('ref-c-strings.json', c, true, '(c) non-ASCII and tricky strings, identity seed20');
emit('ref-d-metadata.json', d, true, '(d) topics + metadata with UTF-16 key order, identity seed00');
emit('ref-e-magnets-v2.json', e, true, '(e) next version of (b): base32 magnet removed, 2 items added, identity seed00');

// Negative vectors.
// ref-bad-signature: (b) with one hex digit of the signature changed (position 10, low bit flipped).
const badSig = JSON.parse(JSON.stringify(b));
{
  const pos = 10;
  const flipped = (parseInt(badSig.signature[pos], 16) ^ 1).toString(16);
  badSig.signature = badSig.signature.slice(0, pos) + flipped + badSig.signature.slice(pos + 1);
  if (badSig.signature === b.signature) die('signature flip failed');
}
emit('ref-bad-signature.json', badSig, false, 'NEGATIVE: (b) with signature hex digit 10 flipped; must be rejected');

// ref-bad-field: (b) with the first collection title changed after signing.
const badField = JSON.parse(JSON.stringify(b));
badField.collections[0].title = 'Linux ISOs (edited)';
emit('ref-bad-field.json', badField, false, 'NEGATIVE: (b) with collections[0].title changed after signing; must be rejected');

// Key files in the reference format (pretty, no trailing newline).
for (const [file, id] of [['ref-key-seed00.json', id00], ['ref-key-seed20.json', id20]]) {
  fs.writeFileSync(path.join(outDir, file), pretty({ publicKey: id.publicKey, secretKey: id.secretKey }));
}

// ref-canonical.txt
const lines = [
  '# megatorrent manifest interoperability vectors, generated by gen-manifests.js',
  '# node ' + process.version +
    ', fast-json-stable-stringify ' + require('fast-json-stable-stringify/package.json').version +
    ', tweetnacl ' + require('tweetnacl/package.json').version,
  '# Records are separated by a blank line. Each record has lines "<tag> <value>" (one space):',
  '#   file       manifest file name in this directory',
  '#   expect     valid | invalid',
  '#   canonical  the exact string the signature covers (fast-json-stable-stringify of',
  '#              all members except "signature"), as UTF-8, up to the line feed (0x0A).',
  '#              NOTE: may contain raw U+2028/U+2029 (E2 80 A8 / E2 80 A9); split on 0x0A only.',
  '#   bytes      length of the canonical string in UTF-8 bytes',
  '#   sha256     hex SHA-256 of the canonical UTF-8 bytes',
  '#   signature  the "signature" member of the file (lower-case hex)',
  '#   note       free text',
  '',
];
for (const r of records) {
  const bytes = Buffer.from(r.canonical, 'utf8');
  lines.push('file ' + r.file);
  lines.push('expect ' + (r.expectValid ? 'valid' : 'invalid'));
  lines.push('canonical ' + r.canonical);
  lines.push('bytes ' + bytes.length);
  lines.push('sha256 ' + crypto.createHash('sha256').update(bytes).digest('hex'));
  lines.push('signature ' + r.signature);
  lines.push('note ' + r.note);
  lines.push('');
}
fs.writeFileSync(path.join(outDir, 'ref-canonical.txt'), lines.join('\n'));

console.log('gen-manifests: OK, wrote ' + records.length + ' manifests, 2 key files and ref-canonical.txt to ' + outDir);
