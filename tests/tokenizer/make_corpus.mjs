#!/usr/bin/env node
// Regenerates tests/tokenizer/corpus.jsonl: one JSON string per line.
//
//   node tests/tokenizer/make_corpus.mjs            # writes corpus.jsonl next to this script
//   node tests/tokenizer/make_corpus.mjs --stdout   # prints it instead
//
// The corpus is fully deterministic: hand-written lines (below) followed by a
// block of pseudo-random strings drawn from a fixed-seed PRNG (mulberry32).
// Do not reorder or edit existing lines casually: the golden files in
// tests/tokenizer/golden/ are aligned line-by-line with this corpus, so any
// change here must be followed by `node tests/tokenizer/gen_golden.mjs`.
//
// Serialisation: JSON.stringify, plus every invisible / format / non-ASCII
// space / control code point in the BMP is written as a \uXXXX escape so the
// file is reviewable and no line contains a raw U+2028/U+2029/U+0085 (which
// some line splitters treat as newlines).  Astral characters (emoji, ...) are
// written as raw UTF-8, never as surrogate-pair escapes.  No line contains
// U+0000 (the C side may use NUL-terminated strings).

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const lines = [];
const add = (...xs) => { for (const x of xs) lines.push(x); };

// ---------------------------------------------------------------- edge cases
add(
  "",
  " ",
  "  ",
  "\n",
  "\t",
  "\r\n",
  "a",
  "hello",
  "Hello",
  " hello",
  "hello ",
  "Hello world",
  "Hello, world!",
);

// ------------------------------------------------------------------- prose
add(
  "The quick brown fox jumps over the lazy dog.",
  "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG!",
  "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness...",
  "Dr. Smith (born 1970) said: \"I'll be there at 5 p.m.\" — but he wasn't.",
  "e-mail: john.doe+spam@example.co.uk; web: https://example.com/path?q=1&r=two#frag",
  "Mr. O'Neil's cat; the cats' toys; rock 'n' roll; '90s kids; 'quoted'",
  "Naïve café owners in Zürich serve crème brûlée to the façade-loving señor.",
  "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
  "camelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case-identifier",
  "A\tB\tC\nD\tE\tF\n",
);

// ------------------------------------------------------------ contractions
add(
  "don't won't can't shouldn't it's he's she's",
  "DON'T WON'T CAN'T IT'S",
  "they'RE we'VE I'M you'LL he'D",
  "They're we've I'm you'll he'd she's it't",
  "'s 't 're 've 'm 'll 'd",
  "'S 'T 'RE 'VE 'M 'LL 'D",
  "'Re 'rE 'Ve 'vE 'Ll 'lL",
  "I'd've y'all'd've ma'am o'clock",
  "rock'n'roll 'twas 'tis",
  "'''s ''t '",
  "x's y'all 2's 3'm",
  "it’s don’t — curly apostrophes are not ASCII",
  "He said 'hello' and 'goodbye'.",
  " 's ' s 'ss 'sss 'lll 'dd",
  "it'\u017Fa and '\u017Ft (long s folds to s under (?i))",
  "'\u212A \u212Aelvin 'K'k",
);

// -------------------------------------------------------------------- code
add(
  "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, %s!\\n\", \"world\");\n    return 0;\n}\n",
  "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
  "for (size_t i = 0; i < n; ++i) {\n\tif (a[i] != b[i]) return -1;\n}",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "class Foo:\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, x: int = 0) -> None:\n        self.x = x  # comment\n\n\n",
  "    indented_with_four_spaces()\n        eight_spaces()\n\t\ttwo_tabs()\n",
  "if __name__ == \"__main__\":\n    main()",
  "{\"name\": \"dlmscope\", \"version\": [1, 2, 3], \"ok\": true, \"ptr\": null, \"pi\": 3.14159}",
  "{\n  \"a\": {\n    \"b\": [\n      1,\n      2\n    ]\n  }\n}",
  "#!/bin/sh\nset -eu\nfor f in *.c; do gcc -O2 -c \"$f\" -o \"${f%.c}.o\" || exit 1; done\n",
  "ls -la | grep '^d' | awk '{print $9}' 2>/dev/null && echo \"done\" >> log.txt",
  "const f = async (x) => { await g(x?.y ?? 0); return `${x}px`; };",
  "fn main() { let v: Vec<u8> = vec![0xde, 0xad, 0xbe, 0xef]; println!(\"{:?}\", v); }",
  "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%o''brien%';",
  "<div class=\"box\"><p>Hello &amp; goodbye</p><br/></div>",
  "x+=1;y-=2;z*=3;w/=4;a%=5;b<<=1;c>>=2;d&&e||f!g",
  "a==b!=c<=d>=e=>f->g::h...i",
  "// TODO(fix): handle \\r\\n line endings\r\nint x = 0;\r\n",
  "0x7fffffff 0b1010 0o777 1e-9 6.022e23 1_000_000",
);

