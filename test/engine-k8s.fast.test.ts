/**
 * The Kubernetes manifest (engines/k8s/convert-job.yaml): it parses; its plan, per-index partition
 * and finalize command lines are accepted by the real CLI program (commander parses them; the
 * convert action is swapped for one that records what it got, so nothing runs); every index of the
 * Indexed Job becomes a distinct --partition k/N with N = completions; the three steps give
 * convert the same arguments apart from their step flag.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildProgram } from '../src/cli/program.ts';
import { repoRoot } from './helpers/python.ts';

interface JobDoc {
  metadata: { name: string };
  spec: { completionMode?: string; completions?: number; template: { spec: { containers: { command: string[] }[] } } };
}

const docs = parseAllDocuments(readFileSync(path.join(repoRoot, 'engines', 'k8s', 'convert-job.yaml'), 'utf8')).map((d) => {
  expect(d.errors).toEqual([]);
  return d.toJS() as JobDoc;
});

/** The argv a container runs, with the pod's index in place (`sh -c "exec …"` split as sh would, quotes removed). */
function argvOf(command: string[], index: number): string[] {
  if (command[0] !== 'sh') return command;
  expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  const script = command[2]!.replace(/^exec /, '').replaceAll('$JOB_COMPLETION_INDEX', String(index));
  return [...script.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** What the real commander program makes of `argv` for convert (the action recorded, not run). */
async function parsed(argv: string[]): Promise<{ input: string; flags: Record<string, unknown> }> {
  expect(argv[0]).toBe('nusomi-hf');
  const program = buildProgram();
  let got: { input: string; flags: Record<string, unknown> } | undefined;
  program.commands
    .find((c) => c.name() === 'convert')!
    .action((input: string, flags: Record<string, unknown>) => {
      got = { input, flags };
    });
  await program.parseAsync(argv.slice(1), { from: 'user' });
  expect(got).toBeDefined();
  return got!;
}

it('the Kubernetes manifest: plan, an Indexed Job of partitions, finalize; every command line is accepted by the CLI', async () => {
  expect(docs.map((d) => d.metadata.name)).toEqual(['nusomi-hf-plan', 'nusomi-hf-convert', 'nusomi-hf-finalize']);
  const [plan, job, fin] = docs as [JobDoc, JobDoc, JobDoc];
  const command = (d: JobDoc) => d.spec.template.spec.containers[0]!.command;

  const planned = await parsed(argvOf(command(plan), 0));
  expect(planned.flags.planOnly).toBe(true);
  const finalized = await parsed(argvOf(command(fin), 0));
  expect(finalized.flags.finalize).toBe(true);

  expect(job.spec.completionMode).toBe('Indexed');
  const n = job.spec.completions!;
  expect(n).toBeGreaterThan(1);
  const seen: string[] = [];
  for (let k = 0; k < n; k++) {
    const p = await parsed(argvOf(command(job), k));
    expect(p.flags.partition).toEqual({ index: k, count: n });
    seen.push(`${k}/${n}`);
    // The same convert as the plan's, apart from the step flag.
    const { partition: _p, ...rest } = p.flags;
    const { planOnly: _o, ...planRest } = planned.flags;
    expect({ input: p.input, ...rest }).toEqual({ input: planned.input, ...planRest });
  }
  expect(new Set(seen).size).toBe(n);
  const { finalize: _f, ...finRest } = finalized.flags;
  const { planOnly: _o, ...planRest } = planned.flags;
  expect({ input: finalized.input, ...finRest }).toEqual({ input: planned.input, ...planRest });
});

it('the CLI refuses a --partition outside 0 <= i < N and steps that exclude each other', async () => {
  for (const bad of [
    ['--partition', '3/3'],
    ['--partition', '1'],
    ['--plan-only', '--finalize'],
  ]) {
    const program = buildProgram();
    program.commands.find((c) => c.name() === 'convert')!.action(() => {});
    for (const c of [program, ...program.commands]) c.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    await expect(program.parseAsync(['convert', 'x', '--out', 'y', ...bad], { from: 'user' })).rejects.toThrow();
  }
});
