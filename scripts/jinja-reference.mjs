// Renders every chat template in tests/Serving.Workers.Tests/Templates/llama.cpp with every conversation in
// conversations.json using @huggingface/jinja (the renderer transformers.js uses), and writes the SHA-256 and length
// of each render (or the reference's error) to reference-renders.json. The C# renderer's conformance test compares
// against that file. Run through scripts/jinja-reference.sh, which fetches the package and fixes clock and time zone.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [, , jinjaModule, dir, fullDir] = process.argv;
const { Template } = await import(jinjaModule);

// strftime_now must give the same answer in both renderers: freeze the clock.
const FixedNow = Date.UTC(2026, 0, 15, 10, 30, 0);
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) { super(...(args.length ? args : [FixedNow])); }
  static now() { return FixedNow; }
};

const conversations = JSON.parse(readFileSync(join(dir, "conversations.json"), "utf8"));
const templates = readdirSync(join(dir, "llama.cpp")).filter((f) => f.endsWith(".jinja")).sort();
const result = {};
for (const file of templates) {
  const source = readFileSync(join(dir, "llama.cpp", file), "utf8");
  result[file] = {};
  let template;
  try {
    template = new Template(source);
  } catch (e) {
    for (const name of Object.keys(conversations)) result[file][name] = { error: `parse: ${e.message}` };
    continue;
  }
  for (const [name, conversation] of Object.entries(conversations)) {
    try {
      const text = template.render({ ...conversation, bos_token: "<s>", eos_token: "</s>" });
      result[file][name] = { sha256: createHash("sha256").update(text, "utf8").digest("hex"), length: text.length };
      if (fullDir) {
        mkdirSync(fullDir, { recursive: true });
        writeFileSync(join(fullDir, `${file}.${name}.txt`), text);
      }
    } catch (e) {
      result[file][name] = { error: e.message };
    }
  }
}
writeFileSync(join(dir, "reference-renders.json"), JSON.stringify(result, null, 1) + "\n");
const all = Object.values(result).flatMap((r) => Object.values(r));
console.log(`${templates.length} templates x ${Object.keys(conversations).length} conversations: ` +
  `${all.filter((r) => r.sha256).length} rendered, ${all.filter((r) => r.error).length} rejected by the reference`);
