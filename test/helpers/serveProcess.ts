import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const vecrBin = fileURLToPath(new URL('../../bin/vecr.js', import.meta.url));

export interface ServeProcess {
  /** Where the HTTP API listens, from the banner. */
  readonly url: string;
  readonly child: ChildProcess;
  /** The exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Everything it wrote so far, standard output and error interleaved as they came. */
  output(): string;
  /** SIGKILL, if still running, and waits for the end. */
  kill(): Promise<void>;
}

/**
 * `vecr serve` as a process of its own (built `dist/`, as users run it), on free ports, on the
 * embedded database unless `env` names another: a process that dies is then something a test can
 * see, which an in-process service is not. Resolves once the banner is printed; rejects with its
 * output when it exits first.
 */
export async function spawnServe(env: NodeJS.ProcessEnv, cwd?: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, [vecrBin, 'serve'], {
    ...(cwd ? { cwd } : {}),
    env: { ...process.env, PORT: '0', VECR_PG_PORT: '0', DATABASE_URL: '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      // The banner is written whole, its last line naming the chat log store.
      if (match && /chat log: .*\n/.test(output)) resolve(match[1]!);
    };
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`vecr serve exited (${code}) before it listened:\n${output}`)));
  });
  return {
    url,
    child,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    output: () => output,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
