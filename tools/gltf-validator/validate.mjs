#!/usr/bin/env node
// Run the Khronos glTF validator (npm "gltf-validator", pinned in package-lock.json) on
// .glb / .gltf files and print one JSON summary line per file:
//
//   {"file": ..., "numErrors": n, "numWarnings": n, "numInfos": n, "numHints": n,
//    "truncated": bool, "messages": [{"code", "severity", "message", "pointer"?, "offset"?}]}
//
// severity is the validator's: 0 error, 1 warning, 2 info, 3 hint.
// Usage:  node validate.mjs [--strict] [--max-issues N] FILE...
// Exit:   0 no errors (with --strict: no warnings either), 1 otherwise,
//         2 bad usage or a file that cannot be read.
// Install once: npm ci --prefix tools/gltf-validator

import fs from 'node:fs/promises';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const validator = require('gltf-validator');

const args = process.argv.slice(2);
let strict = false;
let maxIssues = 200;
const files = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--strict') strict = true;
  else if (a === '--max-issues') maxIssues = Number(args[++i]);
  else if (a === '-h' || a === '--help') {
    process.stdout.write('usage: node validate.mjs [--strict] [--max-issues N] FILE...\n');
    process.exit(0);
  } else files.push(a);
}
if (files.length === 0 || !Number.isFinite(maxIssues)) {
  process.stderr.write('usage: node validate.mjs [--strict] [--max-issues N] FILE...\n');
  process.exit(2);
}

let failed = false;
let unreadable = false;
for (const file of files) {
  let bytes;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    process.stderr.write(`${file}: cannot read: ${err.message}\n`);
    unreadable = true;
    continue;
  }
  const dir = path.dirname(path.resolve(file));
  const options = {
    uri: path.basename(file),
    maxIssues,
    format: path.extname(file).toLowerCase() === '.gltf' ? 'gltf' : 'glb',
    // Resolve relative URIs (external buffers/images) next to the file.
    externalResourceFunction: (uri) =>
      fs.readFile(path.join(dir, decodeURIComponent(uri))).then((b) => new Uint8Array(b)),
  };
  let report;
  try {
    report = await validator.validateBytes(new Uint8Array(bytes), options);
  } catch (err) {
    process.stderr.write(`${file}: validator failed: ${err}\n`);
    unreadable = true;
    continue;
  }
  const issues = report.issues;
  const summary = {
    file,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    numHints: issues.numHints,
    truncated: issues.truncated,
    validatorVersion: report.validatorVersion,
    messages: issues.messages.map((m) => {
      const out = { code: m.code, severity: m.severity, message: m.message };
      if (m.pointer !== undefined) out.pointer = m.pointer;
      if (m.offset !== undefined) out.offset = m.offset;
      return out;
    }),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
  if (issues.numErrors > 0 || (strict && issues.numWarnings > 0)) failed = true;
}
process.exit(unreadable ? 2 : failed ? 1 : 0);
