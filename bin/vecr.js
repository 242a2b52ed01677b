#!/usr/bin/env node
// Checked before anything is loaded: on an older Node.js the program would fail on the first
// feature it lacks, with a message that does not say why. (Plain syntax: it must parse there.)
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  process.stderr.write(`vecr needs Node.js 22 or newer (this is ${process.versions.node}); see README\n`);
  process.exitCode = 1;
} else {
  await import('../dist/src/cli/main.js');
}
