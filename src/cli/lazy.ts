/**
 * A command's action, loaded when the command runs: defining the commands (their options and
 * help) costs nothing, and each command loads only what it uses (`vecr --help` loads no database
 * driver, `vecr validate` no HTTP server).
 */
export function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => unknown>) {
  return async (...args: A) => {
    await (await load())(...args);
  };
}
