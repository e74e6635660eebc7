/**
 * What a command prints, by verbosity: `--quiet` keeps only errors and output asked for (`--json`),
 * `--verbose` adds details (every file written, every skipped row shown, stack traces of internal
 * errors). Every subcommand takes both flags (program.ts adds them); the level is set before the
 * command's action runs.
 */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

let level: Verbosity = 'normal';

export function setVerbosity(v: Verbosity): void {
  level = v;
}

export function verbosity(): Verbosity {
  return level;
}

/** The command's normal report on stdout (summaries, hints); not under --quiet. */
export function say(text: string): void {
  if (level !== 'quiet') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A warning on stderr; not under --quiet. */
export function warn(text: string): void {
  if (level !== 'quiet') process.stderr.write(`nusomi-hf: warning: ${text}\n`);
}

/** Details on stderr, only under --verbose. */
export function detail(text: string): void {
  if (level === 'verbose') process.stderr.write(`${text}\n`);
}
