/**
 * A moment as the CLI shows it to people: in the local time zone (TZ), with its offset, so that
 * `2026-12-07 09:00:00 +09:00` is read right wherever it is pasted. JSON output keeps what the
 * data holds (epoch milliseconds, ISO 8601 in UTC).
 */
export function localTime(moment: number | string | null | undefined): string {
  if (moment === null || moment === undefined || moment === '') return '';
  const date = new Date(moment);
  if (Number.isNaN(date.getTime())) return String(moment);
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const zone = `${sign}${two(Math.floor(Math.abs(offset) / 60))}:${two(Math.abs(offset) % 60)}`;
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${zone}`;
}
