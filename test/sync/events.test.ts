import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionOf, compareSequencers, EventFormatError, parseNotification } from '../../src/sync/events.js';

const sample = (name: string) => JSON.parse(fs.readFileSync(new URL(`../fixtures/events/${name}.json`, import.meta.url), 'utf8'));

describe('parseNotification', () => {
  it('reads a MinIO put with a URL-encoded Japanese key', () => {
    expect(parseNotification(sample('minio-put-japanese-key'))).toEqual([
      {
        eventName: 's3:ObjectCreated:Put',
        bucket: 'vecr-garage-storage',
        key: 'virtual_members/華扇.yml',
        action: 'upsert',
        etag: '4c2a9e0f7d1b3a5c8e6f0a2b4c6d8e0f',
        sequencer: '187A1C2E5BA31C42',
      },
    ]);
  });

  it('reads an AWS copy: no s3: prefix, spaces as +', () => {
    expect(parseNotification(sample('aws-s3-copy'))).toMatchObject([
      { eventName: 'ObjectCreated:Copy', key: 'human_members/new hire 2026.yml', action: 'upsert', sequencer: '0065F2A7B1C3D4E5F6' },
    ]);
  });

  it('reads a MinIO delete, which has no ETag', () => {
    expect(parseNotification(sample('minio-delete'))).toMatchObject([{ key: 'human_members/rin.yml', action: 'remove', etag: null }]);
  });

  it('strips quotes from ETags', () => {
    const body = sample('minio-put-japanese-key');
    body.Records[0].s3.object.eTag = '"abc"';
    expect(parseNotification(body)[0]!.etag).toBe('abc');
  });

  it('refuses bodies that are not notifications, saying what is wrong', () => {
    for (const body of [null, {}, { Records: [] }, { Records: [{ eventName: 'x' }] }, 'text']) {
      expect(() => parseNotification(body)).toThrow(EventFormatError);
    }
    const bad = sample('minio-delete');
    bad.Records[0].s3.object.key = '%E8%8F';
    expect(() => parseNotification(bad)).toThrow(/not a valid URL-encoded key/);
  });
});

describe('actionOf', () => {
  it('accepts both spellings of every created and removed event', () => {
    for (const name of ['s3:ObjectCreated:Put', 'ObjectCreated:Post', 's3:ObjectCreated:Copy', 'ObjectCreated:CompleteMultipartUpload'])
      expect(actionOf(name)).toBe('upsert');
    for (const name of ['s3:ObjectRemoved:Delete', 'ObjectRemoved:DeleteMarkerCreated']) expect(actionOf(name)).toBe('remove');
    expect(actionOf('s3:ObjectAccessed:Get')).toBeUndefined();
  });
});

describe('compareSequencers', () => {
  it('orders hex sequencers of different lengths by left-padding the shorter', () => {
    expect(compareSequencers('0065F2A7B1C3D4E5F6', '65F2A7B1C3D4E5F6')).toBe(0);
    expect(compareSequencers('FF', '0100')).toBeLessThan(0);
    expect(compareSequencers('187A1C7F00F1D3E8', '187A1C2E5BA31C42')).toBeGreaterThan(0);
    expect(compareSequencers('abc', 'ABC')).toBe(0);
  });
});
