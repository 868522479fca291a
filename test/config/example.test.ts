// Docs-sync (fastify style): lb.toml.example is a valid config, and it and
// docs/configuration.md mention every key of schema.ts with its default or "(required)".
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';
import { SECTIONS } from '../../src/config/schema.js';
import { formatDefault, type KeySpec, type SectionSpec } from '../../src/config/reader.js';

const examplePath = fileURLToPath(new URL('../../lb.toml.example', import.meta.url));
const docsPath = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
const example = readFileSync(examplePath, 'utf8');
const docs = readFileSync(docsPath, 'utf8');

const allKeys: { section: SectionSpec; key: KeySpec }[] = SECTIONS.flatMap((section) => section.keys.map((key) => ({ section, key })));

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

t.test('lb.toml.example is valid, with no warnings', async (t) => {
  const r = loadConfigFile(examplePath);
  t.same(r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem), []);
  t.ok(r.ok);
  if (!r.ok) return;
  const protocols = r.config.listeners.map((l) => l.protocol);
  t.ok(protocols.includes('tcp') && protocols.includes('udp'), 'a tcp and a udp listener');
  t.ok(r.config.pools.some((p) => p.algorithm === 'consistent-hash'), 'a consistent-hash pool');
  for (const l of r.config.listeners) t.equal(l.bind.host, '127.0.0.1', `${l.name} binds to loopback only`);
  t.equal(r.config.admin?.bind.host, '127.0.0.1', 'admin on loopback');
});

t.test('the commented-out examples are valid once uncommented', async (t) => {
  // Lines like "# [listeners.web]" or "# pool = ..." are config; "#   # ..." stay comments.
  const uncommented = example
    .split('\n')
    .map((line) => (/^# (\[|[a-z_]+ = )/.test(line) ? line.slice(2) : line))
    .join('\n');
  t.not(uncommented, example, 'something was commented out');
  const r = parseConfigText(uncommented, 'uncommented');
  t.same(r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem), []);
  if (r.ok) {
    t.ok(r.config.listeners.some((l) => l.protocol === 'http' && l.routes.length > 0), 'an http listener with routes');
    t.ok(r.config.pools.some((p) => p.health?.port !== undefined), 'a health port');
  }
});

t.test('lb.toml.example mentions every schema key with its default or (required)', async (t) => {
  const lines = example.split('\n');
  for (const { section, key } of allKeys) {
    const where = `${section.path || '(top level)'}: ${key.key}`;
    if (section.name === 'root') {
      t.match(example, new RegExp(`^#? ?\\[${key.key}[.\\]]`, 'm'), `${where} has a table header`);
      continue;
    }
    // `key = value`, `# key:` in a comment describing an inline table's keys, or a
    // `[...key]` / `[[...key]]` header for nested tables. The key's line and the two lines after
    // it carry its description; one occurrence with the full description is enough.
    const header = key.type === 'section' || key.type === 'sections' ? `|\\.${escape(key.key)}\\]` : '';
    const pattern = new RegExp(`(^\\s*#? ?|[{,]\\s*|#\\s+)${escape(key.key)}( =|: )${header}`);
    const windows = lines.flatMap((l, i) => (pattern.test(l) ? [lines.slice(i, i + 3).join('\n')] : []));
    t.ok(windows.length > 0, `${where} appears`);
    const want = key.required ? '(required' : key.default !== undefined ? `default ${formatDefault(key.default)}` : 'optional';
    t.ok(
      windows.some((w) => w.includes(want)),
      `${where} says ${want}`,
    );
    for (const value of key.values ?? []) t.ok(windows.some((w) => w.includes(value)), `${where} lists ${value}`);
  }
});

t.test('docs/configuration.md documents every schema key', async (t) => {
  for (const { section, key } of allKeys) {
    if (section.name === 'root') continue;
    t.match(docs, new RegExp(`^### \`${escape(key.key)}\``, 'm'), `${section.path}.${key.key} has an entry`);
  }
  for (const section of SECTIONS) {
    if (section.name === 'root') continue;
    t.ok(docs.includes(`## \`${section.path}\``), `${section.path} has a section`);
  }
});
