/** Report defaults, in a module of their own so the CLI can show them without loading the report. */

/**
 * Frames sampled by default: a few whole sessions for the gallery and the player. A thumbnail
 * costs ~30-50 ms of CPU (decoding a full frame) and 5-25 KB, so on the 4x bench export 100 of them
 * cost about as much as reading its 80,000 rows, and the report stays far under 50 MB.
 */
export const DEFAULT_MAX_FRAMES = 100;
