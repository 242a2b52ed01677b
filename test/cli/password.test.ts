import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseUiUsers } from '../../src/config.js';
import { vecrBin } from '../helpers/serveProcess.js';

/**
 * `vecr password` on a terminal: util-linux `script` gives it a pseudo-terminal; each answer is
 * typed once its prompt is shown. Answers everything the terminal showed, and the exit code.
 */
function onTerminal(args: string[], answers: Array<[prompt: string, typed: string]>): Promise<{ code: number | null; shown: string }> {
  const command = [process.execPath, vecrBin, ...args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let shown = '';
  const pending = [...answers];
  child.stdout.on('data', (chunk: Buffer) => {
    shown += chunk.toString();
    while (pending.length > 0 && shown.includes(pending[0]![0])) {
      const [prompt, typed] = pending.shift()!;
      shown = shown.replace(prompt, `${prompt}<answered>`);
      child.stdin.write(`${typed}\r`);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, shown })));
}

describe('vecr password on a terminal', () => {
  it('asks twice without echo and prints the entry', async () => {
    const password = 'typed-on-a-terminal-9';
    const { code, shown } = await onTerminal(
      ['password', 'tina', '--role', 'viewer'],
      [
        ['Password for tina: ', password],
        ['Again: ', password],
      ],
    );
    expect(code, shown).toBe(0);
    expect(shown).not.toContain(password);
    const entry = /tina:viewer:\S+/.exec(shown)![0];
    expect(parseUiUsers(entry)[0]).toMatchObject({ name: 'tina', role: 'viewer' });
  });

  it('makes nothing when the two differ', async () => {
    const { code, shown } = await onTerminal(
      ['password', 'tina'],
      [
        ['Password for tina: ', 'first-password-1'],
        ['Again: ', 'second-password-2'],
      ],
    );
    expect(code).toBe(1);
    expect(shown).toContain('the two passwords differ: nothing was made');
    expect(shown).not.toContain('scrypt$');
  });

  it('stops on Ctrl-C', async () => {
    const { code, shown } = await onTerminal(['password', 'tina'], [['Password for tina: ', 'half\u0003']]);
    expect(code, shown).toBe(130);
    expect(shown).not.toContain('scrypt$');
  });
});
