// Escapes in health `send` / `expect` strings → bytes. TOML basic strings ("...") already
// decode \r \n \t \xHH themselves; this second pass serves TOML literal strings ('PING\r\n')
// and doubled escapes ("\\x00"). Text between escapes is encoded as UTF-8.
import { describeValue, type Parsed } from './parsed.js';

export const ALLOWED_ESCAPES = '\\r \\n \\t \\\\ \\" \\xHH';

const SIMPLE: Readonly<Record<string, number>> = { r: 0x0d, n: 0x0a, t: 0x09, '\\': 0x5c, '"': 0x22 };
const HEX2 = /^[0-9a-fA-F]{2}$/;

/** Decode `\r \n \t \\ \" \xHH`; any other backslash sequence is a problem. */
export function decodeEscapes(input: unknown): Parsed<Buffer> {
  if (typeof input !== 'string') {
    return { ok: false, message: `must be a string (escapes ${ALLOWED_ESCAPES} allowed) (got ${describeValue(input)})` };
  }
  const text = input;
  const parts: Buffer[] = [];
  let literalStart = 0;
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '\\') {
      i++;
      continue;
    }
    if (i > literalStart) parts.push(Buffer.from(text.slice(literalStart, i), 'utf8'));
    const next = text[i + 1];
    if (next === undefined) {
      return { ok: false, message: `ends with a lone "\\"; allowed escapes: ${ALLOWED_ESCAPES} (got ${JSON.stringify(text)})` };
    }
    const simple = SIMPLE[next];
    if (simple !== undefined) {
      parts.push(Buffer.of(simple));
      i += 2;
    } else if (next === 'x') {
      const hex = text.slice(i + 2, i + 4);
      if (!HEX2.test(hex)) {
        return {
          ok: false,
          message: `"\\x" at character ${i + 1} must be followed by two hex digits; allowed: ${ALLOWED_ESCAPES} (got ${JSON.stringify(text)})`,
        };
      }
      parts.push(Buffer.of(parseInt(hex, 16)));
      i += 4;
    } else {
      return {
        ok: false,
        message: `unknown escape "\\${next}" at character ${i + 1}; allowed: ${ALLOWED_ESCAPES} (got ${JSON.stringify(text)})`,
      };
    }
    literalStart = i;
  }
  if (literalStart < text.length) parts.push(Buffer.from(text.slice(literalStart), 'utf8'));
  return { ok: true, value: Buffer.concat(parts) };
}