// -------------------------------------------------------------- whitespace
add(
  "a b",
  "a  b",
  "a   b",
  "a                                b",
  "                                                                ",
  "   leading spaces",
  "trailing spaces   ",
  "   both   ",
  "\t\t\ttabs",
  "tabs\t\t\t",
  " \t \t mixed \t \t ",
  "\n\n\n",
  "a\n\n\nb",
  "line one\nline two\n",
  "line one   \nline two  \n",
  "spaces before newline   \n",
  "\r\n\r\n",
  "windows\r\nline\r\nendings\r\n",
  "old mac\rline\rendings",
  "\r",
  " \n",
  "\n ",
  "  \n  \n  ",
  "\n\t\n\t",
  "word\n",
  "\nword",
  "a \nb",
  "a\n b",
  "a \n b",
  "x\u000by\u000cz",
  "end with many newlines\n\n\n\n\n\n\n\n",
  "   \t\n   \r\n  ",
  "!  !\n!\n\n!",
  " 1  22   333    4444",
);

// ------------------------------------------------------------------ digits
add(
  "1",
  "12",
  "123",
  "1234",
  "1234567890123",
  "3.14159265358979323846",
  "-0.5 +7 1,000,000 1.000.000,00 $1,234.56 €99 50%",
  "abc123def",
  "abc1234567def89",
  "x1 y22 z333 w4444",
  "2024-06-01T12:34:56Z",
  "192.168.0.1:8080",
  "٣٤٥ ٠١٢٣٤٥٦٧٨٩",
  "۱۲۳ Persian digits",
  "１２３ fullwidth ＡＢＣ",
  "१२३ देवनागरी अंक",
  "๑๒๓ Thai digits",
  "Ⅻ ½ ¾ ² ³ ① ⑩",
  "v1.2.3-rc.4+build.567",
  "𝟏𝟐𝟑 mathematical bold digits",
);

// --------------------------------------------------------------------- CJK
add(
  "你好，世界！",
  "我爱自然语言处理。今天天气很好，我们去公园散步吧。",
  "日本語のテキストです。ひらがなとカタカナと漢字を混ぜています。",
  "カタカナ ｶﾀｶﾅ (halfwidth)",
  "東京は日本の首都です。",
  "한국어 텍스트입니다. 안녕하세요!",
  "中文English混合text123测试",
  "「引用」『二重』【括弧】〜～・",
  "𠀀𠀁𪚥 CJK extension B",
  "繁體中文與简体中文",
);

// ------------------------------------------------------------------- emoji
add(
  "😀",
  "Hello 😀 world 🌍!",
  "👨‍👩‍👧 family",
  "👨‍👩‍👧‍👦👩‍❤️‍💋‍👨",
  "👍🏻👍🏼👍🏽👍🏾👍🏿",
  "🇫🇷🇩🇪🇯🇵🇺🇸",
  "1️⃣ 2️⃣ #️⃣ *️⃣",
  "❤️ ♥ ❤",
  "🏳️‍🌈 🏴‍☠️",
  "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland (tag sequence)",
  "emoji🎉glued🚀to📦words",
  "🧑🏽‍💻 coding",
);

// ------------------------------------------------------- combining / scripts
add(
  "e\u0301",
  "cafe\u0301",
  "Tiếng Việt có dấu",
  "Tie\u0302\u0301ng Vie\u0323\u0302t co\u0301 da\u0302\u0301u",
  "हिन्दी देवनागरी लिपि",
  "ภาษาไทยไม่มีช่องว่างระหว่างคำ",
  "العربية: مرحبا بالعالم",
  "عَرَبِيّ مُشَكَّل",
  "עברית: שלום עולם",
  "שָׁלוֹם",
  "Ελληνικά: Γειά σου Κόσμε",
  "Русский: Привет, мир!",
  "ქართული ენა",
  "Ա Հայերեն",
  "Z\u0351\u0311\u0308\u0344\u0358a\u0363\u034c\u0300\u0304l\u035e\u0340g\u0326\u035do",
  "a\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309",
  "\u0301 leading combining mark",
  "n\u0303 vs ñ",
);

