import type { Scope } from '../config.js';

/** Who a request comes from, as access.ts resolves it: an API token, a UI session or this machine. */
export interface Principal {
  /** The token's name (never the token): logged, and named in refusals. */
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}
