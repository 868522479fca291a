// The import direction of src/ (STYLE.md §3 and §12), checked on the source: every import,
// `import type`, export-from, `import x = require()`, type-position `import('...')` and
// dynamic `import('...')` with a literal, read with TypeScript's own parser (so comments,
// strings and multi-line import lists cannot fool it), resolved to files, and the rules
// below asserted one by one, each listing its offending edges. A dynamic import of a
// variable is invisible here on purpose: it is the one door into src/http/
// (src/listeners/listener.ts loads the http listener that way, only when one is configured).
import t from 'tap';
import ts from 'typescript';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = path.join(ROOT, 'src');

interface Edge {
  /** Both relative to the repo root: "src/pool/pool.ts". */
  from: string;
  to: string;
  /** 'dynamic': import('...') evaluated at run time; 'static' covers types too. */
  kind: 'static' | 'dynamic';
}

/** Module specifiers in `text`, with how each is loaded (pure). */
function specifiers(text: string, file: string): Array<{ spec: string; kind: Edge['kind'] }> {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Array<{ spec: string; kind: Edge['kind'] }> = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, kind: 'static' });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      out.push({ spec: node.moduleReference.expression.text, kind: 'static' });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, kind: 'static' });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteralLike(arg)) out.push({ spec: arg.text, kind: 'dynamic' });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** A relative specifier as a repo-relative .ts path (NodeNext: "./x.js" is ./x.ts); null for packages and node: builtins. */
function resolve(fromFile: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const abs = path.resolve(path.dirname(path.join(ROOT, fromFile)), spec);
  const candidates = [abs.replace(/\.js$/, '.ts'), abs, `${abs}.ts`, path.join(abs, 'index.ts')];
  const hit = candidates.find((c) => c.endsWith('.ts') && existsSync(c)) ?? candidates[0]!;
  return path.relative(ROOT, hit).split(path.sep).join('/');
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(path.relative(ROOT, p).split(path.sep).join('/'));
  }
  return out.sort();
}

function buildGraph(): { files: string[]; edges: Edge[] } {
  const files = sourceFiles(SRC);
  const edges: Edge[] = [];
  for (const from of files) {
    for (const { spec, kind } of specifiers(readFileSync(path.join(ROOT, from), 'utf8'), from)) {
      const to = resolve(from, spec);
      if (to !== null) edges.push({ from, to, kind });
    }
  }
  return { files, edges };
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(files: string[], edges: Edge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  let i = 0;
  const strong = (v: string): void => {
    index.set(v, i);
    low.set(v, i);
    i++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) sccs.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f)) strong(f);
  // One shortest cycle through each file of each component, as a path "a -> b -> a".
  const paths: string[][] = [];
  const seen = new Set<string>();
  for (const scc of sccs) {
    const inside = new Set(scc);
    for (const start of scc) {
      const prev = new Map<string, string>();
      const queue = [start];
      let found: string | null = null;
      while (queue.length > 0 && found === null) {
        const v = queue.shift()!;
        for (const w of next.get(v) ?? []) {
          if (!inside.has(w)) continue;
          if (w === start) {
            found = v;
            break;
          }
          if (!prev.has(w)) {
            prev.set(w, v);
            queue.push(w);
          }
        }
      }
      if (found === null) continue;
      const loop = [found];
      while (loop[0] !== start) loop.unshift(prev.get(loop[0]!)!);
      // Rotate to its smallest file so that the same cycle found from two starts is listed once.
      const k = loop.indexOf([...loop].sort()[0]!);
      const canonical = [...loop.slice(k), ...loop.slice(0, k)];
      const key = canonical.join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      paths.push([...canonical, canonical[0]!]);
    }
  }
  return paths;
}

const area = (file: string): string => {
  const m = /^src\/([^/]+)\//.exec(file);
  return m === null ? file : m[1]!;
};
const show = (edges: Edge[]): string => (edges.length === 0 ? 'none' : edges.map((e) => `  ${e.from} -> ${e.to}${e.kind === 'dynamic' ? ' (dynamic)' : ''}`).join('\n'));

