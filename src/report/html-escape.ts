/** Text from an export or dataset is data, never markup: every string put into HTML goes through here. */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * JSON for a `<script>` file: `<`, `>`, `&` and the line separators escaped, so no string in it
 * can end a script element or a JavaScript string if the file is ever inlined.
 */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
