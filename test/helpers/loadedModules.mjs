// Preloaded with `node --import` into a process under test: writes the URL of every module it
// loads (ES modules and CommonJS alike) to the file LOADED_MODULES_FILE names, when it exits.
import fs from 'node:fs';
import { registerHooks } from 'node:module';

const loaded = [];
registerHooks({
  load(url, context, nextLoad) {
    loaded.push(url);
    return nextLoad(url, context);
  },
});
process.on('exit', () => fs.writeFileSync(process.env.LOADED_MODULES_FILE, `${loaded.join('\n')}\n`));