// ----------------------------------------------- NFC-sensitive pairs (lines)
add(
  "café",                                  // precomposed
  "cafe\u0301",                            // decomposed (same word)
  "Ångström",
  "A\u030Angstro\u0308m",
  "\u212Bngstr\u00F6m (Angstrom sign)",
  "\u2126 ohm sign vs \u03A9 omega",
  "Việt Nam",
  "Vie\u0323\u0302t Nam",
  "Vi\u1EC7t Nam",
  "\u1100\u1161\u11A8 \u1112\u1161\u11AB\u1100\u1173\u11AF (Hangul jamo)",
  "각 한글",
  "a\u0323\u0302 vs a\u0302\u0323 vs \u1EAD",
  "\uF900\uF901 CJK compatibility ideographs",
  "\u0958 vs \u0915\u093C (composition exclusion)",
  "ﬁ ligature, ｆｕｌｌ, ㈱ (NFKC-only changes, NFC keeps them)",
  "e\u0301e\u0301e\u0301e\u0301e\u0301",
);

// ------------------------------------------------------------ math / LaTeX
add(
  "\\boxed{42}",
  "The answer is $\\boxed{42}$.",
  "\\frac{1}{2} + \\frac{3}{4} = \\frac{5}{4}",
  "$$\\int_0^\\infty e^{-x^2}\\,dx = \\frac{\\sqrt{\\pi}}{2}$$",
  "\\begin{align}\n  a &= b + c \\\\\n  d &= e^{i\\pi}\n\\end{align}",
  "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x|",
  "∑_{i=1}^{n} i = n(n+1)/2 ≈ ∞ ≠ ∅",
  "f(x) = 3x^2 - 2x + 1, f'(x) = 6x - 2",
  "2+2=4 3*3=9 10/2=5 7-8=-1",
);

// ------------------------------------------------------------- punctuation
add(
  "!!!???",
  "...",
  "…",
  "—",
  "a — b – c - d",
  "Wait...what?!",
  "?!?!?!?!?!",
  "((([[[{{{<<<>>>}}}]]])))",
  "@#$%^&*_+=~`|\\/",
  "\"\"\"''''''",
  "-----====-----",
  "«French» „German“ “English” ‘single’",
  "。、！？：；（）",
  "a.b,c;d:e!f?g",
);

// ----------------------------------------------------- special tokens: llama3
add(
  "<|begin_of_text|>",
  "<|eot_id|>",
  "<|eot_id|>hi",
  "<|begin_of_text|>Hello",
  "<|start_header_id|>user<|end_header_id|>",
  "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  "text<|eot_id|>text",
  "text <|eot_id|> text",
  "text  <|eot_id|>  text",
  "<|eot_id|><|eot_id|><|eot_id|>",
  "<|end_of_text|>",
  "<|reserved_special_token_0|> <|reserved_special_token_250|>",
  "<|eot_id",
  "<|eot_id|",
  "eot_id|>",
  "<|eot_id |>",
  "<|EOT_ID|>",
  "<<|eot_id|>>",
  "<|<|eot_id|>|>",
  "\n<|eot_id|>\n",
);

// ------------------------------------------------------ special tokens: qwen3
add(
  "<|im_start|>",
  "<|im_end|>",
  "<|endoftext|>",
  "<think>",
  "</think>",
  "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
  "<|im_start|>assistant\n<think>\nLet me think.\n</think>\n\nThe answer is 4.<|im_end|>",
  "<think></think>",
  "<think>\n\n</think>\n\n",
  "word<|im_end|>word",
  "word <|im_end|> word",
  "<|im_start|><|im_start|>",
  "<|im_start",
  "<|im_start|",
  "im_start|>",
  "< think >",
  "<think",
  "<thinking>",
  "<tool_call>{\"name\": \"f\"}</tool_call>",
  "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
  "<|vision_start|><|image_pad|><|vision_end|>",
  "<|endoftext|><|begin_of_text|><|im_end|><|eot_id|>",
  " <|endoftext|> ",
  "\t<|im_end|>\n",
);

