import type { ChatStore } from '../chatlog/store.js';
import type { Config } from '../config.js';
import type { Db } from '../db/types.js';
import type { Storage } from '../storage/types.js';
import type { Reconciler } from '../sync/reconciler.js';
import type { Registrar } from '../sync/registrar.js';

/** What the routes work with: the core, already assembled. */
export interface AppContext {
  config: Config;
  db: Db;
  storage: Storage;
  registrar: Registrar;
  reconciler?: Reconciler;
  chat?: ChatStore;
}
