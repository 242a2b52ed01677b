import type { Command } from 'commander';
import { lazy } from '../lazy.js';

const actions = () => import('../actions/chatlog.js');

export function registerChatlog(program: Command) {
  const chatlog = program.command('chatlog').description('the chat logs of the Discord bots (DynamoDB table ChatLogs)');

  chatlog
    .command('init')
    .description('create the table and its indexes when missing, and turn TTL on when CHATLOG_TTL_DAYS is set')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).initChatlog));

  chatlog
    .command('sessions')
    .description('sessions, the most recent activity first (times in the local time zone)')
    .option('--channel <id>', 'sessions of a Discord channel')
    .option('--member <name>', 'sessions a member spoke in (not with --channel)')
    .option('--limit <n>', 'how many', '50')
    .option('--cursor <cursor>', 'the next page: the cursor the previous page ended with')
    .option('--json', 'print JSON (times in epoch milliseconds)')
    .action(lazy(async () => (await actions()).listSessions));

  chatlog
    .command('tail')
    .argument('<session>', 'session id')
    .description('the latest messages of a session, oldest first (times in the local time zone)')
    .option('-n, --lines <n>', 'how many', '20')
    .option('--json', 'print JSON (times in epoch milliseconds)')
    .action(lazy(async () => (await actions()).tailSession));

  chatlog
    .command('export')
    .argument('<session>', 'session id')
    .description('a whole session as JSON Lines or Markdown')
    .option('--format <format>', 'jsonl or md', 'jsonl')
    .option('--out <file>', 'write to this file instead of standard output')
    .action(lazy(async () => (await actions()).exportChatSession));

  chatlog
    .command('delete')
    .argument('<session>', 'session id')
    .description('delete a session with all its messages')
    .option('--json', 'print JSON')
    .action(lazy(async () => (await actions()).deleteChatSession));
}