// ------------------------------------------------- rare whitespace characters
add(
  "no\u00A0break\u00A0space",
  "\u00A0\u00A0\u00A0",
  "ideographic\u3000space\u3000\u3000here",
  "\u3000全角空白\u3000",
  "thin\u2009space 5\u2009000",
  "zero\u200Bwidth\u200Bspace",
  "\u200B\u200B",
  "\uFEFFbyte order mark at start",
  "mid\uFEFFdle BOM",
  "\uFEFF",
  "em\u2003space en\u2002space hair\u200Aspace",
  "narrow\u202Fno-break\u202Fspace",
  "line\u2028separator and paragraph\u2029separator",
  "next\u0085line (NEL)",
  "soft\u00ADhyphen",
  "zwnj\u200Cand zwj\u200Dbetween letters",
  "\u2060word joiner\u2060",
  "\u00A0 \u00A0\n\u3000 \u3000",
  "a\u00A0\u00A0b  \u2009c",
  "ogham\u1680space mongolian\u180Evowel",
  "rtl \u200Fmark\u200E ltr mark \u202Aembed\u202C",
  // U+0085 is White_Space (HF/Oniguruma \s) but not JS \s; U+FEFF is the
  // reverse.  These lines make the two regex flavours split differently.
  " \u0085",
  "a \u0085b \u0085\u0085 c\u0085 ",
  "\u0085\u0085\u0085",
  "x\u0085!y",
  "a \uFEFF b",
  "x\uFEFF!?",
  "!\uFEFF?",
  "\uFEFF\uFEFF  z",
  "a\uFEFF\nb",
  "  \u0085",
  "a  \uFEFF",
  "x   \uFEFFy",
  "  \uFEFF!",
);

// ---------------------------------------------------------- control chars
add(
  "bell\u0007 backspace\u0008 escape\u001B[31mred\u001B[0m",
  "\u0001\u0002\u0003",
  "del\u007Fchar",
  "c1\u0080\u009Fcontrols",
  "replacement \uFFFD char and noncharacter \uFFFE",
  "private use \uE000\uF8FF \u{F0000}",
);

// --------------------------------------------------------- very long lines
{
  const pieces = [
    "The quick brown fox jumps over the lazy dog. ",
    "def f(x):\n    return x * 2  # comment\n",
    "你好，世界！日本語のテキスト。한국어 ",
    "1234567890123 3.14159 abc123def ",
    "👨‍👩‍👧 🇫🇷 1️⃣ 👍🏽 ",
    "cafe\u0301 Tiếng Việt हिन्दी ภาษาไทย العربية ",
    "\\frac{1}{2} \\boxed{42} ",
    "<|eot_id|><|im_start|><think> ",
    "   \t\t  \n\n\r\n",
    "DON'T they'RE we've ",
    "!!!??? ... — ",
    "\u00A0\u3000\u2009\u200B ",
  ];
  let s = "";
  for (let i = 0; s.length < 3000; i++) s += pieces[(i * 7) % pieces.length];
  add(s);
  let t = "";
  for (let i = 0; t.length < 3000; i++) t += pieces[(i * 5 + 3) % pieces.length];
  add(t);
  add("a".repeat(3000));
  add(" ".repeat(3000));
  add("ab ".repeat(1000));
  add("1234567890".repeat(300));
  add("\n".repeat(500) + "x" + " \n".repeat(500));
  add("😀".repeat(700));
  add("漢字".repeat(750));
  add(("word" + " ".repeat(37)).repeat(70) + "end");
}

