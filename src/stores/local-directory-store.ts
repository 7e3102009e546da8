/**
 * The local archive directory as an {@link ArchiveStore}: archives are files `<dir>/<name>`, the manifest is
 * `<dir>/manifest.json`. Besides the asynchronous contract it offers the same operations synchronously, for the
 * manager's synchronous dehydrate (an exit handler cannot wait for a promise).
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HydrationError } from '../errors.js';
import { isArchiveFileName, MANIFEST_FILE } from '../archive/naming.js';
import { copyArchiveFile, hashArchiveFile } from '../archive/archive-file.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import { readManifest, writeManifest, type Manifest } from '../manifest/manifest.js';
import { compareNames } from '../sqlite/names.js';
import type { ArchiveStore } from './archive-store.js';

export class LocalDirectoryStore implements ArchiveStore {
  readonly location: string;

  constructor(readonly dir: string) {
    this.location = dir;
  }

  /** The path of an archive file in this directory. */
  pathOf(name: string): string {
    return join(this.dir, name);
  }

  /** The manifest's path. */
  get manifestPath(): string {
    return join(this.dir, MANIFEST_FILE);
  }

  /** {@link list}, synchronously. A missing directory holds no archives. */
  listSync(): string[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.filter(isArchiveFileName).sort(compareNames);
  }

  list(): Promise<string[]> {
    return Promise.resolve().then(() => this.listSync());
  }

  /** {@link fetch}, synchronously. */
  fetchSync(name: string, localPath: string): void {
    try {
      copyArchiveFile(this.pathOf(name), localPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      throw new HydrationError('IO', `${this.pathOf(name)}: no such archive`, {
        file: this.pathOf(name),
        cause: error,
        hint: 'run `db-hydration stats` to list the archives there are',
      });
    }
  }

  fetch(name: string, localPath: string): Promise<void> {
    return Promise.resolve().then(() => {
      this.fetchSync(name, localPath);
    });
  }

  /** {@link putIfChanged}, synchronously. */
  putIfChangedSync(name: string, localPath: string): boolean {
    const target = this.pathOf(name);
    const incoming = hashArchiveFile(localPath);
    try {
      const existing = hashArchiveFile(target);
      if (existing.sha256 === incoming.sha256 && existing.bytes === incoming.bytes) return false;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    mkdirSync(this.dir, { recursive: true });
    const temp = tempPathFor(target);
    copyArchiveFile(localPath, temp);
    commitTempFile(temp, target);
    return true;
  }

  putIfChanged(name: string, localPath: string): Promise<boolean> {
    return Promise.resolve().then(() => this.putIfChangedSync(name, localPath));
  }

  /** {@link readManifest}, synchronously. */
  readManifestSync(): Manifest | undefined {
    return readManifest(this.manifestPath);
  }

  readManifest(): Promise<Manifest | undefined> {
    return Promise.resolve().then(() => this.readManifestSync());
  }

  /** {@link writeManifest}, synchronously. */
  writeManifestSync(manifest: Manifest): boolean {
    mkdirSync(this.dir, { recursive: true });
    return writeManifest(this.manifestPath, manifest);
  }

  writeManifest(manifest: Manifest): Promise<boolean> {
    return Promise.resolve().then(() => this.writeManifestSync(manifest));
  }
}
