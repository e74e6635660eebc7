/**
 * The flags that bound untrusted input and say what an export may reach, shared by inspect,
 * convert and validate so each shows the same names and defaults in `--help`.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_LIMITS, parseByteSize } from '../limits.ts';
import type { InputLimits } from '../limits.ts';

export interface InputFlags {
  maxLineBytes?: number;
  maxMemberBytes?: number;
  maxJsonDepth?: number;
  maxFramePixels?: number;
  maxFrameScale?: number;
  allowRemoteFrames?: string[];
}

function size(flag: string): (v: string) => number {
  return (v) => {
    const n = parseByteSize(v);
    if (n === undefined) throw new InvalidArgumentError(`${flag} expects a size like 64MiB, 512MB or 1000000, got "${v}"`);
    return n;
  };
}

function count(flag: string, allowFraction = false): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!(Number.isFinite(n) && n > 0 && (allowFraction || Number.isSafeInteger(n)))) {
      throw new InvalidArgumentError(`${flag} expects a ${allowFraction ? 'number' : 'whole number'} > 0, got "${v}"`);
    }
    return n;
  };
}

function hosts(value: string, previous: string[] = []): string[] {
  const add = value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
  for (const h of add) {
    if (/[/?#@\s]/.test(h.replace(/^(s3|az):\/\//i, ''))) {
      throw new InvalidArgumentError(
        `--allow-remote-frames expects host names (host or host:port), S3 buckets or Azure containers, got "${h}"`,
      );
    }
  }
  return [...previous, ...add];
}

const MiB = 1024 * 1024;

/** Adds the limit flags and --allow-remote-frames to a subcommand. */
export function addInputOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-line-bytes <size>',
      `longest jsonl line, also in .jsonl.gz and sidecars (default ${DEFAULT_LIMITS.maxLineBytes / MiB}MiB)`,
      size('--max-line-bytes'),
    )
    .option(
      '--max-member-bytes <size>',
      `largest object read whole: tar member, frame file, manifest.json (default ${DEFAULT_LIMITS.maxMemberBytes / MiB}MiB)`,
      size('--max-member-bytes'),
    )
    .option(
      '--max-json-depth <n>',
      `deepest JSON nesting in a row, JSON text column or manifest (default ${DEFAULT_LIMITS.maxJsonDepth})`,
      count('--max-json-depth'),
    )
    .option(
      '--max-frame-pixels <n>',
      `most pixels a frame may have, read from its header (default ${DEFAULT_LIMITS.maxFramePixels} = 8192x8192)`,
      count('--max-frame-pixels'),
    )
    .option(
      '--max-frame-scale <x>',
      `how many times wider or taller than its viewport a frame may be (default ${DEFAULT_LIMITS.maxFrameScale})`,
      count('--max-frame-scale', true),
    )
    .option(
      '--allow-remote-frames <hosts>',
      'hosts (host or host:port), S3 buckets or Azure containers outside the export that frames and data files may come from (comma list, repeatable; default: none)',
      hosts,
    );
}

export function inputOptionsOf(flags: InputFlags): { limits: Partial<InputLimits>; allowRemoteFrames: string[] } {
  return {
    limits: {
      maxLineBytes: flags.maxLineBytes,
      maxMemberBytes: flags.maxMemberBytes,
      maxJsonDepth: flags.maxJsonDepth,
      maxFramePixels: flags.maxFramePixels,
      maxFrameScale: flags.maxFrameScale,
    },
    allowRemoteFrames: flags.allowRemoteFrames ?? [],
  };
}
