/**
 * Values that look unmasked in text fields. Each detector validates what a regex finds (Luhn for
 * cards, mod-97 for IBANs, digit counts for phones) to keep false positives down. Findings carry a
 * redacted excerpt: the surrounding text with every detected value replaced by a tag, so the raw
 * value never reaches the report.
 */
import type { CheckId } from './checks.ts';

export const MASKED = '[masked]';

/**
 * The text fields the privacy scan reads: where typed and free text lands in a dataset row (any
 * format). An export row is scanned under the same names (export-privacy.ts maps a Step onto
 * them), so an export and the dataset made from it are flagged alike.
 */
export const PRIVACY_FIELDS = [
  'action.text',
  'action.target.name',
  'action.url',
  'action.args',
  'dom',
  'accessibility_tree',
  'extra',
] as const;
export type PrivacyField = (typeof PRIVACY_FIELDS)[number];
/** One row's text per scanned field (null: absent). */
export type PrivacyTexts = Record<PrivacyField, string | null>;

interface Detector {
  id: CheckId;
  tag: string;
  re: RegExp;
  valid(m: string): boolean;
  /** A cheap test every match needs to pass (skips the regex on most text). */
  gate(text: string): boolean;
}

const hasDigit = (t: string): boolean => /\d/.test(t);

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function ibanOk(s: string): boolean {
  const iban = s.replace(/ /g, '');
  if (iban.length < 15 || iban.length > 34) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

const digitsOf = (s: string): string => s.replace(/\D/g, '');

// Order matters: earlier detectors claim their matches first (a card number is not also a phone).
const DETECTORS: Detector[] = [
  {
    id: 'privacy.api_key',
    tag: 'api-key',
    re: /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}|\bhf_[A-Za-z0-9]{30,}|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}|\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}/g,
    valid: () => true,
    // Every alternative starts with one of these literals (sk_, pk_, rk_, gh?_, hf_ all hold "_").
    gate: (t) => t.includes('_') || t.includes('AKIA') || t.includes('xox') || t.includes('AIza') || t.includes('eyJ'),
  },
  // The e-mail pattern is the costliest on long DOM/tree texts; without an "@" it cannot match.
  {
    id: 'privacy.email',
    tag: 'email',
    re: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g,
    valid: () => true,
    gate: (t) => t.includes('@'),
  },
  { id: 'privacy.iban', tag: 'iban', re: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g, valid: ibanOk, gate: hasDigit },
  {
    id: 'privacy.card_number',
    tag: 'card',
    re: /(?<![\w.,-])\d(?:[ -]?\d){12,18}(?![\w.,-]?\d)/g,
    valid: (m) => {
      const d = digitsOf(m);
      return d.length >= 13 && d.length <= 19 && !/^(\d)\1+$/.test(d) && luhn(d);
    },
    gate: hasDigit,
  },
  {
    id: 'privacy.ssn',
    tag: 'ssn',
    re: /(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])/g,
    valid: () => true,
    gate: (t) => t.includes('-') && hasDigit(t),
  },
  {
    id: 'privacy.phone',
    tag: 'phone',
    re: /(?<![\w.,+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?![\w.,-]?\d)/g,
    valid: (m) => {
      const n = digitsOf(m).length;
      // An ISO date (2026-04-11) or a plain number with one separator is not a phone number.
      return n >= 9 && n <= 15 && !/^\d{4}-\d{2}-\d{2}/.test(m);
    },
    gate: hasDigit,
  },
];

export interface PrivacyHit {
  id: CheckId;
  /** Redacted context around the value: `…paid with [card: 16 digits] on…`. */
  excerpt: string;
}

function label(d: Detector, m: string): string {
  if (d.tag === 'card') return `[card: ${digitsOf(m).length} digits]`;
  if (d.tag === 'iban') return `[iban: ${m.slice(0, 2)}]`;
  if (d.tag === 'email') return `[email: @${'*'.repeat(3)}]`;
  return `[${d.tag}]`;
}

/** `[masked]` placeholders in a text. */
export function countMasked(text: string): number {
  let n = 0;
  for (let i = text.indexOf(MASKED); i >= 0; i = text.indexOf(MASKED, i + MASKED.length)) n++;
  return n;
}

const CONTEXT = 24;

/** Every value in `text` that looks unmasked, each with a redacted excerpt. */
export function scanText(text: string): PrivacyHit[] {
  if (text.length < 6) return [];
  const spans: Array<{ start: number; end: number; d: Detector; m: string }> = [];
  for (const d of DETECTORS) {
    if (!d.gate(text)) continue;
    d.re.lastIndex = 0;
    for (const m of text.matchAll(d.re)) {
      const start = m.index;
      const end = start + m[0].length;
      if (spans.some((s) => start < s.end && end > s.start)) continue;
      if (!d.valid(m[0])) continue;
      spans.push({ start, end, d, m: m[0] });
    }
  }
  if (!spans.length) return [];
  spans.sort((a, b) => a.start - b.start);
  return spans.map((s) => {
    const from = Math.max(0, s.start - CONTEXT);
    const to = Math.min(text.length, s.end + CONTEXT);
    // Redact every detected value inside the window, not only this one.
    let out = '';
    let at = from;
    for (const o of spans) {
      if (o.end <= from || o.start >= to) continue;
      out += text.slice(at, Math.max(at, o.start)) + label(o.d, o.m);
      at = Math.max(at, o.end);
    }
    out += text.slice(at, to);
    const excerpt = (from > 0 ? '…' : '') + out.replace(/\s+/g, ' ') + (to < text.length ? '…' : '');
    return { id: s.d.id, excerpt };
  });
}

/** Scans every field of one row: `found` gets each hit; returns the `[masked]` placeholders seen. */
export function scanFields(texts: PrivacyTexts, found: (field: PrivacyField, hit: PrivacyHit) => void): number {
  let masked = 0;
  for (const field of PRIVACY_FIELDS) {
    const text = texts[field];
    if (typeof text !== 'string' || text.length === 0) continue;
    masked += countMasked(text);
    for (const hit of scanText(text)) found(field, hit);
  }
  return masked;
}
