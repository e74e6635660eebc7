/**
 * A local `--out` folder, replaced only when the new dataset is complete.
 *
 * The new dataset is built in a sibling folder `.<name>.nusomi-new-XXXXXX` (same parent, so renames
 * are atomic), with its manifest written last. Then entries other commands keep there (`loaders/`,
 * hidden files such as `.git`) move into it, the old folder is renamed to `.<name>.nusomi-old-XXXXXX`,
 * the new one is renamed to `<name>`, and the old one is deleted. A run killed at any point leaves
 * the old dataset in place, or (between the two renames) both complete beside it; the next run
 * restores `<name>` from them and deletes the leftovers. The lock is the file `.<name>.nusomi-lock`
 * beside the folder, so it stays put while the folder is swapped.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, realpathSync, rmSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { mkdirs } from '../mkdirs.ts';
import path from 'node:path';
import { NusomiError, UsageError } from '../errors.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import { LocalSink } from '../sink/local.ts';
import { LOCK_NAME, cleanupOnInterrupt, lockFile } from '../sink/lock.ts';
import type { OutputLock } from '../sink/lock.ts';
import type { Sink } from '../sink/types.ts';
import type { Output } from './output.ts';

/** Temp files LocalSink writes beside a final name (`.<name>.tmp-<8 hex>`): never carried over. */
const SINK_TEMP = /^\..+\.tmp-[0-9a-f]{8}$/;

export interface Layout {
  /** Entries convert writes (replaced by each run). */
  owned: ReadonlySet<string>;
  /** Entries other commands write (carried into the new folder). */
  kept: ReadonlySet<string>;
}

