/**
 * ISO 8601 instants (`context.started_at`) as the int64 milliseconds of a timestamp column and
 * back. Only a full date-time with a zone (Z or ±hh:mm) is an instant; anything else has no
 * column value.
 */

/** `2026-04-10T08:49:12Z`, `2026-04-10T08:49:12.5+02:00`; seconds and the zone are required. */
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch milliseconds of an ISO 8601 instant (sub-millisecond digits rounded down), or null. */
export function msOfIso(s: string): number | null {
  const m = ISO_INSTANT.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  const ms = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(sec),
    frac ? Math.floor(Number(`0${frac}`) * 1000) : 0,
  );
  // Date.UTC rolls over (Feb 30 -> Mar 2): such a text is not a real instant.
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== Number(y) ||
    back.getUTCMonth() !== Number(mo) - 1 ||
    back.getUTCDate() !== Number(d) ||
    back.getUTCHours() !== Number(h) ||
    back.getUTCMinutes() !== Number(mi) ||
    back.getUTCSeconds() !== Number(sec)
  )
    return null;
  const offset = zone === 'Z' ? 0 : (zone![0] === '-' ? -1 : 1) * (Number(zone!.slice(1, 3)) * 60 + Number(zone!.slice(4, 6))) * 60_000;
  return ms - offset;
}

/** The canonical text of an instant: UTC, `Z`, milliseconds only when not zero. */
export function isoOfMs(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}
