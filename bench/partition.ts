/**
 * Section `partition` (issue 20): a partitioned convert on this machine, partitions as separate
 * processes run at once. Measured on one export, written as Parquet + WebDataset in small shards
 * (so every partition count gets an even share):
 *  - one `convert` (the baseline, T1);
 *  - `convert --plan-only` (the plan pass's share of T1);
 *  - plan, then N = 1, 2, 4 `convert --partition i/N` at once, then `--finalize`: the partitions'
 *    wall time T(N) and the whole (plan + partitions + finalize);
 *  - efficiency(N) = T1 / (T(N) · min(N, cores)): 1 when N partitions on N cores each run at the
 *    single process's speed.
 * Every partitioned output is checked to be the single convert's byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, round, row } from './lib.ts';
import type { BenchContext, Section } from './run.ts';

const SESSIONS = Number(process.env.NUSOMI_BENCH_PARTITION_SESSIONS ?? 80);
const STEPS = 50;
const FLAGS = ['--formats', 'parquet,webdataset', '--split', 'train=1', '--max-shard-bytes', '50MB', '--shard-bytes', '50MB'];

/**
 * Runs every argv at once: seconds until the last one exits, and the CPU seconds (user + system) they
 * used together, which a busy machine changes far less than wall time. Fails if any fails.
 */
const MANY = `
import json, resource, subprocess, sys, time
argvs = json.loads(sys.argv[1])
t = time.perf_counter()
ps = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a in argvs]
errs = [p.communicate()[1] for p in ps]
dt = time.perf_counter() - t
bad = [(p.returncode, e) for p, e in zip(ps, errs) if p.returncode != 0]
if bad:
    sys.stderr.write(bad[0][1].decode(errors="replace")[-4000:])
    sys.exit(1)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": dt, "cpu": u.ru_utime + u.ru_stime}))
`;

function concurrently(argvs: string[][]): { seconds: number; cpu: number } {
  const r = spawnSync('python3', ['-c', MANY, JSON.stringify(argvs)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`partitions failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; cpu: number };
}

function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(root, rel)).sort()) {
      const p = rel ? `${rel}/${e}` : e;
      if (statSync(path.join(root, p)).isDirectory()) walk(p);
      else
        h.update(
          `${p} ${createHash('sha256')
            .update(readFileSync(path.join(root, p)))
            .digest('hex')}\n`,
        );
    }
  };
  walk('');
  return h.digest('hex');
}

export async function run(ctx: BenchContext): Promise<Section> {
  const exp = ctx.ensureExport({ sessions: SESSIONS, steps: STEPS, format: 'jsonl' });
  const cores = os.availableParallelism();
  const convert = (out: string, extra: string[] = []) => [...cli, 'convert', exp.dir, '--out', out, ...FLAGS, ...extra];

  const singleOut = path.join(ctx.scratch('partition-single'), 'out');
  ctx.prepareCache(exp);
  ctx.log(`partition: one convert of ${exp.rows} rows (${round(exp.bytes / 1e6, 0)} MB)`);
  const single = concurrently([convert(singleOut)]);
  const expected = treeHash(singleOut);
  ctx.log(`  ${round(single.seconds, 1)} s, ${round(single.cpu, 1)} CPU s`);

  const rows: Section['rows'] = [
    row('partition', 'one convert (baseline)', { seconds: single.seconds, peakRssMB: 0 }, exp.rows, exp.bytes),
  ];
  const ratios: Record<string, number> = {};
  let planSeconds = 0;
  let planCpu = 0;
  for (const n of [1, 2, 4]) {
    const out = path.join(ctx.scratch(`partition-${n}`), 'out');
    ctx.prepareCache(exp);
    const plan = concurrently([convert(out, ['--plan-only'])]);
    planSeconds = Math.max(planSeconds, plan.seconds);
    planCpu = Math.max(planCpu, plan.cpu);
    const ran = concurrently(Array.from({ length: n }, (_, i) => convert(out, ['--partition', `${i}/${n}`])));
    const parts = ran.seconds;
    const fin = concurrently([convert(out, ['--finalize'])]);
    if (treeHash(out) !== expected) throw new Error(`partition: ${n} partitions did not give the single convert's bytes`);
    const efficiency = single.seconds / (parts * Math.min(n, cores));
    ctx.log(
      `  N=${n}: plan ${round(plan.seconds, 1)} s, partitions ${round(parts, 1)} s (${round(ran.cpu, 1)} CPU s), finalize ${round(fin.seconds, 1)} s, efficiency ${round(efficiency)}`,
    );
    // Work partitioning adds (each partition places every row before its own): 1 = none.
    ratios[`cpu_efficiency_${n}`] = round(single.cpu / ran.cpu);
    ratios[`efficiency_${n}`] = round(efficiency);
    ratios[`speedup_${n}`] = round(single.seconds / parts);
    ratios[`end_to_end_speedup_${n}`] = round(single.seconds / (plan.seconds + parts + fin.seconds));
    ratios[`finalize_share_${n}`] = round(fin.seconds / single.seconds, 3);
    rows.push(
      row('partition', `${n} partition${n === 1 ? '' : 's'} at once (processes)`, { seconds: parts, peakRssMB: 0 }, exp.rows, exp.bytes),
    );
  }
  const planShare = planSeconds / single.seconds;
  ratios.plan_share = round(planShare, 3);
  ratios.plan_cpu_share = round(planCpu / single.cpu, 3);
  ratios.single_mb_per_s = round(exp.bytes / 1e6 / single.seconds, 1);
  return {
    rows,
    ratios,
    targets: {
      efficiency_at_2: { value: ratios.efficiency_2!, target: '>= 0.8', met: ratios.efficiency_2! >= 0.8 },
      plan_share: { value: ratios.plan_share, target: '<= 0.05', met: planShare <= 0.05 },
    },
    notes: [
      `${exp.rows} rows, ${round(exp.bytes / 1e6, 0)} MB export, ${cores} cores; formats parquet + webdataset, 50 MB shards; warm page cache`,
      'partition time = wall time of the N processes started at once; efficiency = T1 / (T(N) * min(N, cores))',
      'plan share = the slowest convert --plan-only over the single convert; every output compared byte for byte',
      'cpu_efficiency = CPU seconds of one convert / CPU seconds of the N partitions together (what partitioning adds, nearly independent of load)',
    ],
  };
}
