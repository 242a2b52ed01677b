/**
 * A moment as people are shown it, by the CLI and the web UI: in the local time zone of the
 * process (TZ), with its offset, so that `2026-12-07 09:00:00 +09:00` is read right wherever it is
 * pasted. JSON output keeps what the data holds (epoch milliseconds, ISO 8601 in UTC).
 */
export function localTime(moment: number | string | null | undefined, { seconds = true } = {}): string {
  if (moment === null || moment === undefined || moment === '') return '';
  const date = new Date(moment);
  if (Number.isNaN(date.getTime())) return String(moment);
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
  const time = `${two(date.getHours())}:${two(date.getMinutes())}${seconds ? `:${two(date.getSeconds())}` : ''}`;
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${time} ${zone}`;
}
