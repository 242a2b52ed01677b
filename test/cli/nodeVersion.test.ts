import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

function run(node: string, args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(node, args, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
}

/** This Node.js, told to call itself an older one before anything else runs. */
const posingAs = (version: string) => ['--import', `data:text/javascript,Object.defineProperty(process.versions, 'node', { value: '${version}' })`, bin];

/** The machine's own Node.js, when it is one older than vecr supports (Debian's 20, say). */
const machineNode = '/usr/bin/node';
const machineMajor = (() => {
  try {
    return Number(execFileSync(machineNode, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }));
  } catch {
    return undefined;
  }
})();

describe('vecr on an older Node.js', () => {
  it('says which Node.js it needs, and loads nothing', async () => {
    const result = await run(process.execPath, [...posingAs('20.19.1'), '--version']);
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'vecr needs Node.js 22 or newer (this is 20.19.1); see README\n' });
  });

  it('runs on the lowest supported line', async () => {
    const result = await run(process.execPath, [...posingAs('22.0.0'), '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: vecr');
  });

  it.skipIf(machineMajor === undefined || machineMajor >= 22)('says so on the machine’s own older Node.js too', async () => {
    const result = await run(machineNode, [bin, '--help']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `vecr needs Node.js 22 or newer (this is ${execFileSync(machineNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()}); see README\n`,
    );
  });
});
