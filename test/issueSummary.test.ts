import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { summarizeIssues } from '../src/issueSummary.js';

const message = z.strictObject({ speaker: z.string(), role: z.enum(['user', 'assistant']), content: z.string().min(1) });
const body = z.union([message, z.strictObject({ messages: z.array(message) })]);
const summary = (schema: z.ZodType, input: unknown, within: PropertyKey[] = []) => summarizeIssues(schema.safeParse(input).error!.issues, input, within);

describe('summarizeIssues', () => {
  it('names missing fields together, whatever zod calls them (a wrong type, not one of the options)', () => {
    expect(summary(message, { content: 'hi' })).toEqual({
      message: 'missing fields: speaker, role',
      details: [
        { path: 'speaker', message: 'is missing' },
        { path: 'role', message: 'is missing' },
      ],
    });
    expect(summary(message, { speaker: 'A', content: 'hi' }).message).toBe('missing field: role');
  });

  it('tells a field given as null or of the wrong type from a missing one', () => {
    expect(summary(message, { speaker: null, role: 'user', content: 'hi' }).message).toBe('speaker: Invalid input: expected string, received null');
  });

  it('names unknown fields, then every other problem with its field', () => {
    expect(summary(message, { speaker: 'A', role: 'bot', content: '', colour: 'red' }).message).toBe(
      'unknown field: colour; role: Invalid option: expected one of "user"|"assistant"; content: Too small: expected string to have >=1 characters',
    );
  });

  it('reports, of a union of shapes, the shape whose keys the input has', () => {
    expect(summary(body, { speaker: 'A' }).message).toBe('missing fields: role, content');
    expect(summary(body, {}).message).toBe('missing fields: speaker, role, content');
    expect(summary(body, { messages: [{ speaker: 'A', role: 'user', content: 'x' }, { speaker: 'B' }] }).message).toBe(
      'missing fields: messages[1].role, messages[1].content',
    );
  });

  it('names fields from where the input sits', () => {
    expect(summary(message, { speaker: 'A', role: 'user' }, ['messages', 3]).message).toBe('missing field: messages[3].content');
  });
});
