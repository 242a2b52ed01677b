import type { Command } from 'commander';
import { lazy } from '../lazy.js';

const actions = () => import('../actions/files.js');

export function registerFiles(program: Command) {
  program
    .command('validate')
    .argument('<files...>', 'member files; the parent folder (human_members/, virtual_members/) gives the kind')
    .option('--kind <kind>', 'human or virtual, for files outside those folders')
    .option('--json', 'print JSON')
    .description('check member files offline (no database); exit 1 on any error — usable as a pre-commit hook')
    .action(lazy(async () => (await actions()).validateFiles));

  program
    .command('schema')
    .argument('<kind>', 'human or virtual')
    .description('print the JSON Schema of a member file, for editors (yaml-language-server) and tools')
    .option('--json', 'print JSON (the schema is JSON: accepted for scripts that pass it to every command)')
    .action(lazy(async () => (await actions()).printSchema));
}