export function preview(names: string[]): string {
  return names.slice(0, 3).join(', ') + (names.length > 3 ? `, ... (${names.length - 3} more)` : '');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class LocalOutputDir implements Output {
  readonly notes: string[] = [];
  private build: string | undefined;
  private unregisterBuild: (() => void) | undefined;
  private lock: OutputLock | undefined;
  /** Matches this output's build and moved-aside folders in the parent. */
  private readonly leftover: RegExp;

  private constructor(
    private readonly out: string,
    private readonly parent: string,
    private readonly name: string,
    private readonly layout: Layout,
  ) {
    this.leftover = new RegExp(`^\\.${escapeRegExp(name)}\\.nusomi-(new|old)-[A-Za-z0-9]{6}$`);
  }

  private get final(): string {
    return path.join(this.parent, this.name);
  }

  /** `out` as the user wrote it (messages), `dir` the local path. */
  static async open(out: string, dir: string, layout: Layout): Promise<LocalOutputDir> {
    let abs = path.resolve(dir);
    try {
      // A symlinked --out: the dataset is built beside and swapped into the folder it points to.
      if (lstatSync(abs, { throwIfNoEntry: false })?.isSymbolicLink()) abs = realpathSync(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new UsageError(`--out ${out} is a symbolic link to a folder that does not exist; create that folder or choose another --out`);
      throw new UsageError(`--out ${out}: cannot follow the path (${code ?? (err as Error).message})`);
    }
    const name = path.basename(abs);
    if (!name || name === '.' || name === '..')
      throw new UsageError(`--out ${out}: expected a folder to write the dataset into, not a file system root`);
    const parent = path.dirname(abs);
    // A failure names the folder it could not make (src/cli/system-errors.ts), exit 1.
    await mkdirs(parent);
    const output = new LocalOutputDir(out, parent, name, layout);
    output.lock = await lockFile(path.join(parent, `.${name}${LOCK_NAME}`), out);
    try {
      if (output.lock.tookOver) output.notes.push(output.lock.tookOver);
      await output.recover();
      await output.refuseForeign();
    } catch (err) {
      await output.release();
      throw err;
    }
    return output;
  }

  /** Restore `<name>` if a killed run left it renamed away, then delete that run's folders. */
  async recover(): Promise<void> {
    const mine = (await readdir(this.parent)).filter((e) => this.leftover.test(e)).sort();
    if (!mine.length) return;
    const at = (e: string) => path.join(this.parent, e);
    const news = mine.filter((e) => e.includes('.nusomi-new-'));
    const olds = mine.filter((e) => e.includes('.nusomi-old-'));
    if (!existsSync(this.final)) {
      // Killed between the two renames: both datasets are complete; the new one goes in.
      const complete = news.find((e) => existsSync(path.join(at(e), DATASET_MANIFEST_FILE)));
      const restore = complete ?? olds.find((e) => existsSync(path.join(at(e), DATASET_MANIFEST_FILE))) ?? olds[0];
      if (restore) {
        await rename(at(restore), this.final);
        mine.splice(mine.indexOf(restore), 1);
        this.notes.push(`${complete ? 'finished replacing' : 'restored'} ${this.out} from ${restore}, left by a killed run`);
      }
    } else {
      // Killed while moving kept entries into the new folder: move them back.
      for (const e of news) await this.moveKept(at(e), this.final);
    }
    for (const e of mine) await rm(at(e), { recursive: true, force: true });
    if (mine.length) this.notes.push(`removed what a killed run left beside ${this.out}: ${preview(mine)}`);
  }

  /** A folder with anything convert and the kept commands did not write is refused, never emptied. */
  private async refuseForeign(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(this.final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'ENOTDIR') throw new UsageError(`--out ${this.out} is a file; expected a folder to write the dataset into`);
      throw new UsageError(`--out ${this.out}: cannot read the folder (${code ?? (err as Error).message})`);
    }
    const foreign = entries.filter((e) => !this.layout.owned.has(e) && !this.layout.kept.has(e) && !e.startsWith('.'));
    if (foreign.length) {
      throw new UsageError(
        `--out ${this.out} holds files convert did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''}); choose a new or empty folder, or an earlier convert's output`,
      );
    }
  }

  async openSink(): Promise<Sink> {
    if (this.build) throw new Error('openSink called twice');
    try {
      // mkdir, not mkdtemp (which makes it 0700): the dataset folder gets the old one's mode, or the umask's.
      const build = path.join(this.parent, `.${this.name}.nusomi-new-${randomBytes(3).toString('hex')}`);
      await mkdir(build);
      const old = statSync(this.final, { throwIfNoEntry: false });
      if (old) await chmod(build, old.mode & 0o7777);
      this.build = build;
    } catch (err) {
      throw new NusomiError(`--out ${this.out}: cannot create a folder beside it in ${this.parent}: ${(err as Error).message}`, {}, 1);
    }
    const build = this.build;
    this.unregisterBuild = cleanupOnInterrupt(
      () => rm(build, { recursive: true, force: true }),
      () => rmSync(build, { recursive: true, force: true }),
    );
    return new LocalSink(build);
  }

  async adoptBuild(folder: string): Promise<Sink> {
    if (this.build) throw new Error('adoptBuild after openSink');
    // Renamed into this output's build name (same parent), so a killed finish is recovered like a convert's.
    const build = path.join(this.parent, `.${this.name}.nusomi-new-${randomBytes(3).toString('hex')}`);
    await rename(folder, build);
    const old = statSync(this.final, { throwIfNoEntry: false });
    if (old) await chmod(build, old.mode & 0o7777);
    this.build = build;
    return new LocalSink(build);
  }

  async finish(): Promise<void> {
    const build = this.build;
    if (!build) throw new Error('finish before openSink');
    await this.lock?.check();
    // From here the new dataset is complete: an interrupt must not delete it mid-swap.
    this.unregisterBuild?.();
    this.unregisterBuild = undefined;
    let old: string | undefined;
    if (existsSync(this.final)) {
      await this.moveKept(this.final, build);
      old = path.join(this.parent, `.${this.name}.nusomi-old-${randomBytes(3).toString('hex')}`);
      await rename(this.final, old);
    }
    await rename(build, this.final);
    this.build = undefined;
    if (old) await rm(old, { recursive: true, force: true });
  }

  /** Entries neither owned by convert nor temp files of a sink, from one folder into another. */
  private async moveKept(from: string, to: string): Promise<void> {
    const entries = await readdir(from).catch(() => [] as string[]);
    for (const e of entries) {
      if (this.layout.owned.has(e) || SINK_TEMP.test(e)) continue;
      if (existsSync(path.join(to, e))) continue;
      await rename(path.join(from, e), path.join(to, e));
    }
  }

  async abort(): Promise<void> {
    this.unregisterBuild?.();
    this.unregisterBuild = undefined;
    if (this.build) await rm(this.build, { recursive: true, force: true });
    this.build = undefined;
  }

  async release(): Promise<void> {
    await this.lock?.release().catch((err: unknown) => {
      this.notes.push(`could not remove the lock file (${(err as Error).message}); the next run takes it over`);
    });
  }
}
