import type { Command } from 'commander';
import { lazy } from '../lazy.js';

const actions = () => import('../actions/members.js');

export function registerMembers(program: Command) {
  const members = program.command('members').description('look at the registered members');

  members
    .command('list')
    .argument('[kind]', 'human or virtual (default: both)')
    .description('list members, by name (times in the local time zone)')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).listMembersCommand));

  members
    .command('show')
    .argument('<name>', 'the member name')
    .option('--kind <kind>', 'human or virtual (default: look in both)')
    .option('--json', 'print JSON')
    .description('show one member with every column; for a name only an invalid file claims, that file and its errors')
    .action(lazy(async () => (await actions()).showMember));

  members
    .command('count')
    .description('count the members of each table')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).countMembersCommand));
}