t.test('the scanner reads every kind of import, and nothing else', async (t) => {
  const text = [
    "import a from './a.js';",
    "import type { B } from '../b/b.js';",
    "import {\n  c1,\n  c2,\n} from './c.js';",
    "export { d } from './d.js';",
    "export * from './e.js';",
    "export type { F } from './f.js';",
    "import './side-effect.js';",
    "import g = require('./g.js');",
    "type H = import('./h.js').H;",
    "const i = await import('./i.js');",
    "const j = await import(someVariable);",
    "// import k from './k.js';",
    "/* export * from './l.js'; */",
    "const m = \"import n from './n.js'\";",
    "import net from 'node:net';",
  ].join('\n');
  t.same(specifiers(text, 'x.ts'), [
    { spec: './a.js', kind: 'static' },
    { spec: '../b/b.js', kind: 'static' },
    { spec: './c.js', kind: 'static' },
    { spec: './d.js', kind: 'static' },
    { spec: './e.js', kind: 'static' },
    { spec: './f.js', kind: 'static' },
    { spec: './side-effect.js', kind: 'static' },
    { spec: './g.js', kind: 'static' },
    { spec: './h.js', kind: 'static' },
    { spec: './i.js', kind: 'dynamic' },
    { spec: 'node:net', kind: 'static' },
  ]);
  t.equal(resolve('src/pool/pool.ts', './backend.js'), 'src/pool/backend.ts');
  t.equal(resolve('src/pool/pool.ts', '../local-errors.js'), 'src/local-errors.ts');
  t.equal(resolve('src/pool/pool.ts', 'node:net'), null);
  const loop = cycles(['a', 'b', 'c', 'd'], [
    { from: 'a', to: 'b', kind: 'static' }, { from: 'b', to: 'a', kind: 'static' },
    { from: 'c', to: 'd', kind: 'static' },
  ]);
  t.same(loop, [['a', 'b', 'a']], 'a two-file cycle, reported once; a one-way edge is none');
});

const { files, edges } = buildGraph();
const from = (...areas: string[]): Edge[] => edges.filter((e) => areas.includes(area(e.from)));
const into = (list: Edge[], ...areas: string[]): Edge[] => list.filter((e) => areas.includes(area(e.to)));

t.test('the graph covers src', async (t) => {
  t.ok(files.length > 50, `${files.length} files`);
  t.ok(edges.some((e) => e.from === 'src/cli/run.ts' && e.to === 'src/runtime/runtime.ts'), 'cli/run.ts -> runtime/runtime.ts seen');
  t.ok(edges.every((e) => files.includes(e.to)), `every relative import resolves to a file in src:\n${show(edges.filter((e) => !files.includes(e.to)))}`);
});

t.test('(a) no import cycles in src', async (t) => {
  const found = cycles(files, edges);
  t.same(found.map((c) => c.join(' -> ')), [], `cycles: ${found.length === 0 ? 'none' : '\n' + found.map((c) => `  ${c.join(' -> ')}`).join('\n')}`);
});

t.test('(b) nothing outside src/http/ imports src/http/ statically (listener.ts loads it by a dynamic import of a variable)', async (t) => {
  const bad = edges.filter((e) => area(e.from) !== 'http' && area(e.to) === 'http' && e.kind === 'static');
  t.same(bad, [], `static imports of src/http/:\n${show(bad)}`);
});

t.test('(c) the core (config, runtime, listeners, pool, health, log) imports nothing from admin/ or cli/', async (t) => {
  const bad = into(from('config', 'runtime', 'listeners', 'pool', 'health', 'log'), 'admin', 'cli');
  t.same(bad, [], `core -> admin/cli:\n${show(bad)}`);
});

t.test('(d) config/ imports only config/ and src/errors.ts (and builtins, packages)', async (t) => {
  const bad = from('config').filter((e) => area(e.to) !== 'config' && e.to !== 'src/errors.ts');
  t.same(bad, [], `config -> elsewhere:\n${show(bad)}`);
});

t.test('(e) pool/ imports nothing from listeners/, runtime/, health/, admin/', async (t) => {
  const bad = into(from('pool'), 'listeners', 'runtime', 'health', 'admin');
  t.same(bad, [], `pool -> listeners/runtime/health/admin:\n${show(bad)}`);
});

t.test('(f) health/ imports nothing from listeners/, runtime/, admin/', async (t) => {
  const bad = into(from('health'), 'listeners', 'runtime', 'admin');
  t.same(bad, [], `health -> listeners/runtime/admin:\n${show(bad)}`);
});

t.test('(g) listeners/ imports nothing from runtime/, admin/', async (t) => {
  const bad = into(from('listeners'), 'runtime', 'admin');
  t.same(bad, [], `listeners -> runtime/admin:\n${show(bad)}`);
});
