/**
 * A one-line progress bar on stderr, drawn only on a terminal and only for long work; scripts
 * and pipes see nothing of it.
 */
export function progressBar(label: string, options: { enabled: boolean; minTotal?: number }) {
  const stream = process.stderr;
  const active = options.enabled && stream.isTTY === true;
  let lastDraw = 0;
  let drawn = false;
  const started = Date.now();
  return {
    update(done: number, total: number) {
      if (!active || total < (options.minTotal ?? 200)) return;
      const now = Date.now();
      if (done < total && now - lastDraw < 100) return;
      lastDraw = now;
      const columns = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 40));
      const filled = Math.round((done / total) * columns);
      const rate = done / Math.max(0.001, (now - started) / 1000);
      stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(columns - filled)}] ${done}/${total} ${Math.round(rate)}/s`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
