/**
 * Nesting depth of a JSON text, measured on the bytes before parsing. A valid body nested thousands of
 * levels deep parses fine, but every later deep copy (Node-RED clones messages sent to several wires)
 * recurses once per level and overflows the stack, which would stop Node-RED. Real vendor payloads nest
 * a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/** True when objects/arrays nest deeper than `max` (brackets inside strings do not count). */
export function jsonTooDeep(bytes: Uint8Array | string, max = MAX_JSON_DEPTH): boolean {
  const text = typeof bytes === "string" ? bytes : null;
  const length = text === null ? (bytes as Uint8Array).length : text.length;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < length; i++) {
    const c = text === null ? (bytes as Uint8Array)[i] : text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
