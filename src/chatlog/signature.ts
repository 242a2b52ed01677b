import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Checks the AWS Signature Version 4 of a request to the embedded chat log store, as DynamoDB
 * does: dynalite itself takes any signature. The AWS SDK signs every request with the secret
 * key; this recomputes the signature from the request as received (the headers the client says
 * it signed, and the body) and the one secret it accepts. The steps and names are those of
 * AWS's specification ("Create a signed AWS API request"). Only the `Authorization` header form
 * is accepted: the SDK uses nothing else for DynamoDB.
 */

export interface SignedRequest {
  method: string;
  /** Path and query, as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Why a request is refused, in DynamoDB's own terms (the SDK turns `type` into the error's name). */
export interface Refusal {
  type: 'MissingAuthenticationTokenException' | 'IncompleteSignatureException' | 'InvalidSignatureException' | 'UnrecognizedClientException';
  message: string;
}

/** DynamoDB refuses a request signed more than 15 minutes from its clock; so do we (a replay window). */
const maxSkewMs = 15 * 60_000;

export function checkSignature(request: SignedRequest, credentials: { accessKeyId: string; secretAccessKey: string }, now = Date.now()): Refusal | undefined {
  const authorization = request.headers.authorization;
  if (!authorization) return { type: 'MissingAuthenticationTokenException', message: 'Request is missing Authentication Token' };
  const parsed = /^AWS4-HMAC-SHA256 +Credential=([^, ]+), *SignedHeaders=([^, ]+), *Signature=([0-9a-f]{64})$/.exec(authorization.trim());
  if (!parsed)
    return {
      type: 'IncompleteSignatureException',
      message: 'the Authorization header must be AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...',
    };
  const [, credential = '', signedHeaderList = '', signature = ''] = parsed;

  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request')
    return { type: 'IncompleteSignatureException', message: 'Credential must be keyid/date/region/service/aws4_request' };
  const [accessKeyId, day = '', region = '', service = ''] = scope;
  if (accessKeyId !== credentials.accessKeyId)
    return { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };

  const amzDate = headerValue(request.headers, 'x-amz-date');
  const signedAt = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate ?? '');
  if (!amzDate || !signedAt) return { type: 'IncompleteSignatureException', message: 'X-Amz-Date must be in ISO-8601 basic format, e.g. 20240101T000000Z' };
  const [, year, month, date, hours, minutes, seconds] = signedAt.map(Number) as [number, number, number, number, number, number, number];
  if (Math.abs(now - Date.UTC(year, month - 1, date, hours, minutes, seconds)) > maxSkewMs) {
    return { type: 'InvalidSignatureException', message: `Signature expired: ${amzDate} is more than 15 minutes from now` };
  }
  if (day !== amzDate.slice(0, 8)) return { type: 'InvalidSignatureException', message: 'the date of the Credential scope does not match X-Amz-Date' };

  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return { type: 'InvalidSignatureException', message: "'Host' must be a 'SignedHeader' in the AWS Authorization." };
  const [path = '', query = ''] = splitOnce(request.url, '?');
  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(query),
    ...signedHeaders.map((name) => `${name}:${headerValue(request.headers, name) ?? ''}`),
    '',
    signedHeaderList,
    sha256Hex(request.body),
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, `${day}/${region}/${service}/aws4_request`, sha256Hex(canonicalRequest)].join('\n');
  const expected = hmac(signingKey(credentials.secretAccessKey, day, region, service), stringToSign).toString('hex');
  if (!crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return {
      type: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
  return undefined;
}

/**
 * The key for one day, region and service, derived from the secret in four HMACs: kept, since a
 * client signs with the same one all day (it is most of the cost of a check otherwise).
 */
const signingKeys = new Map<string, Buffer>();
function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const scope = `${secret}/${day}/${region}/${service}`;
  let key = signingKeys.get(scope);
  if (!key) {
    key = hmac(`AWS4${secret}`, day);
    for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
    // Only a handful of scopes are ever in use at once (today's, yesterday's at midnight).
    if (signingKeys.size >= 16) signingKeys.clear();
    signingKeys.set(scope, key);
  }
  return key;
}

/** A header as it was signed: trimmed, runs of spaces made one; repeated headers joined by commas. */
function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : value).trim().replace(/\s+/g, ' ');
}

/** The path, normalized, each segment URI-encoded (the SDK's signer encodes the path it sends once more). */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

/** Parameters sorted by name, then value, each decoded and encoded the AWS way. */
function canonicalQuery(query: string): string {
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => splitOnce(pair, '=').map((part) => uriEncode(safeDecode(part))) as [string, string])
    .sort(([aName, aValue], [bName, bValue]) => (aName < bName ? -1 : aName > bName ? 1 : aValue < bValue ? -1 : aValue > bValue ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** RFC 3986: encodeURIComponent, and also `!'()*`. */
const uriEncode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
}

const hmac = (key: string | Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();
const sha256Hex = (data: string | Buffer) => crypto.hash('sha256', data, 'hex');
