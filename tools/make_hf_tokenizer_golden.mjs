// Writes spec/fixtures/hf_tokenizer_golden.lua: what Hugging Face's own
// implementation (the npm package @huggingface/tokenizers, tokenizers.js) makes
// of hard strings with each tokenizer.json of spec/fixtures/tokenizers/.
// Where tokenizers.js and the Rust library differ, the engine follows
// tokenizers.js (invalid bytes from ByteFallback: one U+FFFD per maximal invalid
// sequence), except for single_word, which tokenizers.js does not implement.
// Development time only: `make test` reads the committed golden file.
//   mkdir -p /work/node-oracle && (cd /work/node-oracle && npm install @huggingface/tokenizers)
//   NODE_PATH=/work/node-oracle/node_modules node tools/make_hf_tokenizer_golden.mjs
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.NODE_PATH || "/work/node-oracle/node_modules", "x.js"));
const { Tokenizer } = require("@huggingface/tokenizers");

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const dir = path.join(root, "spec", "fixtures", "tokenizers");

const TEXTS = [
  "",
  " ",
  "   ",
  "Hello world",
  " Hello world ",
  "Hello  world   ",
  "   leading spaces",
  "trailing spaces   ",
  "\tTabs\tand\t\ttabs\t",
  "line one\r\nline two\r\n",
  "\n\n\nnewlines\n \n",
  "1234567890 and 12 345 6789 and 3.14159",
  "I'M here, they'Re there, you'LL see, it's, we'VE, he'd, SHE'S, I'm, I'd",
  "don't DON'T Don't dOn'T",
  "日本語のテキスト、中文，한국어!",
  "emoji 👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 ok",
  "combining e\u0301 n\u0303 a\u0308 o\u0302\u0323",
  "<|begin_of_text|>Hello<|eot_id|>",
  "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>",
  "a  <|lstrip|>  b",
  "x\u3000<|lstrip|>\u00a0\u2003y\n<|lstrip|>\t",
  "<tool> x <tool> y",  // single_word is left out: tokenizers.js ignores it (spec/17 checks it)
  "<|eot_id|><|eot_id|>",
  "<|eot_id <s> </s>text<s>",
  "long word: " + "supercalifragilistic".repeat(20),
  "café naïve déjà vu — “quotes” ‘single’",
  "symbols !!! ??? ... --- *** ### @@@",
  "mixed123abc456DEF_under_score",
  "x".repeat(300),
  "  \t \n  mixed \u00a0 spaces \u2003 here \u3000 end",
  "Straße ǅungla ﬁne ΣΑΣ",
  "a\u0000b",
  "make test && make bench # 42",
  "The quick brown fox jumps over the lazy dog.",
];

// Ids given by token string (decode-only cases): lone bytes and broken sequences.
const DECODES = {
  "bpe-llama3": [["\u00e2"], ["\u00e2", "\u0124"], ["\u00e2", "\u0124", "\u00ac"], ["\u00e2", "a", "\u0124"],
                 ["<|begin_of_text|>", "H", "e"],
                 ["\u0120the", "<|eot_id|>", "\u0120the"]],
  "sp-metaspace": [["<0xE2>"], ["<0xE2>", "<0x82>", "\u2581the"], ["<0xF0>", "<0x9F>", "<0x91>", "<0x8D>"],
                   ["<unk>", "\u2581the"], ["<s>", "\u2581the", "</s>"], ["\u2581", "\u2581the"]],
  "sp-metaspace-dec": [["<0xE2>", "<0x82>", "\u2581the"], ["\u2581", "\u2581the"], ["\u2581the", "\u2581the"],
                       ["<s>", "\u2581the", "</s>"]],
  "sp-legacy": [["<0xE2>", "\u2581the"], ["\u2581the", "<0x0A>", "<0x0A>", "\u2581the"]],
};

// Random strings from pieces that meet at every boundary the pipeline has (seeded: the
// same file each run): a differential test against tokenizers.js, checked in bulk.
const PIECES = ["a", "b", "e", "T", "Z", " ", "  ", "\t", "\n", "\r\n", "'s", "'S", "'re", "'LL", "'d", "1", "23",
  "4567", "é", "ñ", "ü", "日", "本", "語", "한", "😀", "👍🏽", "👨‍👩‍👧", "\u0301", "\u00a0", "\u2003", "\u3000",
  ".", ",", "!", "?", "-", "_", "(", ")", "<|eot_id|>", "<|begin_of_text|>", "<|lstrip|>", "<s>", "</s>", "<unk>",
  "▁", "Ġ", "the", " the", "ing", "tion", "\u00ad", "\u007f", "$", "€", "ß", "İ", "Σ", "ﬁ", "A1b2", "...", "---",
  "\"", "{", "}", "\\"];
let seed = 12345;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const RANDOM = [];
for (let i = 0; i < 400; i++) {
  let s = "";
  for (let k = 1 + rnd(12); k > 0; k--) s += PIECES[rnd(PIECES.length)];
  RANDOM.push(s);
}

function luaString(s) {
  let out = '"';
  for (const b of Buffer.from(s, "utf8")) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) out += String.fromCharCode(b);
    else out += "\\" + String(b).padStart(3, "0");
  }
  return out + '"';
}

const lines = ["-- Written by tools/make_hf_tokenizer_golden.mjs from Hugging Face's tokenizers.js",
  "-- (@huggingface/tokenizers): do not edit. Per tokenizer: cases {text, ids (no special",
  "-- tokens), with_special (add_special_tokens), decoded (decode(ids))}; random {text, ids, decoded};",
  "-- decodes {ids, text}.",
  "return {"];
for (const name of fs.readdirSync(dir).sort()) {
  const file = path.join(dir, name, "tokenizer.json");
  if (!fs.existsSync(file)) continue;
  const json = JSON.parse(fs.readFileSync(file, "utf8"));
  // decode as the tokenizers library does, without transformers' clean-up of spaces
  const tok = new Tokenizer(json, { clean_up_tokenization_spaces: false });
  lines.push(`  [${luaString(name)}] = {`, "    cases = {");
  for (const text of TEXTS) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const withSpecial = tok.encode(text, { add_special_tokens: true }).ids;
    const decoded = ids.length ? tok.decode(ids) : "";  // tokenizers.js refuses an empty list
    lines.push(`      { text = ${luaString(text)}, ids = {${ids.join(", ")}}, with_special = {${withSpecial.join(", ")}},`,
      `        decoded = ${luaString(decoded)} },`);
  }
  lines.push("    },", "    random = {");
  for (const text of RANDOM) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    lines.push(`      { ${luaString(text)}, {${ids.join(", ")}}, ${luaString(ids.length ? tok.decode(ids) : "")} },`);
  }
  lines.push("    },", "    decodes = {");
  const vocab = json.model.vocab;
  for (const t of json.added_tokens) vocab[t.content] = t.id;
  for (const tokens of DECODES[name] || []) {
    const ids = tokens.map((t) => {
      if (!(t in vocab)) throw new Error(`${name}: no token ${JSON.stringify(t)}`);
      return vocab[t];
    });
    lines.push(`      { ids = {${ids.join(", ")}}, text = ${luaString(tok.decode(ids))} },`);
  }
  lines.push("    },", "  },");
}
lines.push("}");
fs.writeFileSync(path.join(root, "spec", "fixtures", "hf_tokenizer_golden.lua"), lines.join("\n") + "\n");
console.log("wrote spec/fixtures/hf_tokenizer_golden.lua");
