import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/minio-setup.sh', import.meta.url));

/** Runs the script (printing only), with `env` over an environment free of its variables. */
function setup(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(MINIO_|WEBHOOK_|MC_ALIAS$|VECR_API_TOKENS$)/.test(name)));
  return new Promise((resolve) =>
    execFile('bash', [script], { env: { ...base, ...env } }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr })),
  );
}

describe('scripts/minio-setup.sh', () => {
  it('refuses to set MinIO up without WEBHOOK_AUTH_TOKEN, which the service it points at (HOST=0.0.0.0) requires', async () => {
    const result = await setup({});
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('WEBHOOK_AUTH_TOKEN is not set');
    expect(result.stderr).toContain('export WEBHOOK_AUTH_TOKEN=');
  });

  it('prints a service command that starts: both tokens off loopback, the secrets masked', async () => {
    const result = await setup({ WEBHOOK_AUTH_TOKEN: 'tok3n', MINIO_ROOT_PASSWORD: 'pa55' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("'auth_token=Bearer ****'");
    expect(result.stdout).toMatch(/WEBHOOK_AUTH_TOKEN=\*\*\*\* VECR_API_TOKENS='<entries from npx vecr token>' HOST=0\.0\.0\.0 npx vecr serve/);
    expect(result.stdout).not.toMatch(/tok3n|pa55/);
  });

  it('--help prints its comment, and none of its code', async () => {
    const help = await new Promise<string>((resolve, reject) =>
      execFile('bash', [script, '--help'], (error, stdout) => (error ? reject(error) : resolve(stdout))),
    );
    expect(help).toMatch(/^Points a MinIO at `vecr serve`/);
    expect(help.trimEnd().split('\n').at(-1)).toMatch(/^ {2}MC_ALIAS/);
  });
});