// ----------------------------------------- pseudo-random strings (seeded)
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Each entry is a whole code point or grapheme cluster, so concatenation can
// never produce a lone surrogate.
const POOL = {
  ascii: [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"],
  digit: [..."0123456789", "٣", "٤", "١", "２", "３", "१", "๒", "²", "½"],
  punct: [..."!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~", "'", "…", "—", "–", "«", "»", "“", "”", "’", "。", "、", "！"],
  space: [" ", " ", " ", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2009", "\u200B", "\uFEFF", "\u0085", "\u2028", "\u000B", "\u000C"],
  contraction: ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M", "'LL", "'D", "'Re", "'lL"],
  word: ["the", "The", "THE", "hello", "world", "don", "they", "int", "return", "def", "self", "café", "naïve", "über", "foo_bar", "x1", "abc123def"],
  cjk: [..."你好世界中文字日本語東京漢", ..."ひらがなカタカナ", ..."한국어안녕", "𠀀", "𪚥"],
  emoji: ["😀", "🌍", "🚀", "👨‍👩‍👧", "👍🏽", "👍🏿", "🇫🇷", "🇯🇵", "1️⃣", "#️⃣", "❤️", "🏳️‍🌈", "🧑🏽‍💻"],
  combining: ["e\u0301", "a\u0300", "o\u0308", "n\u0303", "\u0301", "\u0323\u0302", "ệ", "ế", "क्ष", "हि", "ไม่", "ที่", "عَ", "שָׁ", "\u1100\u1161", "Å", "\u212B", "\u2126", "\uF900"],
  script: ["Привет", "Γειά", "مرحبا", "שלום", "नमस्ते", "ภาษา", "ქართ", "Ա"],
  special: ["<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<|eot_id", "<|im_start", "<|", "|>", "<", ">"],
  latex: ["\\frac{", "}{", "}", "\\boxed{", "$", "^", "_", "\\sqrt", "∑", "∞", "≠", "√"],
  control: ["\u0001", "\u001B", "\u007F", "\u0080", "\u00AD", "\uFFFD"],
};
const WEIGHTS = {
  ascii: 14, digit: 8, punct: 8, space: 14, contraction: 5, word: 10, cjk: 6,
  emoji: 5, combining: 6, script: 4, special: 6, latex: 3, control: 2,
};
const cats = Object.keys(WEIGHTS);
const totalW = cats.reduce((s, c) => s + WEIGHTS[c], 0);
const rand = mulberry32(0x646c6d73); // "dlms"
function pickCat() {
  let r = rand() * totalW;
  for (const c of cats) { if ((r -= WEIGHTS[c]) < 0) return c; }
  return cats[cats.length - 1];
}
const N_RANDOM = 60;
for (let i = 0; i < N_RANDOM; i++) {
  // Mostly short/medium strings, a few long ones.
  const len = i % 10 === 9 ? 150 + Math.floor(rand() * 250) : 1 + Math.floor(rand() * 48);
  let s = "";
  for (let k = 0; k < len; k++) {
    const pool = POOL[pickCat()];
    // Occasionally repeat an atom to create runs (whitespace runs, digit runs, ...).
    const atom = pool[Math.floor(rand() * pool.length)];
    s += rand() < 0.15 ? atom.repeat(2 + Math.floor(rand() * 6)) : atom;
  }
  add(s);
}

// ------------------------------------------------------------- serialise
const ESCAPE = /[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Co}\p{Cn}\u00AD\uFFFD]/gu;
function toLine(s) {
  return JSON.stringify(s).replace(ESCAPE, (ch) => {
    const cp = ch.codePointAt(0);
    if (cp === 0x20 || cp > 0xffff) return ch;
    return "\\u" + cp.toString(16).toUpperCase().padStart(4, "0");
  });
}

const out = [];
for (const [i, s] of lines.entries()) {
  if (typeof s !== "string") throw new Error(`line ${i + 1}: not a string`);
  if (!s.isWellFormed()) throw new Error(`line ${i + 1}: lone surrogate`);
  if (s.includes("\0")) throw new Error(`line ${i + 1}: contains NUL`);
  const l = toLine(s);
  if (JSON.parse(l) !== s) throw new Error(`line ${i + 1}: does not round-trip`);
  if (/[\n\r\u2028\u2029\u0085]/.test(l)) throw new Error(`line ${i + 1}: raw line break`);
  out.push(l);
}
const text = out.join("\n") + "\n";
if (process.argv.includes("--stdout")) {
  process.stdout.write(text);
} else {
  const dest = join(dirname(fileURLToPath(import.meta.url)), "corpus.jsonl");
  writeFileSync(dest, text);
  process.stderr.write(`make_corpus: wrote ${out.length} lines (${out.length - N_RANDOM} hand-written + ${N_RANDOM} random) to ${dest}\n`);
}
