import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseMemberFile } from '../../src/members/parse.js';
import { memberKindOf } from '../../src/members/paths.js';
import type { ReadFile } from '../../src/registry/apply.js';

/** A temporary folder, removed by the returned function. */
export async function tempDir(prefix = 'vecr-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

export async function writeFiles(root: string, files: Record<string, string>) {
  for (const [key, content] of Object.entries(files)) {
    const file = path.join(root, key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, content);
  }
}

/**
 * The sample member files the repository ships in `storage/`, and no other: a reader following
 * the README's quick start adds files there, which tests of the samples must not see.
 */
export const shippedSamples = ['human_members/rin.yml', 'human_members/syota.yml', 'virtual_members/darcy.yml', 'virtual_members/kasen.yml'];

/** Copies the shipped samples into the folder `to`, which becomes a storage folder of the four. */
export async function copySamples(to: string): Promise<string> {
  for (const key of shippedSamples) {
    await fs.mkdir(path.join(to, path.dirname(key)), { recursive: true });
    await fs.copyFile(new URL(`../../storage/${key}`, import.meta.url), path.join(to, key));
  }
  return to;
}

/** A member file as the registry receives it, parsed from YAML text. */
export function readFile(fileUri: string, yaml: string): ReadFile {
  const kind = memberKindOf(fileUri);
  if (!kind) throw new Error(`not a member path: ${fileUri}`);
  return { file_uri: fileUri, kind, version: 'v1', content_hash: yaml.length.toString(), ...parseMemberFile(fileUri, kind, Buffer.from(yaml)) } as ReadFile;
}

export const human = (name: string, extra = '') => `name: ${name}\nrole: Engineer\nskills: [TypeScript]\n${extra}`;
export const virtual = (name: string, extra = '') => `name: ${name}\nllm_model: claude-sonnet-4-5\n${extra}`;
