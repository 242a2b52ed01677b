import * as z from 'zod';
import { codePointOf, plainLineString, storableString } from '../storableText.js';
import type { MemberKind } from './kinds.js';

/**
 * The member file formats: one definition each, from which come validation (`safeParse`), the
 * TypeScript types (`z.infer`) and the JSON Schema for editors (`memberJsonSchema`).
 * Limits follow the columns of D2/D3 (VARCHAR(255)); PostgreSQL text cannot hold NUL.
 *
 * Each is built when first asked for (`schemaOf`), not when this module loads: building one
 * costs more than the file it validates, and `vecr validate` on human files needs no other.
 */

const text = storableString;
/** Names, roles, models and list items: one line each, as terminals, logs and headings show them. */
const shortText = () => plainLineString().max(255);
const textList = () => z.array(plainLineString());

/** Characters shown as nothing: a name with one looks the same as the name without it. */
const invisible = /[\u00AD\u061C\u180E\u200B\u200E\u200F\u2060-\u2064\uFEFF]/u;
/** Joiners belong between two characters (an emoji sequence, Persian or Indic script), never at an end. */
const joinerAtEnd = /^[\u200C\u200D]|[\u200C\u200D]$/u;

/**
 * Why a name would look the same as another name, if it would: names are unique as written,
 * character by character, so "Rin " and "Rin", or が written composed and decomposed, would be
 * two members that nobody can tell apart.
 */
export function lookAlikeProblem(name: string): string | undefined {
  const edge = /^\s|\s$/u.exec(name);
  if (edge) {
    const where = edge.index === 0 ? 'begins' : 'ends';
    return `${where} with a space (${codePointOf(edge[0])}): it would look the same as the name without it; remove it`;
  }
  const hidden = invisible.exec(name) ?? joinerAtEnd.exec(name);
  if (hidden) {
    return `contains the invisible character ${codePointOf(hidden[0])} (at character ${hidden.index + 1}): it would look the same as the name without it; remove it`;
  }
  if (name !== name.normalize('NFC')) {
    return 'is not in Unicode NFC form: a character is written as a base and a combining mark (as macOS writes file names), which looks the same as the one composed character; type the name again, or save the file as NFC';
  }
  return undefined;
}

/** A member's name: one plain line, not empty, that looks like no other name and that a URL can hold. */
const memberName = () =>
  shortText()
    .min(1)
    .superRefine((value, context) => {
      if (value === '.' || value === '..') {
        const message = `cannot be a name: "${value}" is a part of a path, and no URL can name a member so (/members/human/${value} is read as a folder)`;
        context.addIssue({ code: 'custom', message, params: { code: 'reserved_name' } });
        return;
      }
      const problem = lookAlikeProblem(value);
      if (problem) context.addIssue({ code: 'custom', message: problem, params: { code: 'look_alike' } });
    });

/** GitHub's rule for logins: letters, digits and single hyphens, not at either end, 1–39 long. */
export const githubLoginPattern = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
/** The string format of GitHub logins, as its issues name it (`issue.format`). */
export const githubLoginFormat = 'github_login';

const humanMemberSchema = () =>
  z
    .strictObject({
      name: memberName().describe('Display name; required and unique among humans.'),
      role: shortText().nullish().describe('Role in the team.'),
      skills: textList().nullish().describe('Skills, as a list of strings.'),
      bio: text().nullish().describe('Free text about the member.'),
      contact_email: z.email().max(255).nullish().describe('Contact e-mail address.'),
      github_username: z.stringFormat(githubLoginFormat, githubLoginPattern).nullish().describe('GitHub login.'),
    })
    .describe('A human member of VECR Garage: one file in human_members/.');

const virtualMemberSchema = () =>
  z
    .strictObject({
      name: memberName().describe('Display name; required and unique among AI members.'),
      role: shortText().nullish().describe('Role in the team.'),
      llm_model: shortText().min(1).describe('The model that speaks as this member, e.g. claude-sonnet-4-5.'),
      system_prompt: text().nullish().describe('The system prompt of the persona.'),
      custom_prompt: text().nullish().describe('Older name of system_prompt; use one of the two, not both.'),
      personality_traits: textList().nullish().describe('Personality traits, as a list of strings.'),
      expertise_areas: textList().nullish().describe('Areas of expertise, as a list of strings.'),
    })
    .refine((file) => file.system_prompt == null || file.custom_prompt == null, {
      message: 'has both system_prompt and custom_prompt; keep one (custom_prompt is the older name of system_prompt)',
      path: ['custom_prompt'],
      params: { code: 'both_prompts' },
    })
    .describe('An AI member (LLM persona) of VECR Garage: one file in virtual_members/.');

type HumanMemberSchema = ReturnType<typeof humanMemberSchema>;
type VirtualMemberSchema = ReturnType<typeof virtualMemberSchema>;
export type HumanMemberFile = z.infer<HumanMemberSchema>;
export type VirtualMemberFile = z.infer<VirtualMemberSchema>;

export { type MemberKind, memberKinds, tableOf } from './kinds.js';

/** A member as stored: every column of its table but the bookkeeping ones, absent values as null. */
export type HumanMember = { [K in keyof HumanMemberFile]-?: Exclude<HumanMemberFile[K], undefined> };
export type VirtualMember = {
  [K in Exclude<keyof VirtualMemberFile, 'custom_prompt'>]-?: Exclude<VirtualMemberFile[K], undefined>;
};

export type Member = { kind: 'human'; member: HumanMember } | { kind: 'virtual'; member: VirtualMember };

const built: { human?: HumanMemberSchema; virtual?: VirtualMemberSchema } = {};

/** The schema of each kind of member file, built once, when first asked for. */
export const schemaOf = {
  get human(): HumanMemberSchema {
    built.human ??= humanMemberSchema();
    return built.human;
  },
  get virtual(): VirtualMemberSchema {
    built.virtual ??= virtualMemberSchema();
    return built.virtual;
  },
};

export function toHumanMember(file: HumanMemberFile): HumanMember {
  return {
    name: file.name,
    role: file.role ?? null,
    skills: file.skills ?? null,
    bio: file.bio ?? null,
    contact_email: file.contact_email ?? null,
    github_username: file.github_username ?? null,
  };
}

export function toVirtualMember(file: VirtualMemberFile): VirtualMember {
  return {
    name: file.name,
    role: file.role ?? null,
    llm_model: file.llm_model,
    system_prompt: file.system_prompt ?? file.custom_prompt ?? null,
    personality_traits: file.personality_traits ?? null,
    expertise_areas: file.expertise_areas ?? null,
  };
}

/** The JSON Schema of a member file, for editors (yaml-language-server) and other tools. */
export function memberJsonSchema(kind: MemberKind): Record<string, unknown> {
  const schema = z.toJSONSchema(schemaOf[kind], {
    io: 'input',
    target: 'draft-2020-12',
    // Formats of our own are unknown to other tools (a strict validator refuses the schema): their pattern says it all.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === githubLoginFormat) delete jsonSchema.format;
    },
  }) as Record<string, unknown>;
  const extra = kind === 'virtual' ? { not: { required: ['system_prompt', 'custom_prompt'] } } : {};
  return { title: kind === 'human' ? 'VECR Garage human member' : 'VECR Garage AI member', ...schema, ...extra };
}
