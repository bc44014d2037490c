// Renders the jinja2 goldens (tests/fixtures/chat_templates/goldens.json) again with
// @huggingface/jinja, the JavaScript Jinja that transformers.js uses, and reports where it
// disagrees with Python's jinja2. jinja2 is the authority; this is a second opinion that shows
// which behaviours a port of Jinja commonly gets wrong.
//
//   npm install --prefix /tmp/hfjinja @huggingface/jinja
//   node scripts/goldens/crosscheck_hf_jinja.mjs /tmp/hfjinja/node_modules/@huggingface/jinja
import fs from "fs";
import path from "path";
import { fileURLToPath, pathToFileURL } from "url";

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "..", "..", "tests", "fixtures", "chat_templates");
const packageDir = process.argv[2];
if (!packageDir) {
  console.error("usage: node crosscheck_hf_jinja.mjs PATH_TO/@huggingface/jinja");
  process.exit(2);
}
const { Template, Environment, Interpreter } = await import(pathToFileURL(path.join(packageDir, "dist", "index.js")).href);
const version = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")).version;

const goldens = JSON.parse(fs.readFileSync(path.join(fixtures, "goldens.json"), "utf8"));
const manifest = JSON.parse(fs.readFileSync(path.join(fixtures, "templates.json"), "utf8"));

// The golden script pins strftime_now to 2024-07-26 12:00; do the same here.
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"];
function strftimeNow(format) {
  const pad = (n) => String(n).padStart(2, "0");
  return format.replace(/%([dmYyBbHMS%-]|-d)/g, (m, code) => ({
    d: pad(26), "-d": "26", m: pad(7), Y: "2024", y: "24", B: MONTHS[6], b: MONTHS[6].slice(0, 3),
    H: "12", M: "00", S: "00", "%": "%",
  })[code] ?? m);
}

// Template.render with the library's own globals, except a pinned strftime_now.
function render(text, context) {
  try {
    const template = new Template(text);
    const env = new Environment();
    const globals = {
      false: false, true: true, none: null, False: false, True: true, None: null,
      raise_exception: (message) => { throw new Error(message); },
      strftime_now: strftimeNow,
    };
    for (const [key, value] of Object.entries({ ...globals, ...context })) env.set(key, value);
    if (!("range" in context)) env.set("range", (...args) => rangeOf(...args));
    return { out: new Interpreter(env).run(template.parsed).value };
  } catch (error) {
    return { error: String(error && error.message ? error.message : error) };
  }
}

function rangeOf(start, stop, step = 1) {
  if (stop === undefined) [start, stop] = [0, start];
  const out = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

function compare(label, got, golden, disagreements) {
  if ("expected" in golden) {
    if (got.out === golden.expected) return true;
    disagreements.push({ label, jinja2: golden.expected, hf: got.error !== undefined ? `ERROR: ${got.error}` : got.out });
    return false;
  }
  if (got.error !== undefined) return true;
  disagreements.push({ label, jinja2: `ERROR ${golden.error.type}: ${golden.error.message}`, hf: got.out });
  return false;
}

const disagreements = [];
let chatAgree = 0;
for (const c of goldens.chat_cases) {
  if (c.continue_final_message) continue;  // a transformers feature around the template, not Jinja
  const text = fs.readFileSync(path.join(fixtures, `${c.template}.jinja`), "utf8");
  const context = {
    ...manifest[c.template].special_tokens, ...c.extra,
    messages: goldens.conversations[c.conversation],
    tools: c.tools ? goldens.tools[c.tools] : null, documents: null,
    add_generation_prompt: c.add_generation_prompt,
  };
  if (compare(`chat ${c.name}`, render(text, context), c, disagreements)) chatAgree++;
}
const chatTotal = goldens.chat_cases.filter((c) => !c.continue_final_message).length;

let featureAgree = 0;
const features = goldens.feature_cases.filter((c) => c.trim_blocks && c.lstrip_blocks);
for (const c of features) {
  if (compare(`probe ${JSON.stringify(c.template)}`, render(c.template, goldens.feature_context), c, disagreements)) {
    featureAgree++;
  }
}

console.log(`@huggingface/jinja ${version} vs jinja2 ${goldens.jinja2_version}`);
console.log(`chat cases: ${chatAgree}/${chatTotal} agree; feature probes: ${featureAgree}/${features.length} agree`);
for (const d of disagreements) {
  console.log(`\n--- ${d.label}\n  jinja2: ${JSON.stringify(d.jinja2).slice(0, 400)}\n  hf:     ${JSON.stringify(d.hf).slice(0, 400)}`);
}
