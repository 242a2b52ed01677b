import { parentPort, workerData } from 'node:worker_threads';
import dynalite from 'dynalite';

/**
 * The embedded DynamoDB-compatible server (dynalite on LevelDB), on a thread of its own: the
 * service's thread answers HTTP while this one stores, as a real DynamoDB would elsewhere.
 */
const server = dynalite({ path: (workerData as { path: string }).path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.once('error', (error) => parentPort!.postMessage({ error: (error as Error).message }));
server.listen(0, '127.0.0.1', () => parentPort!.postMessage({ port: (server.address() as { port: number }).port }));
parentPort!.on('message', (message) => {
  if (message === 'stop') server.close(() => process.exit(0));
});
