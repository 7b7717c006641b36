// Client JSON, as REST bodies and WebSocket frames carry it. JSON.parse accepts any nesting, but
// JSON.stringify and String() of a value nested a few thousand deep overflow the stack (a 500,
// or a frame handled with no answer): documents nested deeper than MAX_JSON_DEPTH are refused
// here, so no handler ever meets one. Legitimate documents nest a handful of levels.
import type { Json } from './json.js';

export const MAX_JSON_DEPTH = 64;

/** True when `value` nests arrays/objects more than `max` deep (checked without recursion). */
function deeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** The JSON object `text` holds, or null when it holds anything else or nests too deep. */
export function parseJsonObject(text: string): Json | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  return deeperThan(value, MAX_JSON_DEPTH) ? null : (value as Json);
}
